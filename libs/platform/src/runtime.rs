//! The start-up sequence every service binary shares: load config (exit 2
//! with the problems on failure), init telemetry, bind, run until SIGINT or
//! SIGTERM (serving `/metrics` beside the service when configured), and map
//! the outcome to an exit code.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{TelemetryConfig, Validate};

/// Loads `service`'s config or prints why it cannot and returns exit code 2.
pub fn load_config<C>(service: &str, file: Option<&Path>) -> Result<C, ExitCode>
where
    C: Default + Serialize + DeserializeOwned + Validate,
{
    crate::config::load(service, file).map_err(|err| {
        eprintln!("loop-{service}: {err}");
        ExitCode::from(2)
    })
}

/// Initialises telemetry, binds `listen`, and runs `run` until a shutdown signal.
pub async fn serve_main<F, Fut>(
    service: &str,
    telemetry: &TelemetryConfig,
    listen: SocketAddr,
    run: F,
) -> ExitCode
where
    F: FnOnce(TcpListener, CancellationToken) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let _telemetry = match crate::telemetry::init(service, telemetry) {
        Ok(guard) => guard,
        Err(err) => {
            eprintln!("loop-{service}: telemetry: {err:#}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(addr = %listen, error = %err, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = crate::shutdown::on_signal();
    let metrics = match telemetry.metrics_listen_addr {
        Some(addr) => match crate::metrics::bind(addr).await {
            Ok(listener) => Some(tokio::spawn(crate::metrics::serve(
                listener,
                shutdown.clone(),
            ))),
            Err(err) => {
                tracing::error!(error = %err, "cannot serve metrics");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let outcome = run(listener, shutdown.clone()).await;
    shutdown.cancel();
    if let Some(task) = metrics {
        match task.await {
            Ok(Err(err)) => tracing::warn!(error = %err, "metrics listener failed"),
            Err(err) => tracing::warn!(error = %err, "metrics listener panicked"),
            Ok(Ok(())) => {}
        }
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = ?err, service, "service failed");
            ExitCode::FAILURE
        }
    }
}

/// The command line every service binary takes.
#[derive(clap::Parser, Debug)]
pub struct ServiceArgs {
    /// Optional TOML config file; env vars LOOP_<SVC>__<KEY> override it.
    #[arg(long, env = "LOOP_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Option<ServiceCommand>,
}

#[derive(clap::Subcommand, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCommand {
    /// Exit 0 when the running service reports healthy (for container health checks).
    Healthcheck,
}

impl ServiceArgs {
    pub fn healthcheck(&self) -> bool {
        self.command == Some(ServiceCommand::Healthcheck)
    }
}

/// Parses the command line of binary `name` with its own description and examples.
pub fn parse_args(name: &'static str, about: &'static str, examples: &'static str) -> ServiceArgs {
    use clap::{CommandFactory, FromArgMatches};
    let matches = ServiceArgs::command()
        .name(name)
        .about(about)
        .version(env!("CARGO_PKG_VERSION"))
        .after_help(examples)
        .get_matches();
    ServiceArgs::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
}

/// Waits for a service's background tasks (consumers, relays, sweepers) after
/// shutdown was signalled, logging any that failed or panicked: they run
/// until the shutdown token is cancelled, so this returns once each has
/// finished its last batch.
pub async fn join_background(tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>) {
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::error!(error = ?err, "background task failed"),
            Err(err) => tracing::error!(error = %err, "background task panicked"),
        }
    }
}
