//! What the user state keeps: strong engagement for ad targeting; refresh back to cold.

use super::*;

#[tokio::test]
async fn strong_engagement_is_kept_in_the_user_state_for_ad_targeting() {
    use loop_feed_ranking::learn::EngagementHandler;
    use loop_platform::kafka::{BatchHandler, Delivery};
    use prost::Message;

    let cfg = config(&testing::unique("behav"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler::new(redis.clone(), cfg.learning.clone(), None);
    // User 0: a full view, a like and a share of "dance" a minute apart,
    // then a quick skip of "pets".
    let evs = events(1, 4);
    let batch: Vec<Delivery> = evs
        .iter()
        .enumerate()
        .map(|(i, e)| Delivery {
            topic: "t.engagement.v1".into(),
            partition: 0,
            offset: i as i64,
            key: e.user_id.clone().into_bytes(),
            payload: e.encode_to_vec(),
            headers: Vec::new(),
            timestamp_ms: None,
        })
        .collect();
    handler.handle(&batch).await.expect("apply");
    let mut conn = redis.conn.clone();
    let raw: Option<Vec<u8>> = redis::cmd("GET")
        .arg(state::state_key(&redis, &evs[0].user_id))
        .query_async(&mut conn)
        .await
        .expect("get");
    let s = UserState::decode_opt(raw).expect("state");
    let got: Vec<_> = s.behaviors().collect();
    // The share is the last strong engagement; a skip is none.
    let share_ms = evs[2].occurred_at.as_ref().expect("time").seconds * 1000;
    assert_eq!(
        got,
        [
            (state::BehaviorKind::Category, "dance", share_ms),
            (state::BehaviorKind::Hashtag, "dance", share_ms)
        ]
    );
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn refresh_resets_to_cold_but_a_redelivered_event_is_still_not_applied_again() {
    use loop_feed_ranking::learn::EngagementHandler;
    use loop_platform::auth::Role;
    use loop_platform::kafka::{BatchHandler, Delivery};
    use loop_proto::feed_ranking::v1 as pb;
    use loop_proto::feed_ranking::v1::feed_ranking_service_client::FeedRankingServiceClient;
    use prost::Message;

    let cfg = config(&testing::unique("refresh"));
    loop_platform::kafka::ensure_topics(&cfg.kafka, &[topics::ENGAGEMENT, topics::CONTENT])
        .await
        .expect("topics");
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler::new(redis.clone(), cfg.learning.clone(), None);
    let mut event = events(1, 2).remove(1);
    event.kind = EngagementKind::Like as i32;
    let delivery = Delivery {
        topic: "t.engagement.v1".into(),
        partition: 0,
        offset: 3,
        key: event.user_id.clone().into_bytes(),
        payload: event.encode_to_vec(),
        headers: Vec::new(),
        timestamp_ms: None,
    };
    handler
        .handle(std::slice::from_ref(&delivery))
        .await
        .expect("apply");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(loop_feed_ranking::run(
        cfg.clone(),
        listener,
        shutdown.clone(),
    ));
    let mut client = FeedRankingServiceClient::new(
        loop_platform::grpc::channel(&format!("http://{addr}")).expect("channel"),
    );
    let token = loop_platform::testing::TestKeys.issue(
        &event.user_id,
        Role::Viewer,
        Duration::from_secs(600),
    );
    client
        .refresh_feed(loop_platform::grpc::request(
            pb::RefreshFeedRequest {},
            Some(&token),
            Duration::from_secs(5),
        ))
        .await
        .expect("refresh");
    let after_refresh = states(&cfg.redis, std::slice::from_ref(&event.user_id)).await;
    let s = &after_refresh[&event.user_id];
    assert_eq!(s.positive_events, 0, "cold again");
    assert!(s.vector.iter().all(|x| *x == 0.0), "vector reset");

    // The crash window: the same delivery arrives again after the refresh.
    handler
        .handle(std::slice::from_ref(&delivery))
        .await
        .expect("redelivery");
    let again = states(&cfg.redis, std::slice::from_ref(&event.user_id)).await;
    assert_eq!(again[&event.user_id], after_refresh[&event.user_id]);
    let feed = client
        .get_for_you_feed(loop_platform::grpc::request(
            pb::GetForYouFeedRequest::default(),
            Some(&token),
            Duration::from_secs(5),
        ))
        .await
        .expect("feed")
        .into_inner();
    assert!(feed.cold_start);
    shutdown.cancel();
    task.await.expect("join").expect("ranker");
    testing::clear_redis(&cfg.redis).await;
}
