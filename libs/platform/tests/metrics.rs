//! The gRPC server counts and times every call by method and status code,
//! and `/metrics` serves the registry in Prometheus text format.

use std::time::Duration;

use loop_platform::{metrics, testing};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn grpc_count(text: &str, method: &str, code: &str) -> f64 {
    metrics::sample(
        text,
        "loop_grpc_server_requests_total",
        &[
            ("grpc_service", "grpc.health.v1.Health"),
            ("grpc_method", method),
            ("grpc_code", code),
        ],
    )
    .unwrap_or(0.0)
}

async fn get_metrics(addr: std::net::SocketAddr) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .await
        .expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("text/plain; version=0.0.4"), "{response}");
    response
}

#[tokio::test]
async fn grpc_calls_are_counted_by_method_and_code_and_served_on_metrics() {
    let shutdown = CancellationToken::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(loop_platform::grpc::serve(
        tonic::service::Routes::default(),
        &["loop.test.v1.Test"],
        listener,
        shutdown.clone(),
    ));
    let metrics_listener = metrics::bind("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind metrics");
    let metrics_addr = metrics_listener.local_addr().expect("addr");
    tokio::spawn(metrics::serve(metrics_listener, shutdown.clone()));

    let before = metrics::render();
    let channel = loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel");
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    // The first call that reaches the server (it may still be starting).
    testing::wait_for("the gRPC server", Duration::from_secs(10), || {
        let mut health = health.clone();
        async move {
            health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "loop.test.v1.Test".into(),
                })
                .await
                .ok()
        }
    })
    .await;
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "loop.test.v1.Test".into(),
        })
        .await
        .expect("serving");
    let missing = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "no.such.Service".into(),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(missing.code(), tonic::Code::NotFound);

    let text = get_metrics(metrics_addr).await;
    assert_eq!(
        grpc_count(&text, "Check", "OK") - grpc_count(&before, "Check", "OK"),
        2.0,
        "{text}"
    );
    // A trailers-only error carries its code in the headers.
    assert_eq!(
        grpc_count(&text, "Check", "NOT_FOUND") - grpc_count(&before, "Check", "NOT_FOUND"),
        1.0,
        "{text}"
    );
    assert!(
        text.contains("loop_grpc_server_request_duration_seconds_bucket{grpc_code=\"OK\",grpc_method=\"Check\",grpc_service=\"grpc.health.v1.Health\""),
        "{text}"
    );
    shutdown.cancel();
}
