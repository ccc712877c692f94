//! JSON log lines carry the trace and span id of their span, so a log line
//! leads to its trace. (Own test binary: it installs the process-wide
//! subscriber, writing into a buffer.)

use std::io::Write;
use std::sync::{Arc, Mutex};

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[test]
fn json_lines_carry_the_trace_id_of_their_span() {
    let buffer = Buffer::default();
    let config = loop_platform::config::TelemetryConfig {
        log_format: loop_platform::config::LogFormat::Json,
        log_filter: Some("info".into()),
        ..Default::default()
    };
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let _guard = loop_platform::telemetry::init_with_provider(
        "logs-test",
        &config,
        provider,
        buffer.clone(),
    )
    .expect("init");

    tracing::info!(answer = 42, "outside any span");
    let span = tracing::info_span!("request", route = "/v1/events");
    let (trace_id, span_id) = {
        let _entered = span.enter();
        tracing::warn!(user = "u1", attempt = 2_u64, "inside the span");
        let cx = span.context();
        let sc = cx.span().span_context().clone();
        (sc.trace_id().to_string(), sc.span_id().to_string())
    };

    let text = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{text}");

    let outside = &lines[0];
    assert_eq!(outside["message"], "outside any span");
    assert_eq!(outside["answer"], 42);
    assert_eq!(outside["level"], "INFO");
    assert!(
        outside.get("trace_id").is_none(),
        "no span, no trace: {outside}"
    );

    let inside = &lines[1];
    assert_eq!(inside["message"], "inside the span");
    assert_eq!(inside["level"], "WARN");
    assert_eq!(inside["user"], "u1");
    assert_eq!(inside["attempt"], 2);
    assert_eq!(inside["trace_id"], trace_id.as_str());
    assert_eq!(inside["span_id"], span_id.as_str());
    assert_eq!(trace_id.len(), 32);
    assert_eq!(inside["span"]["name"], "request");
    assert_eq!(inside["span"]["route"], "/v1/events");
    assert!(
        inside["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z'))
    );
}
