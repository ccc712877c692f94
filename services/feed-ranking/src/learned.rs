//! Keeps each replica's copy of the videos' learned vectors current. The
//! engagement consumer writes them to Redis and scores each changed video in
//! `v:learned:changes` with the server's time; this task reads what changed
//! since its last look (with 50 ms of overlap against small clock steps) every
//! `feed.learned_refresh_ms`, so a feed request scores candidates without a
//! Redis round trip. A video's learned vector is at most one refresh
//! interval stale; the viewer's own vector is always read fresh.

use std::sync::Arc;
use std::time::Duration;

use loop_platform::cache::Redis;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::state;

const OVERLAP_MS: i64 = 50;
const CHUNK: usize = 1_000;

/// Reads the learned vectors changed at or after `since_ms` (less the
/// overlap) that this replica does not have yet into `catalog`; returns the
/// newest change time seen (or `since_ms`).
pub async fn refresh_once(catalog: &Catalog, r: &Redis, since_ms: i64) -> redis::RedisResult<i64> {
    let mut conn = r.conn.clone();
    let changed: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
        .arg(state::learned_changes_key(r))
        .arg(since_ms.saturating_sub(OVERLAP_MS).max(0))
        .arg("+inf")
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await?;
    let newest = changed
        .iter()
        .map(|(_, score)| *score as i64)
        .fold(since_ms, i64::max);
    // The overlap returns recent changes again: fetch only what is newer
    // than the copy held.
    let stale: Vec<(String, i64)> = changed
        .into_iter()
        .map(|(id, score)| (id, score as i64))
        .filter(|(id, score)| catalog.learned_version(id) < Some(*score))
        .collect();
    for chunk in stale.chunks(CHUNK) {
        let ids: Vec<String> = chunk.iter().map(|(id, _)| id.clone()).collect();
        let vectors = state::learned_vectors(r, &ids).await?;
        let updates = chunk
            .iter()
            .zip(vectors)
            .filter_map(|((id, at), v)| v.map(|v| (id.clone(), *at, Arc::<[f32]>::from(v))))
            .collect();
        catalog.set_learned(updates);
    }
    Ok(newest)
}

/// Refreshes the catalog's learned vectors until `shutdown`.
pub async fn follow_learned(
    catalog: Arc<Catalog>,
    redis: Redis,
    every: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut since = 0;
    loop {
        match refresh_once(&catalog, &redis, since).await {
            Ok(newest) => since = newest,
            Err(err) => tracing::warn!(error = %err, "learned vector refresh failed; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(every) => {}
        }
    }
}
