//! gRPC server bootstrap and client helpers.
//!
//! Every server gets `grpc.health.v1`, reflection (v1 and v1alpha, so every
//! grpcurl version can list and call services), a span per call whose parent
//! is the caller's W3C trace context, and graceful shutdown on a
//! `CancellationToken`.

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint, Server};
use tonic_health::ServingStatus;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::telemetry;

fn server_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let (service, method) = path
        .trim_start_matches('/')
        .split_once('/')
        .unwrap_or((path, ""));
    let span = tracing::info_span!(
        "grpc.server",
        otel.name = %path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = %service,
        rpc.method = %method,
    );
    let _ = span.set_parent(telemetry::extract_from_headers(request.headers()));
    span
}

/// Serves `routes` on `listener` until `shutdown` is cancelled. `services`
/// are the fully-qualified names reported as SERVING by the health service.
pub async fn serve(
    routes: Routes,
    services: &[&str],
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    for name in services {
        reporter
            .set_service_status(*name, ServingStatus::Serving)
            .await;
    }
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(loop_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(loop_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let addr = listener.local_addr()?;
    tracing::info!(%addr, "grpc server listening");
    let names: Vec<String> = services.iter().map(|s| (*s).to_owned()).collect();
    let stopping = async move {
        shutdown.cancelled().await;
        reporter
            .set_service_status("", ServingStatus::NotServing)
            .await;
        for name in &names {
            reporter
                .set_service_status(name.as_str(), ServingStatus::NotServing)
                .await;
        }
        tracing::info!("grpc server draining");
    };
    // Accepted sockets get TCP_NODELAY: without it small gRPC responses wait
    // for the client's delayed ACK (~40 ms per call).
    let incoming = TcpListenerStream::new(listener).map(|conn| {
        if let Ok(stream) = &conn
            && let Err(err) = stream.set_nodelay(true)
        {
            tracing::debug!(error = %err, "cannot set TCP_NODELAY");
        }
        conn
    });
    Server::builder()
        .trace_fn(server_span)
        .add_routes(routes)
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .serve_with_incoming_shutdown(incoming, stopping)
        .await?;
    tracing::info!("grpc server stopped");
    Ok(())
}

/// A lazily-connecting channel to `url` (`http://host:port`).
pub fn channel(url: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(3))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true)
        .connect_lazy())
}

/// Wraps `message` for a downstream call: the caller's bearer token (if any),
/// the current trace context and a deadline.
pub fn request<T>(message: T, token: Option<&str>, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    if let Some(token) = token
        && let Ok(value) = format!("Bearer {token}").parse()
    {
        request.metadata_mut().insert("authorization", value);
    }
    telemetry::inject_into_metadata(request.metadata_mut());
    request
}

/// `<binary> healthcheck`: asks the gRPC health service on `listen` (a
/// wildcard address is checked on loopback) whether `service` is SERVING.
/// For container health checks, so images need no extra tools.
pub async fn healthcheck(listen: std::net::SocketAddr, service: &str) -> std::process::ExitCode {
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let check = async {
        let channel = Endpoint::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        let mut client = tonic_health::pb::health_client::HealthClient::new(channel);
        let response = client
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            })
            .await?;
        anyhow::Ok(response.into_inner().status == ServingStatus::Serving as i32)
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(true)) => std::process::ExitCode::SUCCESS,
        Ok(Ok(false)) => {
            eprintln!("{service} is not serving");
            std::process::ExitCode::FAILURE
        }
        Ok(Err(err)) => {
            eprintln!("health check failed: {err:#}");
            std::process::ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("health check timed out");
            std::process::ExitCode::FAILURE
        }
    }
}
