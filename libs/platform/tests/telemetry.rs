//! Telemetry set-up: a quiet log filter must not switch tracing off, or
//! trace context would silently stop crossing gRPC and Kafka. (Own test
//! binary: it installs the process-wide subscriber.)

use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

#[test]
fn a_warn_log_filter_keeps_spans_and_trace_context() {
    let config = loop_platform::config::TelemetryConfig {
        log_filter: Some("warn".into()),
        ..Default::default()
    };
    let _guard = loop_platform::telemetry::init("telemetry-test", &config).expect("init");
    let span = tracing::info_span!("request");
    assert!(!span.is_disabled(), "info spans stay enabled for tracing");
    let _entered = span.enter();
    assert!(span.context().span().span_context().is_valid());
    assert_eq!(loop_platform::telemetry::current_trace_id().len(), 32);
    let pairs = loop_platform::telemetry::current_context_pairs();
    let traceparent = pairs
        .iter()
        .find(|(k, _)| k == "traceparent")
        .map(|(_, v)| v.clone())
        .expect("traceparent injected");
    assert!(
        traceparent.contains(&loop_platform::telemetry::current_trace_id()),
        "{traceparent}"
    );
    // And back: the injected context parents a new span in the same trace.
    let child = tracing::info_span!("consumer");
    loop_platform::telemetry::set_parent_from_pairs(&child, &pairs);
    assert_eq!(
        child.context().span().span_context().trace_id(),
        span.context().span().span_context().trace_id()
    );
}
