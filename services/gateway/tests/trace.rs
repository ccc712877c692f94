//! One trace from a client to the ranker: the platform runs in-process
//! (loop-testkit) with every span captured in memory, a client sends a view
//! and a like, each with its own `traceparent`, and the spans of that one request across the
//! gateway, content, Kafka and the feed-ranking consumer must share the
//! client's trace id, each with a parent inside the trace.
//!
//! A test binary of its own: it installs the process's tracer.

use std::collections::HashSet;
use std::time::Duration;

use loop_platform::kafka::topics;
use loop_platform::testing::{self, SpanCapture};
use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::SpanData;
use reqwest::StatusCode;
use serde_json::{Value, json};

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        traceparent: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(traceparent) = traceparent {
            req = req.header("traceparent", traceparent);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn sign_up(&self, handle: &str, role: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/auth/signup",
                None,
                None,
                json!({"handle": handle, "password": "correct horse battery", "birth_date": "1998-02-03", "country": "US", "language": "en", "role": role}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("token").to_owned()
    }
}

/// A client-side span context, as a client SDK would send it.
fn client_context() -> (TraceId, SpanId, String) {
    let trace_id = TraceId::from_bytes(*uuid::Uuid::new_v4().as_bytes());
    let mut span = [0u8; 8];
    span.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..8]);
    let span_id = SpanId::from_bytes(span);
    (trace_id, span_id, format!("00-{trace_id}-{span_id}-01"))
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

/// Which service a span belongs to, from what it describes.
fn service_of(span: &SpanData, prefix: &str) -> Option<&'static str> {
    if span.span_kind == SpanKind::Server && attr(span, "http.route").is_some() {
        return Some("gateway");
    }
    match attr(span, "rpc.service").as_deref() {
        Some("loop.content.v1.ContentService") => return Some("content"),
        Some("loop.feed_ranking.v1.FeedRankingService") => return Some("feed-ranking"),
        Some("loop.wallet.v1.WalletService") => return Some("wallet"),
        Some("loop.ads_auction.v1.AdsAuctionService") => return Some("ads-auction"),
        _ => {}
    }
    let group = attr(span, "messaging.consumer.group.name")?;
    let member = group.strip_prefix(prefix)?;
    if member.starts_with("-ranker") {
        Some("feed-ranking")
    } else if member.starts_with("-ads") {
        Some("ads-auction")
    } else {
        None
    }
}

fn span(spans: &[SpanData], id: SpanId) -> Option<&SpanData> {
    spans.iter().find(|s| s.span_context.span_id() == id)
}

/// Every span's parent is a span of the trace, except the gateway's server
/// span, whose parent is the client's (remote) span.
fn assert_linked(spans: &[SpanData], client: SpanId) {
    let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_context.span_id()).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");
    for s in spans {
        assert!(
            s.parent_span_id == client || ids.contains(&s.parent_span_id),
            "span {:?} has parent {} outside the trace: {:#?}",
            s.name,
            s.parent_span_id,
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
    }
    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id == client)
        .collect();
    assert_eq!(roots.len(), 1, "one span answers the client");
    assert_eq!(roots[0].span_kind, SpanKind::Server);
    assert!(roots[0].parent_span_is_remote);
}

/// `from` and its ancestors, up to the span that answered the client.
fn ancestry<'a>(spans: &'a [SpanData], from: &'a SpanData) -> Vec<&'a SpanData> {
    let mut chain = vec![from];
    while let Some(parent) = span(spans, chain[chain.len() - 1].parent_span_id) {
        chain.push(parent);
    }
    chain
}

/// Waits until the trace has a consumer span of `group` on `topic` and the
/// gateway's server span, and returns the trace's spans.
async fn wait_for_consumer(
    capture: &SpanCapture,
    trace_id: TraceId,
    topic: &str,
    group: &str,
) -> Vec<SpanData> {
    testing::wait_for(
        &format!("the {group} consumer span of trace {trace_id}"),
        Duration::from_secs(60),
        || {
            let spans = capture.trace(trace_id);
            let consumed = spans.iter().any(|s| {
                s.span_kind == SpanKind::Consumer
                    && attr(s, "messaging.consumer.group.name").as_deref() == Some(group)
                    && attr(s, "messaging.destination.name").as_deref() == Some(topic)
            });
            let answered = spans
                .iter()
                .any(|s| s.span_kind == SpanKind::Server && attr(s, "http.route").is_some());
            std::future::ready((consumed && answered).then_some(spans))
        },
    )
    .await
}

/// Asserts the consumer span of `group` descends, through a producer span on
/// `topic` (the Kafka hop, its context carried in the message headers), from
/// the gateway's server span; returns the services the chain crosses.
fn assert_kafka_hop(
    spans: &[SpanData],
    topic: &str,
    group: &str,
    prefix: &str,
) -> Vec<&'static str> {
    let consumer = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Consumer
                && attr(s, "messaging.consumer.group.name").as_deref() == Some(group)
        })
        .expect("consumer span");
    assert!(
        consumer.parent_span_is_remote,
        "the consumer's parent came in the message headers"
    );
    let chain = ancestry(spans, consumer);
    let producer = chain[1];
    assert_eq!(
        producer.span_kind,
        SpanKind::Producer,
        "{:?}",
        producer.name
    );
    assert_eq!(
        attr(producer, "messaging.destination.name").as_deref(),
        Some(topic)
    );
    let root = chain[chain.len() - 1];
    assert_eq!(root.span_kind, SpanKind::Server);
    assert!(
        attr(root, "http.route").is_some(),
        "the chain starts at the gateway"
    );
    let mut services: Vec<&'static str> =
        chain.iter().filter_map(|s| service_of(s, prefix)).collect();
    services.dedup();
    services
}

fn services_in(spans: &[SpanData], prefix: &str) -> HashSet<&'static str> {
    spans.iter().filter_map(|s| service_of(s, prefix)).collect()
}

#[tokio::test]
async fn a_like_is_one_trace_from_the_client_through_kafka_to_the_ranker() {
    let capture = SpanCapture::install();
    let platform = loop_testkit::Platform::start().await;
    let prefix = platform.kafka.topic_prefix.trim_end_matches('.').to_owned();
    let client = Client {
        http: reqwest::Client::new(),
        base: platform.base.clone(),
    };
    let creator = client.sign_up("tracer_creator", "creator").await;
    let viewer = client.sign_up("tracer_viewer", "viewer").await;
    let (status, video) = client
        .post(
            "/v1/videos",
            Some(&creator),
            None,
            json!({"caption": "traced #dance", "duration_ms": 9000, "media_url": "https://cdn.loop.test/t.mp4"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{video}");
    let video_id = video["video_id"].as_str().expect("video id").to_owned();

    // 1. The client reports a view: gateway -> content (gRPC, the video
    //    lookup) -> engagement.v1 -> the ranker's consumer.
    let (trace_id, client_span, traceparent) = client_context();
    let (status, body) = client
        .post(
            "/v1/events",
            Some(&viewer),
            Some(&traceparent),
            json!({"events": [{"kind": "view", "video_id": video_id, "watch_ms": 9000}]}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let engagement = platform.kafka.topic(topics::ENGAGEMENT);
    let ranker = format!("{prefix}-ranker");
    let spans = wait_for_consumer(&capture, trace_id, &engagement, &ranker).await;
    assert_linked(&spans, client_span);
    let hop = assert_kafka_hop(&spans, &engagement, &ranker, &prefix);
    assert_eq!(
        hop,
        ["feed-ranking", "gateway"],
        "consumer -> producer -> gateway"
    );
    let services = services_in(&spans, &prefix);
    for service in ["gateway", "content", "feed-ranking"] {
        assert!(
            services.contains(service),
            "{service} missing from {services:?}"
        );
    }

    // 2. A like, one call down two ways: gateway -> content (gRPC LikeVideo,
    //    outbox row with the trace context) -> relay -> content.v1 -> the
    //    ranker; and the like's engagement, gateway -> engagement.v1 -> the
    //    ranker's learning consumer.
    let (trace_id, client_span, traceparent) = client_context();
    let (status, body) = client
        .post(
            &format!("/v1/videos/{video_id}/like"),
            Some(&viewer),
            Some(&traceparent),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let content = platform.kafka.topic(topics::CONTENT);
    let ranker_content = format!("{prefix}-ranker-content");
    let spans = wait_for_consumer(&capture, trace_id, &content, &ranker_content).await;
    assert_linked(&spans, client_span);
    let hop = assert_kafka_hop(&spans, &content, &ranker_content, &prefix);
    assert_eq!(
        hop,
        ["feed-ranking", "content", "gateway"],
        "consumer -> relay's producer span -> content's LikeVideo -> gateway"
    );
    assert!(
        spans
            .iter()
            .any(|s| s.name.ends_with("/LikeVideo") && s.span_kind == SpanKind::Server),
        "content's LikeVideo span is in the trace"
    );
    let spans = wait_for_consumer(&capture, trace_id, &engagement, &ranker).await;
    assert_linked(&spans, client_span);
    assert_eq!(
        assert_kafka_hop(&spans, &engagement, &ranker, &prefix),
        ["feed-ranking", "gateway"],
        "the like's engagement: consumer -> producer -> gateway"
    );
}
