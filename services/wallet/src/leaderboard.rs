//! Gift leaderboards in Redis sorted sets, projected from the ledger.
//!
//! `lb:room:<room_id>` ranks a LIVE room's gifters by coins spent there;
//! `lb:creators:<YYYY-MM-DD>` ranks creators by diamonds received that UTC
//! day. Both are a projection of the `gifts` table: the projector reads gifts
//! in `xid` order up to the snapshot's xmin (so a gift committed late by a
//! slow transaction is never skipped) and applies each batch together with
//! its cursor in one Lua script that first checks the cursor (so a batch is
//! applied once, even with several replicas or a crash in between). If Redis
//! loses the boards and the cursor, the projector starts from the oldest
//! gift within the retention: the boards are rebuilt from the ledger.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use loop_platform::auth::Caller;
use loop_platform::cache::Redis;
use loop_platform::ids::parse_id;
use loop_proto::wallet::v1 as pb;
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::LeaderboardConfig;
use crate::error::{WalletError, WalletResult};
use crate::service::WalletService;

/// Gifts applied per round.
const BATCH: i64 = 5000;

pub fn room_key(redis: &Redis, room: Uuid) -> String {
    redis.key(&format!("lb:room:{room}"))
}

pub fn day_key(redis: &Redis, day: NaiveDate) -> String {
    redis.key(&format!("lb:creators:{}", day.format("%Y-%m-%d")))
}

pub fn cursor_key(redis: &Redis) -> String {
    redis.key("lb:cursor")
}

const APPLY: &str = r"
local current = redis.call('GET', KEYS[1])
if (current or '') ~= ARGV[1] then return 0 end
local i = 3
while i <= #ARGV do
  redis.call('ZINCRBY', ARGV[i], ARGV[i + 2], ARGV[i + 1])
  redis.call('EXPIREAT', ARGV[i], ARGV[i + 3])
  i = i + 4
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
";

type GiftRow = (i64, Uuid, Uuid, Option<Uuid>, i64, i64, DateTime<Utc>);

/// Applies the next batch of gifts; returns how many were applied.
pub async fn project_once(
    pool: &PgPool,
    redis: &Redis,
    config: &LeaderboardConfig,
) -> anyhow::Result<usize> {
    let mut conn = redis.conn.clone();
    let cursor: Option<String> = redis::cmd("GET")
        .arg(cursor_key(redis))
        .query_async(&mut conn)
        .await?;
    let from: i64 = cursor.as_deref().map_or(Ok(0), str::parse)?;
    let horizon: i64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(pool)
            .await?;
    if from >= horizon {
        return Ok(0);
    }
    let retention = i32::try_from(config.retention_days).unwrap_or(30);
    let rows: Vec<GiftRow> = sqlx::query_as(
        "SELECT xid::text::bigint, sender_id, recipient_id, live_room_id, coins, diamonds, created_at FROM gifts \
         WHERE xid >= $1::bigint::text::xid8 AND xid < $2::bigint::text::xid8 \
         AND created_at >= now() - make_interval(days => $3) ORDER BY xid LIMIT $4",
    )
    .bind(from)
    .bind(horizon)
    .bind(retention)
    .bind(BATCH)
    .fetch_all(pool)
    .await?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 >= BATCH => last.0 + 1,
        _ => horizon,
    };
    // Sum per (board, member) before sending.
    let now = Utc::now();
    let keep = chrono::Duration::days(i64::from(config.retention_days));
    let mut increments: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for (_, sender, recipient, room, coins, diamonds, at) in &rows {
        if let Some(room) = room {
            let e = increments
                .entry((room_key(redis, *room), sender.to_string()))
                .or_insert((0, (now + keep).timestamp()));
            e.0 += coins;
        }
        let day = at.date_naive();
        let day_end = day
            .succ_opt()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or(now, |d| d.and_utc());
        let e = increments
            .entry((day_key(redis, day), recipient.to_string()))
            .or_insert((0, (day_end + keep).timestamp()));
        e.0 += diamonds;
    }
    let apply = redis::Script::new(APPLY);
    let mut script = apply.prepare_invoke();
    script
        .key(cursor_key(redis))
        .arg(cursor.unwrap_or_default())
        .arg(next.to_string());
    for ((key, member), (amount, expire_at)) in &increments {
        script.arg(key).arg(member).arg(*amount).arg(*expire_at);
    }
    let applied: i64 = script.invoke_async(&mut conn).await?;
    if applied == 0 {
        // Another replica applied this range first.
        return Ok(0);
    }
    Ok(rows.len().max(usize::from(next > from)))
}

/// Projects new gifts until `shutdown`, woken after each local gift and
/// every `projector_interval_ms` otherwise.
pub async fn run_projector(
    pool: PgPool,
    redis: Redis,
    config: LeaderboardConfig,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let interval = Duration::from_millis(config.projector_interval_ms);
    // Under load every gift wakes the projector; rounds at most every 20 ms
    // apply bigger batches for the same freshness.
    let min_gap = Duration::from_millis(20);
    while !shutdown.is_cancelled() {
        let round = tokio::time::Instant::now();
        match project_once(&pool, &redis, &config).await {
            Ok(n) if n as i64 >= BATCH => continue,
            Ok(_) => {}
            Err(err) => tracing::warn!(error = ?err, "leaderboard projection failed; will retry"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = wake.notified() => {}
            () = tokio::time::sleep(interval) => {}
        }
        tokio::time::sleep_until(round + min_gap).await;
    }
    Ok(())
}

/// Deletes every board and the cursor: the projector rebuilds them from the ledger.
pub async fn reset(redis: &Redis) -> anyhow::Result<u64> {
    let mut conn = redis.conn.clone();
    let mut deleted = 0u64;
    let pattern = redis.key("lb:*");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let n: u64 = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await?;
            deleted += n;
        }
        if next == 0 {
            return Ok(deleted);
        }
        cursor = next;
    }
}

fn limit(value: u32) -> WalletResult<isize> {
    match value {
        0 => Ok(10),
        1..=100 => Ok(isize::try_from(value).unwrap_or(10)),
        _ => Err(WalletError::invalid("limit", "must be 1..100")),
    }
}

/// Reads the top `limit` of a board; ties share the rank of the first of them.
async fn board(redis: &Redis, key: &str, limit: isize) -> WalletResult<Vec<pb::LeaderboardEntry>> {
    let mut conn = redis.conn.clone();
    let rows: Vec<(String, f64)> = redis::cmd("ZREVRANGE")
        .arg(key)
        .arg(0)
        .arg(limit - 1)
        .arg("WITHSCORES")
        .query_async(&mut conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    let mut previous: Option<(f64, u32)> = None;
    for (i, (user, score)) in rows.into_iter().enumerate() {
        let position = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let rank = match previous {
            Some((s, r)) if (s - score).abs() < 0.5 => r,
            _ => position,
        };
        previous = Some((score, rank));
        out.push(pb::LeaderboardEntry {
            rank,
            user_id: user,
            score: score.round() as i64,
        });
    }
    Ok(out)
}

/// The caller's own entry on a board.
async fn own_entry(
    redis: &Redis,
    key: &str,
    user: &str,
) -> WalletResult<Option<pb::LeaderboardEntry>> {
    let mut conn = redis.conn.clone();
    let score: Option<f64> = redis::cmd("ZSCORE")
        .arg(key)
        .arg(user)
        .query_async(&mut conn)
        .await?;
    let Some(score) = score else {
        return Ok(None);
    };
    let above: u64 = redis::cmd("ZCOUNT")
        .arg(key)
        .arg(format!("({score}"))
        .arg("+inf")
        .query_async(&mut conn)
        .await?;
    Ok(Some(pb::LeaderboardEntry {
        rank: u32::try_from(above + 1).unwrap_or(u32::MAX),
        user_id: user.to_owned(),
        score: score.round() as i64,
    }))
}

impl WalletService {
    pub(crate) async fn get_room_leaderboard(
        &self,
        caller: &Caller,
        req: pb::GetRoomLeaderboardRequest,
    ) -> WalletResult<pb::GetRoomLeaderboardResponse> {
        let room = parse_id("live_room_id", &req.live_room_id)?;
        let limit = limit(req.limit)?;
        let key = room_key(&self.redis, room);
        Ok(pb::GetRoomLeaderboardResponse {
            entries: board(&self.redis, &key, limit).await?,
            caller_entry: own_entry(&self.redis, &key, &caller.subject).await?,
        })
    }

    pub(crate) async fn get_top_creators(
        &self,
        _caller: &Caller,
        req: pb::GetTopCreatorsRequest,
    ) -> WalletResult<pb::GetTopCreatorsResponse> {
        let limit = limit(req.limit)?;
        let today = Utc::now().date_naive();
        let day = if req.date.is_empty() {
            today
        } else {
            NaiveDate::parse_from_str(&req.date, "%Y-%m-%d")
                .map_err(|_| WalletError::invalid("date", "must be a date YYYY-MM-DD"))?
        };
        if day > today {
            return Err(WalletError::invalid("date", "must not be in the future"));
        }
        let oldest =
            today - chrono::Duration::days(i64::from(self.config.leaderboards.retention_days));
        let entries = if day < oldest {
            Vec::new()
        } else {
            board(&self.redis, &day_key(&self.redis, day), limit).await?
        };
        Ok(pb::GetTopCreatorsResponse {
            date: day.format("%Y-%m-%d").to_string(),
            entries,
        })
    }
}
