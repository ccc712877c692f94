//! `content.v1` facts the ranker keeps in Redis (shared consumer group):
//! sign-up profiles (country, declared interests) for cold start, the
//! follow graph for the following candidates, and the catalog snapshot
//! (`snapshot.rs`). Set and overwrite semantics make redelivery harmless; the
//! topic is keyed by user, so follow/unfollow stay ordered.

use loop_platform::cache::Redis;
use loop_platform::kafka::{BatchHandler, Delivery};
use loop_proto::events::v1::{ContentEvent, content_event::Payload};
use prost::Message;

use crate::{snapshot, state};

#[derive(Clone)]
pub struct ContentStateHandler {
    pub redis: Redis,
}

impl BatchHandler for ContentStateHandler {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let r = &self.redis;
        let mut poison = Vec::new();
        let mut pipe = redis::pipe();
        // One transaction: the snapshot and its offsets move together.
        pipe.atomic();
        let mut offsets: std::collections::BTreeMap<i32, i64> = Default::default();
        for (i, d) in batch.iter().enumerate() {
            let last = offsets.entry(d.partition).or_insert(d.offset);
            *last = (*last).max(d.offset);
            let event = match ContentEvent::decode(d.payload.as_slice()) {
                Ok(e) => e,
                Err(err) => {
                    poison.push((i, format!("undecodable ContentEvent: {err}")));
                    continue;
                }
            };
            snapshot::record(&mut pipe, r, &event);
            match event.payload {
                Some(Payload::UserRegistered(u)) => {
                    pipe.hset_multiple(
                        state::profile_key(r, &u.user_id),
                        &[
                            ("country", u.country.as_str()),
                            ("interests", u.declared_interests.join(",").as_str()),
                            ("gender", u.gender.to_string().as_str()),
                            ("birth_date", u.birth_date.as_str()),
                        ],
                    )
                    .ignore();
                }
                Some(Payload::UserFollowed(f)) => {
                    pipe.sadd(state::follows_key(r, &f.follower_id), &f.followee_id)
                        .ignore();
                }
                Some(Payload::UserUnfollowed(f)) => {
                    pipe.srem(state::follows_key(r, &f.follower_id), &f.followee_id)
                        .ignore();
                }
                _ => {}
            }
        }
        for (partition, offset) in offsets {
            snapshot::record_offset(&mut pipe, r, partition, offset);
        }
        let mut conn = r.conn.clone();
        let _: () = pipe.query_async(&mut conn).await?;
        Ok(poison)
    }
}
