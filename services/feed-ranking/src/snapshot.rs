//! The catalog snapshot in Redis, so a replica starts without re-reading all
//! of `content.v1` (and survives the topic's retention): every servable
//! video's latest snapshot, every challenge, and, per partition of
//! `content.v1`, the last offset the snapshot includes. Keys (after the
//! prefix):
//!
//! - `catalog:videos`     HASH video id -> `VideoSnapshot` (protobuf)
//! - `catalog:challenges` HASH hashtag/start -> `ChallengeCreated` (protobuf)
//! - `catalog:offsets`    HASH partition -> last included offset
//!
//! The content consumer group writes it (`social.rs`) in the same atomic
//! transaction as the batch's offsets, so the data is never older than the
//! offsets say. A loader reads the offsets first, then the data: the data may
//! be newer, and re-reading the topic from the offsets re-applies a suffix of
//! whole-object overwrites in order, which ends in the same state.

use std::collections::HashMap;

use loop_platform::cache::Redis;
use loop_proto::events::v1::{
    self as ev, ChallengeCreated, ContentEvent, VideoSnapshot, content_event::Payload,
};
use prost::Message;

pub fn videos_key(r: &Redis) -> String {
    r.key("catalog:videos")
}
pub fn challenges_key(r: &Redis) -> String {
    r.key("catalog:challenges")
}
pub fn offsets_key(r: &Redis) -> String {
    r.key("catalog:offsets")
}

/// Adds the snapshot writes for `event` (if it concerns the catalog) to `pipe`.
pub fn record(pipe: &mut redis::Pipeline, r: &Redis, event: &ContentEvent) {
    match &event.payload {
        Some(Payload::VideoPublished(ev::VideoPublished { video: Some(v) }))
        | Some(Payload::VideoUpdated(ev::VideoUpdated { video: Some(v) })) => put(pipe, r, v),
        Some(Payload::VideoRemoved(v)) => {
            pipe.hdel(videos_key(r), &v.video_id).ignore();
        }
        Some(Payload::ChallengeCreated(c)) => {
            let start = c.starts_at.as_ref().map_or(0, |t| t.seconds);
            pipe.hset(
                challenges_key(r),
                format!("{}/{start}", c.hashtag),
                c.encode_to_vec(),
            )
            .ignore();
        }
        _ => {}
    }
}

fn put(pipe: &mut redis::Pipeline, r: &Redis, v: &VideoSnapshot) {
    if v.servable {
        pipe.hset(videos_key(r), &v.video_id, v.encode_to_vec())
            .ignore();
    } else {
        pipe.hdel(videos_key(r), &v.video_id).ignore();
    }
}

/// Records that the snapshot includes `partition` up to `offset`.
pub fn record_offset(pipe: &mut redis::Pipeline, r: &Redis, partition: i32, offset: i64) {
    pipe.hset(offsets_key(r), partition, offset).ignore();
}

/// Writes `videos` into the snapshot directly (seeding and benchmarks; the
/// live writer is the content consumer).
pub async fn put_videos(r: &Redis, videos: &[VideoSnapshot]) -> redis::RedisResult<()> {
    let mut conn = r.conn.clone();
    for chunk in videos.chunks(1000) {
        let mut pipe = redis::pipe();
        for v in chunk {
            put(&mut pipe, r, v);
        }
        let _: () = pipe.query_async(&mut conn).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// Partition -> last offset included.
    pub offsets: HashMap<i32, i64>,
    pub videos: Vec<VideoSnapshot>,
    pub challenges: Vec<ChallengeCreated>,
}

/// Reads the snapshot: offsets first, then the data (see the module docs).
/// Undecodable entries are skipped with a warning (the topic still has them).
pub async fn load(r: &Redis) -> redis::RedisResult<Loaded> {
    let mut conn = r.conn.clone();
    let offsets: HashMap<i32, i64> = redis::cmd("HGETALL")
        .arg(offsets_key(r))
        .query_async(&mut conn)
        .await?;
    let mut loaded = Loaded {
        offsets,
        ..Loaded::default()
    };
    let mut cursor: u64 = 0;
    loop {
        let (next, page): (u64, Vec<(String, Vec<u8>)>) = redis::cmd("HSCAN")
            .arg(videos_key(r))
            .arg(cursor)
            .arg("COUNT")
            .arg(2000)
            .query_async(&mut conn)
            .await?;
        for (id, bytes) in page {
            match VideoSnapshot::decode(bytes.as_slice()) {
                Ok(v) => loaded.videos.push(v),
                Err(err) => {
                    tracing::warn!(video_id = %id, error = %err, "undecodable video in the catalog snapshot")
                }
            }
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let challenges: Vec<(String, Vec<u8>)> = redis::cmd("HGETALL")
        .arg(challenges_key(r))
        .query_async(&mut conn)
        .await?;
    for (key, bytes) in challenges {
        match ChallengeCreated::decode(bytes.as_slice()) {
            Ok(c) => loaded.challenges.push(c),
            Err(err) => {
                tracing::warn!(challenge = %key, error = %err, "undecodable challenge in the catalog snapshot")
            }
        }
    }
    Ok(loaded)
}
