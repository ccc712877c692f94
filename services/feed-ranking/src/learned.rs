//! Keeps each replica's copy of the videos' learned vectors current. The
//! engagement consumer writes them to Redis, adds each changed video to
//! `v:learned:all`, and lists the batch's changed videos in one entry of the
//! `v:learned:log` stream. Every `feed.learned_refresh_ms` this task reads the
//! log from the entry it saw last and fetches the vectors that changed, so a
//! feed request scores candidates without a Redis round trip. A video's
//! learned vector is at most one refresh interval stale; the viewer's own
//! vector is always read fresh.
//!
//! At start, and whenever the log was trimmed past the last entry this
//! replica read, it reloads every vector in `v:learned:all` instead (after
//! noting the log's tail, so nothing that changes meanwhile is missed).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use loop_platform::cache::Redis;
use tokio_util::sync::CancellationToken;

use crate::catalog::Catalog;
use crate::state;

const CHUNK: usize = 1_000;
/// Log entries read per round trip (each lists up to a batch of videos).
const ENTRIES_PER_READ: usize = 64;

/// A log entry: its id and its fields and values, flat.
type LogEntry = (String, Vec<String>);
/// What XREAD answers per stream: its name and the entries.
type LogRead = (String, Vec<LogEntry>);

/// Where a replica is in the learned log: the id of the last entry read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(String);

/// Brings `catalog`'s learned vectors up to date from `cursor` (None: a full
/// load) and returns the new cursor.
pub async fn refresh_once(
    catalog: &Catalog,
    r: &Redis,
    cursor: Option<Cursor>,
) -> redis::RedisResult<Cursor> {
    let mut conn = r.conn.clone();
    let log = state::learned_log_key(r);
    let Some(Cursor(mut last)) = cursor else {
        return full_load(catalog, r).await;
    };
    loop {
        // The oldest entry kept, and what follows the cursor, in one trip.
        let (oldest, reply): (Vec<LogEntry>, Option<Vec<LogRead>>) = redis::pipe()
            .cmd("XRANGE")
            .arg(&log)
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .cmd("XREAD")
            .arg("COUNT")
            .arg(ENTRIES_PER_READ)
            .arg("STREAMS")
            .arg(&log)
            .arg(&last)
            .query_async(&mut conn)
            .await?;
        if let Some((first, _)) = oldest.first()
            && last != "0-0"
            && stream_id_newer(first, &last)
        {
            tracing::warn!(
                cursor = %last,
                oldest = %first,
                "the learned log was trimmed past this replica's cursor; reloading every learned vector"
            );
            return full_load(catalog, r).await;
        }
        let entries: Vec<LogEntry> = reply
            .into_iter()
            .flatten()
            .flat_map(|(_, entries)| entries)
            .collect();
        let Some(newest) = entries.last().map(|(id, _)| id.clone()) else {
            return Ok(Cursor(last));
        };
        let mut changed: Vec<String> = Vec::new();
        let mut unique = HashSet::new();
        for (_, fields) in &entries {
            // field, value, field, value...: the values are the video ids.
            for id in fields.iter().skip(1).step_by(2) {
                if unique.insert(id.as_str()) {
                    changed.push(id.clone());
                }
            }
        }
        fetch(catalog, r, &changed).await?;
        last = newest;
        if entries.len() < ENTRIES_PER_READ {
            return Ok(Cursor(last));
        }
    }
}

/// Whether stream id `a` ("ms-seq") is after `b`.
fn stream_id_newer(a: &str, b: &str) -> bool {
    let parse = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    };
    parse(a) > parse(b)
}

/// Loads every learned vector; returns the log's tail as noted before the
/// load, so changes made during it are read again from the log.
async fn full_load(catalog: &Catalog, r: &Redis) -> redis::RedisResult<Cursor> {
    let mut conn = r.conn.clone();
    let tail: Vec<LogEntry> = redis::cmd("XREVRANGE")
        .arg(state::learned_log_key(r))
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query_async(&mut conn)
        .await?;
    let cursor = tail
        .into_iter()
        .next()
        .map_or_else(|| "0-0".to_owned(), |(id, _)| id);
    let mut scan_cursor: u64 = 0;
    loop {
        let (next, ids): (u64, Vec<String>) = redis::cmd("SSCAN")
            .arg(state::learned_set_key(r))
            .arg(scan_cursor)
            .arg("COUNT")
            .arg(CHUNK)
            .query_async(&mut conn)
            .await?;
        fetch(catalog, r, &ids).await?;
        if next == 0 {
            return Ok(Cursor(cursor));
        }
        scan_cursor = next;
    }
}

/// Reads the learned vectors of `videos` into `catalog`.
async fn fetch(catalog: &Catalog, r: &Redis, videos: &[String]) -> redis::RedisResult<()> {
    for chunk in videos.chunks(CHUNK) {
        let vectors = state::learned_vectors(r, chunk).await?;
        let updates = chunk
            .iter()
            .zip(vectors)
            .filter_map(|(id, v)| v.map(|v| (id.clone(), Arc::<[f32]>::from(v))))
            .collect();
        catalog.set_learned(updates);
    }
    Ok(())
}

/// Refreshes the catalog's learned vectors until `shutdown`.
pub async fn follow_learned(
    catalog: Arc<Catalog>,
    redis: Redis,
    every: Duration,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut cursor = None;
    loop {
        match refresh_once(&catalog, &redis, cursor.clone()).await {
            Ok(next) => cursor = Some(next),
            Err(err) => tracing::warn!(error = %err, "learned vector refresh failed; retrying"),
        }
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            () = tokio::time::sleep(every) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stream_id_newer;

    #[test]
    fn stream_ids_compare_by_time_then_sequence() {
        assert!(stream_id_newer("11-0", "10-5"));
        assert!(stream_id_newer("10-6", "10-5"));
        assert!(!stream_id_newer("10-5", "10-5"));
        assert!(!stream_id_newer("9-9", "10-0"));
        assert!(stream_id_newer("100-0", "99-0"), "numeric, not text, order");
    }
}
