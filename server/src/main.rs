//! The `dossier` command: a thin shell over the library.

use anyhow::Context;
use clap::{Parser, Subcommand};
use dossier::{Application, Config, domain::Store, seed, telemetry};

// The server allocates and frees many small buffers per request (rows, JSON, futures); an
// allocator made for that beats the system one by a sixth on a page of customers (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "dossier",
    version,
    about = "Dossier: a multi-tenant customer-records backend with a GraphQL API."
)]
#[command(
    long_about = "Dossier: a multi-tenant customer-records backend with a GraphQL API.\n\n\
    Configuration comes from DOSSIER_* environment variables (see the README). With none set, \
    Dossier runs embedded: a SQLite database ./dossier.db, created and migrated on start."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve the API (the default). Prints the GraphiQL URL.
    Serve,
    /// Run the background jobs without the API: plan and send reminder e-mails, re-encrypt
    /// under new keys. Run any number of these beside API servers whose job intervals are 0
    /// (on PostgreSQL: a SQLite database admits one Dossier process at a time).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate {
        /// Apply nothing: list the pending migrations and exit non-zero if there are any.
        #[arg(long)]
        check: bool,
    },
    /// Print the GraphQL schema (SDL) to stdout.
    ExportSchema,
    /// Create a demo tenant with users, tags and customers; print its admin login and an API key.
    SeedDemo,
    /// Seed an empty database with a benchmark tenant of `customers` customers (each with two
    /// contacts, a contract, five sales and two interactions); print its id and two API keys.
    SeedBench {
        #[arg(long, default_value = "bench")]
        slug: String,
        #[arg(long, default_value_t = 10_000)]
        customers: usize,
    },
    /// Key management.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Tenant administration for the operator.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
}

#[derive(Subcommand)]
enum TenantsCommand {
    /// Give a tenant its own rate limit (a plan); without values, back to the server default.
    SetLimits {
        #[arg(long)]
        slug: String,
        /// Requests per second on average.
        #[arg(long)]
        per_second: Option<u32>,
        /// Requests at once (default: twice the rate).
        #[arg(long)]
        burst: Option<u32>,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-wrap every tenant's keys with the newest key in DOSSIER_MASTER_KEYS; afterwards the
    /// older master keys can be removed from the configuration.
    RotateMaster,
    /// Re-encrypt, now, all contact data still under an older tenant data key.
    Reencrypt,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(Command::ExportSchema) = cli.command {
        print!("{}", dossier::graphql::sdl());
        return Ok(());
    }
    let config = Config::from_env().context("Invalid configuration")?;
    let telemetry = telemetry::init(&config.log_filter, config.log_format, config.traces.as_ref())?;
    for name in &config.unknown_variables {
        tracing::warn!(variable = %name, "ignoring an unknown DOSSIER_ variable (a typo?)");
    }
    let outcome = run(cli.command.unwrap_or(Command::Serve), config).await;
    telemetry.shutdown();
    outcome
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = Application::build(config).await?;
            let addr = app.local_addr();
            tracing::info!(%addr, "Dossier is listening; GraphiQL at http://{addr}/graphql");
            app.run_until_stopped().await.context("Server failed")?;
        }
        Command::Worker => {
            let store = Store::connect(&config).await?;
            if config.migrate_on_start {
                store.migrate().await?;
            }
            let delivery = dossier::jobs::reminder_delivery::Delivery::from_config(store.clone(), &config)?;
            let metrics = dossier::monitoring::MetricsListener::from_config(&config).await?;
            let background = dossier::jobs::Background::start(&store, &config, delivery);
            let metrics = metrics.map(|listener| listener.spawn(store.clone()));
            tracing::info!("worker started: planning and sending reminders");
            dossier::app::shutdown_signal("worker stopping: finishing the e-mail in hand").await;
            background.stop(config.shutdown_timeout).await;
            if let Some(metrics) = metrics {
                metrics.stop().await;
            }
        }
        Command::Migrate { check: false } => {
            Store::connect(&config).await?.migrate().await?;
            tracing::info!("migrations applied");
        }
        Command::Migrate { check: true } => {
            let pending = Store::connect(&config).await?.pending_migrations().await?;
            if !pending.is_empty() {
                anyhow::bail!("{} migrations pending: {}", pending.len(), pending.join(", "));
            }
            println!("no migrations pending");
        }
        Command::SeedDemo => {
            let store = Store::connect(&config).await?;
            store.migrate().await?;
            let outcome = seed::seed_demo(&store)
                .await
                .map_err(|e| anyhow::anyhow!("Failed to seed demo data: {e:?}"))?;
            if outcome.created {
                println!("Created the demo tenant (slug: {}).", seed::DEMO_SLUG);
            } else {
                println!(
                    "The demo tenant (slug: {}) already exists; issued a new API key.",
                    seed::DEMO_SLUG
                );
            }
            if let Some(password) = outcome.admin_password {
                println!("Admin login: {} / {}", seed::DEMO_ADMIN, password.expose());
            }
            println!(
                "Bearer token (admin API key, shown once):\n{}",
                outcome.api_key.expose()
            );
        }
        Command::SeedBench { slug, customers } => {
            let store = Store::connect(&config).await?;
            store.migrate().await?;
            let started = std::time::Instant::now();
            let seeded = seed::seed_bench(&store, &slug, customers)
                .await
                .map_err(|e| anyhow::anyhow!("Failed to seed the benchmark tenant: {e:?}"))?;
            eprintln!(
                "Seeded {customers} customers in {:.1} s.",
                started.elapsed().as_secs_f64()
            );
            println!("tenant_id={}", seeded.tenant_id);
            println!("admin_key={}", seeded.admin_key.expose());
            println!("viewer_key={}", seeded.viewer_key.expose());
        }
        Command::Keys { command } => {
            let store = Store::connect(&config).await?;
            store.migrate().await?;
            match command {
                KeysCommand::RotateMaster => {
                    let n = dossier::domain::tenants::rewrap_all_keys(&store)
                        .await
                        .map_err(|e| anyhow::anyhow!("Failed to re-wrap tenant keys: {e:?}"))?;
                    println!("Re-wrapped {n} tenant keys with the newest master key.");
                }
                KeysCommand::Reencrypt => {
                    let n = dossier::jobs::reencrypt::run_once(&store).await?;
                    println!("Re-encrypted {n} contacts under their tenant's newest data key.");
                }
            }
        }
        Command::Tenants {
            command:
                TenantsCommand::SetLimits {
                    slug,
                    per_second,
                    burst,
                },
        } => {
            let store = Store::connect(&config).await?;
            store.migrate().await?;
            let told = dossier::domain::tenants::set_limits(&store, &slug, per_second, burst)
                .await
                .map_err(|e| anyhow::anyhow!("Failed to set the tenant's limits: {e:?}"))?;
            if !told {
                println!("Redis did not answer: running servers apply the change within 30 s.");
            }
            match per_second {
                Some(rate) => println!(
                    "Tenant {slug}: {rate} requests per second, burst {}.",
                    burst.unwrap_or(rate * 2)
                ),
                None => println!("Tenant {slug}: back to the server's default limits."),
            }
        }
        Command::ExportSchema => unreachable!("handled before configuration is read"),
    }
    Ok(())
}
