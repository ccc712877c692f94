//! Logs and traces, set up once per process.
//!
//! `tracing` everywhere; an OpenTelemetry layer always runs so every span has
//! a trace id that crosses gRPC metadata and Kafka headers (W3C
//! `traceparent`); spans are exported over OTLP/gRPC only when an endpoint is
//! configured. `RUST_LOG` overrides the configured filter.

use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, global};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetryConfig};

/// Flushes and stops trace export when dropped (at the end of `main`).
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Whether this call installed the process's telemetry (false when an
    /// earlier call had).
    pub fn is_installed(&self) -> bool {
        self.provider.is_some()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take()
            && let Err(err) = provider.shutdown()
        {
            eprintln!("telemetry: flushing traces failed: {err}");
        }
    }
}

/// Installs the global subscriber and propagator. A second call in the same
/// process (tests that start several services) keeps the first setup.
pub fn init(service: &str, config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    let mut builder = SdkTracerProvider::builder().with_resource(
        Resource::builder()
            .with_service_name(service.to_owned())
            .build(),
    );
    if let Some(endpoint) = &config.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    init_with_provider(service, config, builder.build(), std::io::stdout)
}

/// [`init`] with a tracer provider and a log writer of the caller's (tests
/// capture spans and log lines in memory).
pub fn init_with_provider<W>(
    service: &str,
    config: &TelemetryConfig,
    provider: SdkTracerProvider,
    writer: W,
) -> anyhow::Result<TelemetryGuard>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    global::set_text_map_propagator(TraceContextPropagator::new());
    let tracer = provider.tracer(service.to_owned());

    let default_filter = config
        .log_filter
        .clone()
        .unwrap_or_else(|| "info,sqlx=warn,rdkafka=warn,h2=warn,tower=warn,hyper=warn".into());
    // The log filter applies to log output only, so RUST_LOG=warn does not
    // break tracing: the trace layer keeps every info span. `Targets` rather
    // than `EnvFilter` because it is a well-behaved per-layer filter; it takes
    // the usual `info,sqlx=warn` syntax (no span/field directives).
    let filter_text = std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or(default_filter);
    let log_filter: Targets = filter_text
        .parse()
        .map_err(|e| anyhow::anyhow!("invalid log filter {filter_text:?}: {e}"))?;
    let trace_filter = Targets::new().with_default(LevelFilter::INFO);
    let otel = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(trace_filter);
    let registry = tracing_subscriber::registry().with(otel);
    // Both formats carry the trace and span id of the event's span on every
    // line, so a log line leads to its trace and back.
    let installed = match config.log_format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .event_format(logs::JsonLines)
                    .with_filter(log_filter),
            )
            .try_init()
            .is_ok(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .event_format(logs::TextLines)
                    .with_filter(log_filter),
            )
            .try_init()
            .is_ok(),
    };
    if installed {
        global::set_tracer_provider(provider.clone());
        Ok(TelemetryGuard {
            provider: Some(provider),
        })
    } else {
        Ok(TelemetryGuard { provider: None })
    }
}

/// Log line formats that add the OpenTelemetry trace and span id.
mod logs {
    use std::fmt;

    use opentelemetry::trace::TraceContextExt;
    use serde_json::{Map, Value};
    use tracing::field::{Field, Visit};
    use tracing::{Event, Subscriber};
    use tracing_subscriber::fmt::format::{JsonFields, Writer};
    use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
    use tracing_subscriber::registry::LookupSpan;

    /// The trace and span id of the innermost span of the event that the
    /// OpenTelemetry layer knows (spans below its level filter are skipped).
    fn ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        let spans: Vec<tracing::span::Id> = ctx.event_scope()?.map(|s| s.id()).collect();
        // The global dispatcher, read without the re-entrancy guard: fine
        // inside an event callback. Must not hold the span's extensions.
        tracing::dispatcher::get_default(|dispatch| {
            for id in &spans {
                let Some(cx) = tracing_opentelemetry::get_otel_context(id, dispatch) else {
                    continue;
                };
                let otel = cx.span();
                let sc = otel.span_context();
                if sc.is_valid() {
                    return Some((sc.trace_id().to_string(), sc.span_id().to_string()));
                }
            }
            None
        })
    }

    fn timestamp() -> String {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }

    /// One JSON object per line: `timestamp`, `level`, `target`, `message`
    /// and the event's fields at the top level, `span` (the innermost span's
    /// name and fields), `trace_id` and `span_id`.
    pub(super) struct JsonLines;

    struct JsonVisitor<'a>(&'a mut Map<String, Value>);

    impl Visit for JsonVisitor<'_> {
        fn record_f64(&mut self, field: &Field, value: f64) {
            self.0.insert(field.name().into(), Value::from(value));
        }
        fn record_i64(&mut self, field: &Field, value: i64) {
            self.0.insert(field.name().into(), Value::from(value));
        }
        fn record_u64(&mut self, field: &Field, value: u64) {
            self.0.insert(field.name().into(), Value::from(value));
        }
        fn record_bool(&mut self, field: &Field, value: bool) {
            self.0.insert(field.name().into(), Value::from(value));
        }
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.insert(field.name().into(), Value::from(value));
        }
        fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
            self.0
                .insert(field.name().into(), Value::from(value.to_string()));
        }
        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0
                .insert(field.name().into(), Value::from(format!("{value:?}")));
        }
    }

    impl<S> FormatEvent<S, JsonFields> for JsonLines
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, JsonFields>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let meta = event.metadata();
            let mut line = Map::new();
            line.insert("timestamp".into(), timestamp().into());
            line.insert("level".into(), meta.level().as_str().into());
            line.insert("target".into(), meta.target().into());
            event.record(&mut JsonVisitor(&mut line));
            if let Some(span) = ctx.event_scope().and_then(|mut s| s.next()) {
                let mut fields = span
                    .extensions()
                    .get::<FormattedFields<JsonFields>>()
                    .and_then(|f| serde_json::from_str::<Map<String, Value>>(f).ok())
                    .unwrap_or_default();
                fields.insert("name".into(), span.name().into());
                line.insert("span".into(), Value::Object(fields));
            }
            if let Some((trace_id, span_id)) = ids(ctx) {
                line.insert("trace_id".into(), trace_id.into());
                line.insert("span_id".into(), span_id.into());
            }
            let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
            writeln!(writer, "{text}")
        }
    }

    /// `timestamp LEVEL span{fields}:span{fields}: target: message fields
    /// trace_id=.. span_id=..`, the default layout plus the ids.
    pub(super) struct TextLines;

    impl<S, N> FormatEvent<S, N> for TextLines
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
        N: for<'a> FormatFields<'a> + 'static,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, N>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            let meta = event.metadata();
            write!(writer, "{} {:>5} ", timestamp(), meta.level())?;
            if let Some(scope) = ctx.event_scope() {
                for span in scope.from_root() {
                    write!(writer, "{}", span.name())?;
                    if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                        && !fields.is_empty()
                    {
                        write!(writer, "{{{fields}}}")?;
                    }
                    write!(writer, ":")?;
                }
                write!(writer, " ")?;
            }
            write!(writer, "{}: ", meta.target())?;
            ctx.format_fields(writer.by_ref(), event)?;
            if let Some((trace_id, span_id)) = ids(ctx) {
                write!(writer, " trace_id={trace_id} span_id={span_id}")?;
            }
            writeln!(writer)
        }
    }
}

struct MetadataInjector<'a>(&'a mut MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            MetadataKey::from_bytes(key.as_bytes()),
            MetadataValue::try_from(value.as_str()),
        ) {
            self.0.insert(key, value);
        }
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct PairsExtractor<'a>(&'a [(String, String)]);

impl Extractor for PairsExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

struct PairsInjector<'a>(&'a mut Vec<(String, String)>);

impl Injector for PairsInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.push((key.to_owned(), value));
    }
}

/// Writes the current span's trace context into outgoing gRPC metadata.
pub fn inject_into_metadata(metadata: &mut MetadataMap) {
    let cx = tracing::Span::current().context();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut MetadataInjector(metadata)));
}

/// The trace context sent with an incoming HTTP/gRPC request.
pub fn extract_from_headers(headers: &http::HeaderMap) -> Context {
    global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)))
}

/// The current span's trace context as header pairs (Kafka headers, outbox rows).
pub fn current_context_pairs() -> Vec<(String, String)> {
    span_context_pairs(&tracing::Span::current())
}

/// `span`'s trace context as header pairs (empty when it has none).
pub fn span_context_pairs(span: &tracing::Span) -> Vec<(String, String)> {
    let cx = span.context();
    let mut pairs = Vec::new();
    global::get_text_map_propagator(|p| p.inject_context(&cx, &mut PairsInjector(&mut pairs)));
    pairs
}

/// A trace context from header pairs (`traceparent`, `tracestate`).
pub fn context_from_pairs(pairs: &[(String, String)]) -> Context {
    global::get_text_map_propagator(|p| p.extract(&PairsExtractor(pairs)))
}

/// Makes `span` a child of the remote context in `pairs`.
pub fn set_parent_from_pairs(span: &tracing::Span, pairs: &[(String, String)]) {
    let _ = span.set_parent(context_from_pairs(pairs));
}

/// The trace id of the current span, hex, or empty when there is none.
pub fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt;
    let cx = tracing::Span::current().context();
    let id = cx.span().span_context().trace_id();
    if id == opentelemetry::trace::TraceId::INVALID {
        String::new()
    } else {
        id.to_string()
    }
}
