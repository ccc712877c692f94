//! The catalog: snapshot plus topic, the content consumer, learned video vectors across replicas.

use super::*;

#[tokio::test]
async fn the_catalog_starts_from_the_snapshot_and_reads_the_topic_from_where_it_ends() {
    use loop_feed_ranking::{Catalog, catalog, snapshot};
    use std::sync::Arc;

    let cfg = config(&testing::unique("snapshot"));
    loop_platform::kafka::ensure_topics(&cfg.kafka, &[topics::CONTENT])
        .await
        .expect("topics");
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let producer = Producer::new(&cfg.kafka, "test").expect("producer");
    // Covered by the snapshot (offset <= its offset): must not be re-read.
    let (partition, covered) = producer
        .publish(
            topics::CONTENT,
            "k",
            "loop.events.v1.ContentEvent",
            &published(video("v-covered", "old")),
        )
        .await
        .expect("produce");
    // In the snapshot only (as if the topic had lost it to retention).
    snapshot::put_videos(&redis, &[video("v-snap", "dance")])
        .await
        .expect("snapshot");
    let mut conn = redis.conn.clone();
    let _: () = redis::cmd("HSET")
        .arg(snapshot::offsets_key(&redis))
        .arg(partition)
        .arg(covered)
        .query_async(&mut conn)
        .await
        .expect("offsets");
    // After the snapshot: must be read from the topic.
    producer
        .publish(
            topics::CONTENT,
            "k",
            "loop.events.v1.ContentEvent",
            &published(video("v-after", "food")),
        )
        .await
        .expect("produce");

    let catalog = Arc::new(Catalog::new(cfg.learning.dim));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(catalog::follow_content(
        catalog.clone(),
        cfg.kafka.clone(),
        redis.clone(),
        shutdown.clone(),
    ));
    testing::wait_for("catalog ready", Duration::from_secs(30), || {
        let ready = catalog.is_ready();
        async move { ready.then_some(()) }
    })
    .await;
    assert!(catalog.get("v-snap").is_some(), "loaded from the snapshot");
    assert!(
        catalog.get("v-after").is_some(),
        "read from the topic after the snapshot"
    );
    assert!(
        catalog.get("v-covered").is_none(),
        "the snapshot's part of the topic is not re-read"
    );
    assert_eq!(catalog.len(), 2);
    shutdown.cancel();
    task.await.expect("join").expect("catalog");
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn the_content_consumer_keeps_the_snapshot_current_with_its_offsets() {
    use loop_feed_ranking::snapshot;
    use loop_proto::events::v1::{ContentEvent, VideoRemoved, content_event::Payload};

    let cfg = config(&testing::unique("snapwrite"));
    loop_platform::kafka::ensure_topics(&cfg.kafka, &[topics::ENGAGEMENT, topics::CONTENT])
        .await
        .expect("topics");
    let producer = Producer::new(&cfg.kafka, "test").expect("producer");
    for (i, tag) in FAMILIES.iter().enumerate() {
        producer
            .publish(
                topics::CONTENT,
                &format!("k{i}"),
                "loop.events.v1.ContentEvent",
                &published(video(&format!("v{i}"), tag)),
            )
            .await
            .expect("produce");
    }
    let removed = ContentEvent {
        event_id: uuid::Uuid::now_v7().to_string(),
        occurred_at: None,
        payload: Some(Payload::VideoRemoved(VideoRemoved {
            video_id: "v0".into(),
            ..Default::default()
        })),
    };
    producer
        .publish(
            topics::CONTENT,
            "k0",
            "loop.events.v1.ContentEvent",
            &removed,
        )
        .await
        .expect("produce");
    let (shutdown, task) = start(cfg.clone()).await;
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let loaded = testing::wait_for("snapshot written", Duration::from_secs(30), || {
        let redis = redis.clone();
        async move {
            let loaded = snapshot::load(&redis).await.ok()?;
            // A load reads the offsets, then the data (which may be newer):
            // wait for both, not for data read before any offsets existed.
            (loaded.videos.len() == FAMILIES.len() - 1 && !loaded.offsets.is_empty())
                .then_some(loaded)
        }
    })
    .await;
    let mut ids: Vec<String> = loaded.videos.iter().map(|v| v.video_id.clone()).collect();
    ids.sort();
    assert_eq!(
        ids,
        ["v1", "v2", "v3", "v4"],
        "the removed video left the snapshot"
    );
    assert!(
        !loaded.offsets.is_empty(),
        "offsets are recorded with the data"
    );
    shutdown.cancel();
    task.await.expect("join").expect("ranker");
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn replicas_pick_up_learned_video_vectors_from_the_log_and_reload_after_a_trim() {
    use loop_feed_ranking::learn::EngagementHandler;
    use loop_feed_ranking::{Catalog, learned};
    use loop_platform::kafka::{BatchHandler, Delivery};
    use prost::Message;

    let cfg = config(&testing::unique("learned"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let handler = EngagementHandler::new(redis.clone(), cfg.learning.clone(), None);
    // Each round is a batch of one user's view, like and share; the video
    // learns toward the viewer, so its learned vector changes every round.
    let round = |n: i64| -> Vec<Delivery> {
        events(1, 3)
            .into_iter()
            .enumerate()
            .map(|(i, e)| Delivery {
                topic: "t.engagement.v1".into(),
                partition: 0,
                offset: n * 3 + i as i64,
                key: e.user_id.clone().into_bytes(),
                payload: e.encode_to_vec(),
                headers: Vec::new(),
                timestamp_ms: None,
            })
            .collect()
    };
    let liked = events(1, 3)[1].video_id.clone();
    let stored = || async {
        state::learned_vectors(&redis, std::slice::from_ref(&liked))
            .await
            .expect("read")
            .remove(0)
            .expect("the liked video has a learned vector")
    };
    let held = |catalog: &Catalog| -> Vec<f32> {
        catalog.learned_of(std::iter::once(liked.as_str()))[0]
            .clone()
            .expect("the replica holds the liked video's learned vector")
            .to_vec()
    };

    // A replica starting up loads everything.
    handler.handle(&round(0)).await.expect("apply");
    handler.handle(&round(1)).await.expect("apply");
    let catalog = Catalog::new(cfg.learning.dim);
    let cursor = learned::refresh_once(&catalog, &redis, None)
        .await
        .expect("full load");
    assert_eq!(held(&catalog), stored().await);

    // Then follows the log from where it was.
    let before = stored().await;
    handler.handle(&round(2)).await.expect("apply");
    assert_ne!(stored().await, before, "the round changed the vector");
    let next = learned::refresh_once(&catalog, &redis, Some(cursor.clone()))
        .await
        .expect("refresh");
    assert_ne!(next, cursor, "the cursor moved past the new entry");
    assert_eq!(held(&catalog), stored().await);
    let same = learned::refresh_once(&catalog, &redis, Some(next.clone()))
        .await
        .expect("refresh");
    assert_eq!(same, next, "nothing new: the cursor stays");

    // A replica whose cursor the log was trimmed past reloads in full.
    handler.handle(&round(3)).await.expect("apply");
    handler.handle(&round(4)).await.expect("apply");
    let mut conn = redis.conn.clone();
    let _: () = redis::cmd("XTRIM")
        .arg(state::learned_log_key(&redis))
        .arg("MAXLEN")
        .arg(1)
        .query_async(&mut conn)
        .await
        .expect("trim");
    learned::refresh_once(&catalog, &redis, Some(next))
        .await
        .expect("refresh after a trim");
    assert_eq!(held(&catalog), stored().await);
    testing::clear_redis(&cfg.redis).await;
}

#[tokio::test]
async fn a_video_vector_changed_since_it_was_read_gets_the_delta_added_not_overwritten() {
    let cfg = config(&testing::unique("vsum"));
    let redis = Redis::connect(&cfg.redis).await.expect("redis");
    let mut conn = redis.conn.clone();
    let key = state::learned_key(&redis, "v1");
    let script = redis::Script::new(state::APPLY_BATCH);
    // (what the caller read, what it computed: read + its delta)
    let apply = |read: Vec<f32>, sum: Vec<f32>| {
        let mut inv = script.prepare_invoke();
        inv.key(&key)
            .key(state::learned_log_key(&redis))
            .key(state::learned_set_key(&redis))
            .arg(0)
            .arg(1)
            .arg(0)
            .arg(state::f32s_to_bytes(&read))
            .arg(state::f32s_to_bytes(&sum))
            .arg("v1")
            .arg(state::LEARNED_LOG_ENTRIES)
            // No ranking models.
            .arg(0);
        inv
    };
    let stored = || async {
        let mut conn = redis.conn.clone();
        let raw: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("get");
        state::bytes_to_f32s(&raw)
    };
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(state::f32s_to_bytes(&[1.0, 2.0]))
        .query_async(&mut conn)
        .await
        .expect("set");
    // Read as it is: the caller's sum is stored.
    let conflict: i64 = apply(vec![1.0, 2.0], vec![1.5, 2.5])
        .invoke_async(&mut conn)
        .await
        .expect("apply");
    assert_eq!(conflict, 0);
    assert_eq!(stored().await, [1.5, 2.5]);
    // Another consumer wrote since the read: the delta goes on top of its
    // write instead of overwriting it with a stale sum.
    let conflict: i64 = apply(vec![1.0, 2.0], vec![1.25, 1.0])
        .invoke_async(&mut conn)
        .await
        .expect("apply");
    assert_eq!(conflict, 0);
    assert_eq!(stored().await, [1.75, 1.5]);
    // The caller read nothing (a new video) but another consumer created
    // the vector meanwhile: the caller's sum is its whole delta, added.
    let conflict: i64 = apply(Vec::new(), vec![0.5, 0.5])
        .invoke_async(&mut conn)
        .await
        .expect("apply");
    assert_eq!(conflict, 0);
    assert_eq!(stored().await, [2.25, 2.0]);
    testing::clear_redis(&cfg.redis).await;
}
