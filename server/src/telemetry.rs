//! Logging: compact lines for a terminal, JSON for a cluster; filter from `DOSSIER_LOG`.
//! Traces: optional OTLP/HTTP export of the same spans (`DOSSIER_OTLP_ENDPOINT`), with the
//! W3C `traceparent` of a request continued rather than started anew.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TraceExport};

/// How long the exporter may take to send one batch of spans.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// What `init` installed; `shutdown` sends the spans still buffered.
#[must_use = "dropping it without shutdown loses the last spans"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(e) = provider.shutdown()
        {
            tracing::warn!(error = %e, "could not send the last spans");
        }
    }
}

/// Installs the global subscriber, writing to stdout, and the trace exporter if one is set.
pub fn init(filter: &str, format: LogFormat, traces: Option<&TraceExport>) -> anyhow::Result<Telemetry> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let provider = traces.map(tracer_provider).transpose()?;
    install(filter, format, ansi, std::io::stdout, provider.as_ref());
    if let (Some(export), Some(_)) = (traces, &provider) {
        tracing::info!(endpoint = %export.endpoint, sample_ratio = export.sample_ratio, "exporting traces over OTLP/HTTP");
    }
    Ok(Telemetry { traces: provider })
}

/// Installs the global subscriber writing to `writer` (tests capture the log this way).
pub fn init_with_writer<W>(filter: &str, format: LogFormat, ansi: bool, writer: W)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    install(filter, format, ansi, writer, None);
}

/// Database drivers stay at WARN unless the filter names them, since they would otherwise
/// log every statement.
fn install<W>(filter: &str, format: LogFormat, ansi: bool, writer: W, traces: Option<&SdkTracerProvider>)
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
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(writer);
    let lines = match format {
        LogFormat::Json => lines.json().flatten_event(true).with_current_span(true).boxed(),
        LogFormat::Compact => lines.compact().boxed(),
    };
    let spans = traces.map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("dossier")));
    let _ = tracing_subscriber::registry()
        .with(env_filter)
        .with(lines)
        .with(spans)
        .try_init();
}

fn tracer_provider(export: &TraceExport) -> anyhow::Result<SdkTracerProvider> {
    let base = export.endpoint.trim_end_matches('/');
    let endpoint = if base.ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(endpoint)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .context("Failed to set up the OTLP trace exporter")?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(export.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        // A caller's sampling decision is kept; a new trace is sampled at the configured ratio.
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            export.sample_ratio,
        ))))
        .build())
}

/// Makes `span` continue the caller's trace when the request carries a valid `traceparent`
/// (without a trace exporter this does nothing).
pub fn continue_trace(span: &tracing::Span, headers: &poem::http::HeaderMap) {
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let _ = span.set_parent(parent);
}

/// The W3C trace context of `span` (`00-<trace>-<span>-<flags>`), to hand back to the caller
/// as `traceresponse`, when it is being traced.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    let mut carrier = TraceParent(None);
    TraceContextPropagator::new().inject_context(&span.context(), &mut carrier);
    carrier.0
}

struct HeaderExtractor<'a>(&'a poem::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct TraceParent(Option<String>);

impl Injector for TraceParent {
    fn set(&mut self, key: &str, value: String) {
        if key == "traceparent" {
            self.0 = Some(value);
        }
    }
}
