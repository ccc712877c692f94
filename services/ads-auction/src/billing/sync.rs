//! Pushing billed spend to Redis, where the serving script checks it.
//!
//! Spend only ever rises in Redis (set-if-greater), so a stale or
//! re-ordered writer never lowers it; reservations a billed token held are
//! released with it.

use std::time::Duration;

use chrono::NaiveDate;
use loop_platform::cache::Redis;
use sqlx::{PgPool, Row};

use super::SpendUpdate;
use crate::serving::{ad_group_key, campaign_key};

/// Applies a batch of reported actions' spend to Redis: set-if-greater of the
/// ad group's day spend and the campaign's spend, then release of the
/// reservation each billed token held.
pub const SYNC_SCRIPT: &str = r#"
local function int(x) return string.format('%d', x) end
local function release(key, bucket, amount)
  local rmin = tonumber(redis.call('HGET', key, 'rmin'))
  if rmin == nil or bucket < rmin then return end
  local f = 'b' .. bucket
  local cur = tonumber(redis.call('HGET', key, f) or '0')
  local take = math.min(cur, amount)
  if take <= 0 then return end
  if cur - take <= 0 then redis.call('HDEL', key, f) else redis.call('HSET', key, f, int(cur - take)) end
  local tot = tonumber(redis.call('HGET', key, 'rtot') or '0') - take
  if tot < 0 then tot = 0 end
  redis.call('HSET', key, 'rtot', int(tot))
end
local n = tonumber(ARGV[1])
for i = 1, n do
  local a = 1 + (i - 1) * 5
  local agk, cpk = KEYS[2 * i - 1], KEYS[2 * i]
  local day = ARGV[a + 1]
  local agspent, cspent = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])
  local bucket, amount = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])
  if day ~= '' then
    local d = redis.call('HGET', agk, 'day')
    if d == day then
      local cur = tonumber(redis.call('HGET', agk, 'spent') or '0')
      if agspent > cur then redis.call('HSET', agk, 'spent', int(agspent)) end
    elseif (not d) or d < day then
      redis.call('HSET', agk, 'day', day, 'spent', int(agspent), 'served', '0')
    end
    redis.call('EXPIRE', agk, 259200)
  end
  local cur = tonumber(redis.call('HGET', cpk, 'spent') or '0')
  if cspent > cur then redis.call('HSET', cpk, 'spent', int(cspent)) end
  if amount > 0 then
    release(agk, bucket, amount)
    release(cpk, bucket, amount)
  end
end
return n
"#;

/// Pushes spend and releases to Redis (see [`SYNC_SCRIPT`]).
pub async fn sync_redis(
    redis: &Redis,
    script: &redis::Script,
    updates: &[SpendUpdate],
) -> redis::RedisResult<()> {
    for chunk in updates.chunks(200) {
        let mut inv = script.prepare_invoke();
        inv.arg(chunk.len());
        for u in chunk {
            inv.key(ad_group_key(redis, u.ad_group_id))
                .key(campaign_key(redis, u.campaign_id))
                .arg(&u.day)
                .arg(u.ad_group_spent)
                .arg(u.campaign_spent)
                .arg(u.bucket)
                .arg(u.release);
        }
        let mut conn = redis.conn.clone();
        let _: i64 = inv.invoke_async(&mut conn).await?;
    }
    Ok(())
}

/// Re-pushes spend changed in the last `window` from Postgres to Redis.
pub(super) async fn reconcile(
    pool: &PgPool,
    redis: &Redis,
    script: &redis::Script,
    window: Duration,
) -> anyhow::Result<()> {
    let rows = sqlx::query(
        "SELECT s.ad_group_id, s.day, s.spent_millicents, g.campaign_id, c.spent_millicents AS campaign_spent \
         FROM ad_group_spend s JOIN ad_groups g ON g.id = s.ad_group_id JOIN campaigns c ON c.id = g.campaign_id \
         WHERE s.updated_at > now() - make_interval(secs => $1)",
    )
    .bind(window.as_secs_f64())
    .fetch_all(pool)
    .await?;
    let mut updates = Vec::with_capacity(rows.len());
    for r in rows {
        updates.push(SpendUpdate {
            ad_group_id: r.try_get("ad_group_id")?,
            campaign_id: r.try_get("campaign_id")?,
            day: r
                .try_get::<NaiveDate, _>("day")?
                .format("%Y-%m-%d")
                .to_string(),
            ad_group_spent: r.try_get("spent_millicents")?,
            campaign_spent: r.try_get("campaign_spent")?,
            bucket: 0,
            release: 0,
        });
    }
    sync_redis(redis, script, &updates).await?;
    Ok(())
}
