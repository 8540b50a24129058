//! Logging: compact lines for a terminal, JSON for a cluster; filter from `DOSSIER_LOG`.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber, writing to stdout.
pub fn init(filter: &str, format: LogFormat) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    init_with_writer(filter, format, ansi, std::io::stdout);
}

/// Installs the global subscriber writing to `writer` (tests capture the log this way).
/// Database drivers stay at WARN unless the filter names them, since they would otherwise
/// log every statement.
pub fn init_with_writer<W>(filter: &str, format: LogFormat, ansi: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut directives = filter.to_owned();
    for quiet in ["sqlx=warn", "sea_orm=warn", "sea_orm_migration=warn", "hyper=warn"] {
        let target = quiet.split('=').next().unwrap_or_default();
        if !filter.contains(target) {
            directives.push(',');
            directives.push_str(quiet);
        }
    }
    let env_filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
        LogFormat::Compact => builder.compact().try_init(),
    };
}
