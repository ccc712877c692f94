//! The ranking model learns only from impressions the gateway counted, on
//! the gateway's clock.

use loop_feed_ranking::learn::EngagementHandler;
use loop_platform::kafka::{BatchHandler, Delivery};
use prost::Message;

use super::*;

const USER: &str = "00000000-0000-7000-8000-000000000001";
const NOW_S: i64 = 1_800_000_000;

/// An event of `USER` about video `v`, accepted by the gateway at `at_s`.
fn event(v: u32, kind: EngagementKind, credit: EngagementCredit, at_s: i64) -> EngagementEvent {
    let at = prost_types::Timestamp {
        seconds: at_s,
        nanos: 0,
    };
    EngagementEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: Some(at),
        accepted_at: Some(at),
        user_id: USER.into(),
        video_id: format!("00000000-0000-7000-9000-{v:012}"),
        creator_id: "00000000-0000-7000-a000-000000000001".into(),
        kind: kind as i32,
        watch_ms: if kind == EngagementKind::View {
            10_000
        } else {
            0
        },
        video_duration_ms: 10_000,
        hashtags: vec!["dance".into()],
        category: "dance".into(),
        credit: credit as i32,
        served_features: if kind == EngagementKind::Impression {
            vec![0.5, 0.2, 0.1, 0.0, 0.0, 0.0, 0.715]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

/// Applies `events` through the co-engagement consumer's handler, from
/// partition 0's offset `first` on.
async fn apply(handler: &EngagementHandler, events: &[EngagementEvent], first: i64) {
    let batch: Vec<Delivery> = events
        .iter()
        .enumerate()
        .map(|(i, e)| Delivery {
            topic: "t.engagement.v1".into(),
            partition: 0,
            offset: first + i as i64,
            key: e.user_id.clone().into_bytes(),
            payload: e.encode_to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect();
    let poison = handler.handle(&batch).await.expect("apply");
    assert!(poison.is_empty(), "{poison:?}");
}

async fn model(redis: &Redis) -> Option<rank::Model> {
    let mut conn = redis.conn.clone();
    let raw: Option<Vec<u8>> = redis::cmd("HGET")
        .arg(state::rank_model_key(redis))
        .arg("0")
        .query_async(&mut conn)
        .await
        .expect("hget");
    raw.as_deref().and_then(rank::Model::decode)
}

#[tokio::test]
async fn only_counted_impressions_teach_the_ranking_model() {
    let cfg = config(&testing::unique("rank-credit"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler::co_engagement(redis.clone(), cfg.learning.clone());
    // Impressions the gateway did not count (no valid serve token, a
    // replayed one, the viewer's own video), each followed by what would
    // label it (a complete view, a quick skip): the model is untouched.
    let mut offset = 0;
    for credit in [
        EngagementCredit::Unverified,
        EngagementCredit::Duplicate,
        EngagementCredit::OwnVideo,
        EngagementCredit::Unspecified,
    ] {
        let events = [
            event(1, EngagementKind::Impression, credit, NOW_S),
            event(
                1,
                EngagementKind::View,
                EngagementCredit::Counted,
                NOW_S + 1,
            ),
            event(2, EngagementKind::Impression, credit, NOW_S + 2),
            event(
                2,
                EngagementKind::QuickSkip,
                EngagementCredit::Counted,
                NOW_S + 3,
            ),
        ];
        apply(&handler, &events, offset).await;
        offset += events.len() as i64;
    }
    assert_eq!(
        model(&redis).await,
        None,
        "uncounted impressions taught the model"
    );
    // The same with counted impressions: two labels, one engaged.
    let events = [
        event(
            3,
            EngagementKind::Impression,
            EngagementCredit::Counted,
            NOW_S + 10,
        ),
        event(
            3,
            EngagementKind::View,
            EngagementCredit::Counted,
            NOW_S + 11,
        ),
        event(
            4,
            EngagementKind::Impression,
            EngagementCredit::Counted,
            NOW_S + 12,
        ),
        event(
            4,
            EngagementKind::QuickSkip,
            EngagementCredit::Counted,
            NOW_S + 13,
        ),
    ];
    apply(&handler, &events, offset).await;
    let m = model(&redis).await.expect("a model");
    assert_eq!((m.examples, m.positives), (2, 1));
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn a_backdated_impression_does_not_expire_into_a_negative_label() {
    let cfg = config(&testing::unique("rank-clock"));
    let window = cfg.learning.ranking.window_s;
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler::co_engagement(redis.clone(), cfg.learning.clone());
    // The client says the impression happened a day ago (the gateway
    // accepts up to 24 h back); the gateway accepted it now. The viewer's
    // next event, a second later, must not find it past the window.
    let mut shown = event(
        1,
        EngagementKind::Impression,
        EngagementCredit::Counted,
        NOW_S,
    );
    shown.occurred_at = Some(prost_types::Timestamp {
        seconds: NOW_S - 24 * 3600,
        nanos: 0,
    });
    let mut next = event(
        2,
        EngagementKind::ProfileVisit,
        EngagementCredit::Counted,
        NOW_S + 1,
    );
    next.occurred_at = Some(prost_types::Timestamp {
        seconds: NOW_S + 1,
        nanos: 0,
    });
    apply(&handler, &[shown, next], 0).await;
    assert_eq!(model(&redis).await, None, "labelled on the client's clock");
    // The gateway's clock past the window: now it is a negative label.
    let later = event(
        2,
        EngagementKind::ProfileVisit,
        EngagementCredit::Counted,
        NOW_S + window + 2,
    );
    apply(&handler, &[later], 2).await;
    let m = model(&redis).await.expect("a model");
    assert_eq!((m.examples, m.positives), (1, 0));
    testing::clear_redis(&cfg.redis).await;
}
