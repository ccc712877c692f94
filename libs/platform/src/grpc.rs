//! gRPC server bootstrap and client helpers.
//!
//! Every server gets `grpc.health.v1`, reflection (v1 and v1alpha, so every
//! grpcurl version can list and call services), a span per call whose parent
//! is the caller's W3C trace context, request count and latency metrics by
//! method and status code, and graceful shutdown on a `CancellationToken`.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::Code;
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
    // Reflection describes what this port serves, not every Loop service
    // whose descriptors happen to be compiled in.
    let reflection = || {
        let builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(loop_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name("grpc.health.v1.Health")
            .with_service_name("grpc.reflection.v1.ServerReflection")
            .with_service_name("grpc.reflection.v1alpha.ServerReflection");
        services
            .iter()
            .fold(builder, |b, name| b.with_service_name(*name))
    };
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

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
    let mut known: HashSet<String> = services.iter().map(|s| (*s).to_owned()).collect();
    known.extend(
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
        .map(String::from),
    );
    Server::builder()
        .layer(MetricsLayer {
            known: Arc::new(known),
        })
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

/// Counts and times every call ([`crate::metrics::GRPC_REQUESTS`],
/// [`crate::metrics::GRPC_LATENCY`]) until its response ends, with the
/// status code from the trailers (or the headers of a trailers-only error).
/// Paths of services this server does not serve are labelled `unknown`, so
/// a client cannot create series at will.
#[derive(Clone)]
struct MetricsLayer {
    known: Arc<HashSet<String>>,
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = MetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        MetricsService {
            inner,
            known: self.known.clone(),
        }
    }
}

#[derive(Clone)]
struct MetricsService<S> {
    inner: S,
    known: Arc<HashSet<String>>,
}

impl<S, B, ResBody> tower::Service<http::Request<B>> for MetricsService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<MeteredBody<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .filter(|(service, _)| self.known.contains(*service))
            .map_or(("unknown", "unknown"), |(s, m)| (s, m));
        let mut call = CallRecord {
            service: service.to_owned(),
            method: method.to_owned(),
            started: Instant::now(),
            code: None,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            call.code = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok())
                .map(Code::from);
            Ok(response.map(|inner| MeteredBody {
                inner,
                call: Some(call),
            }))
        })
    }
}

struct CallRecord {
    service: String,
    method: String,
    started: Instant,
    /// From a trailers-only response's headers.
    code: Option<Code>,
}

impl CallRecord {
    fn finish(self, code: Code) {
        let code_label = code_name(code);
        let method = if code == Code::Unimplemented {
            "unknown"
        } else {
            self.method.as_str()
        };
        let labels = [self.service.as_str(), method, code_label];
        crate::metrics::GRPC_REQUESTS
            .with_label_values(&labels)
            .inc();
        crate::metrics::GRPC_LATENCY
            .with_label_values(&labels)
            .observe(self.started.elapsed().as_secs_f64());
    }
}

/// The canonical upper-case name of a status code (`OK`, `NOT_FOUND`).
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A response body that records its call when the trailers pass (or when it
/// is dropped: a trailers-only response, or a client that went away).
struct MeteredBody<B> {
    inner: B,
    call: Option<CallRecord>,
}

impl<B> http_body::Body for MeteredBody<B>
where
    B: http_body::Body<Data = bytes::Bytes> + Unpin,
{
    type Data = bytes::Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
            && let Some(call) = this.call.take()
        {
            let code = trailers
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i32>().ok())
                .map_or(Code::Unknown, Code::from);
            call.finish(code);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            let code = call.code.unwrap_or(Code::Cancelled);
            call.finish(code);
        }
    }
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
