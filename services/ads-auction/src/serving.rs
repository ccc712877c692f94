//! `FillAdSlots`: the per-request auction.
//!
//! 1. The in-memory index ([`crate::index`]) returns the eligible TopView
//!    reservations and the best K in-feed candidates (one per campaign,
//!    eCPM >= reserve, in schedule), best first.
//! 2. One Lua script (one Redis round trip) walks them in order: frequency
//!    cap (per user per campaign per UTC day; TopView at most once per user
//!    per day), daily budget, pacing and campaign budget, each checked
//!    against billed spend plus what outstanding tokens hold; it prices the
//!    survivors by generalized second price (the next survivor's eCPM or the
//!    reserve) and reserves, atomically, the cap and each winner's budget.
//! 3. Each winner gets a signed impression token fixing its price.
//!
//! Budget reservations (the overspend bound). A served token holds
//! `ceil(price x expected billable events per impression)` of its ad group's
//! and campaign's budget until it is billed or its billing window closes
//! (token TTL + grace), in time buckets of a Redis hash so expiry is O(1)
//! amortised. A candidate is admitted only if `spent + reserved + bid <=
//! limit`. For impression-billed bids (CPM, oCPM, TopView) the reservation is
//! exactly the charge, so billed spend never exceeds the daily budget, the
//! pacing target or the campaign budget: the overspend bound is zero,
//! whatever the concurrency or the number of replicas (the check and the
//! reservation are one atomic script). For CPC and CPV the reservation is
//! the expected charge; realised clicks above expectation are the only
//! overspend, and billing caps a day at `daily x (1 + daily_overspend_fraction)`
//! (writing off the rest) and a campaign at its total budget exactly.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use loop_platform::cache::Redis;
use loop_platform::ids::parse_id;
use loop_platform::time::to_timestamp;
use loop_proto::ads_auction::v1 as pb;
use uuid::Uuid;

use crate::Config;
use crate::error::{AdsError, AdsResult};
use crate::index::{Ask, Candidate, Index, Plan, TopViewCandidate, Viewer};
use crate::predict;
use crate::token::TokenKeys;
use crate::validate;

/// The serving script. See the module docs; statuses per in-feed candidate:
/// 0 eligible (not needed), 1 won, 2 frequency cap, 3 daily budget,
/// 4 pacing, 5 campaign budget, 6 not evaluated (slots already filled).
pub const FILL_SCRIPT: &str = r#"
local function int(x) return string.format('%d', x) end
-- Drops reservation buckets that expired (bucket <= nowb); returns the
-- remaining total. Runs once per bucket period per key.
local function expire(key, tot, rmin, nowb)
  if nowb - rmin > 512 then
    local all = redis.call('HGETALL', key)
    for i = 1, #all, 2 do
      local f = all[i]
      if string.byte(f, 1) == 98 then
        local b = tonumber(string.sub(f, 2))
        if b and b <= nowb then
          tot = tot - tonumber(all[i + 1])
          redis.call('HDEL', key, f)
        end
      end
    end
  else
    for b = rmin, nowb do
      local f = 'b' .. b
      local x = redis.call('HGET', key, f)
      if x then
        tot = tot - tonumber(x)
        redis.call('HDEL', key, f)
      end
    end
  end
  if tot < 0 then tot = 0 end
  redis.call('HSET', key, 'rtot', int(tot), 'rmin', int(nowb + 1))
  return tot
end

local nowb = tonumber(ARGV[1])
local expb = tonumber(ARGV[2])
local bf = 'b' .. ARGV[2]
local reserve_ecpm = tonumber(ARGV[3])
local nslots = tonumber(ARGV[4])
local tv_takes_slot = tonumber(ARGV[5])
local T = tonumber(ARGV[6])
local C = tonumber(ARGV[7])
local fc_ttl = tonumber(ARGV[8])
local fc = KEYS[1]
local out = {}
local fc_touched = false

-- TopView: once per user per UTC day, within the reservation's paced cap.
local tvwin = 0
if T > 0 and not redis.call('HGET', fc, 'tv') then
  for t = 1, T do
    local a = 8 + (t - 1) * 2
    local cap = tonumber(ARGV[a + 2])
    local served = tonumber(redis.call('GET', KEYS[1 + t]) or '0')
    if served < cap then
      tvwin = t
      redis.call('INCR', KEYS[1 + t])
      redis.call('EXPIRE', KEYS[1 + t], 259200)
      redis.call('HSET', fc, 'tv', '1')
      redis.call('HINCRBY', fc, ARGV[a + 1], 1)
      fc_touched = true
      break
    end
  end
end
out[1] = tvwin
if tvwin > 0 and tv_takes_slot == 1 then nslots = nslots - 1 end

-- In-feed: first survivors in eCPM order; one more to price the last winner.
-- Per candidate: 3 reads (cap, ad group, campaign); per winner: 3 writes.
local base = 8 + T * 2
local status, passing, ag, cp = {}, {}, {}, {}
for i = 1, C do
  if #passing > nslots then
    status[i] = 6
  else
    local a = base + (i - 1) * 11
    local camp, day = ARGV[a + 1], ARGV[a + 2]
    local daily, paced = tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
    local avail, cfloor = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
    local cap, bid = tonumber(ARGV[a + 7]), tonumber(ARGV[a + 10])
    local agk, cpk = KEYS[1 + T + 2 * i - 1], KEYS[1 + T + 2 * i]
    local used = tonumber(redis.call('HGET', fc, camp) or '0')
    if used >= cap then
      status[i] = 2
    else
      local g = redis.call('HMGET', agk, 'day', 'spent', 'rtot', 'rmin', 'served', bf)
      local same_day = g[1] == day
      local spent, served = 0, 0
      if same_day then
        spent = tonumber(g[2]) or 0
        served = tonumber(g[5]) or 0
      end
      local tot, rmin = tonumber(g[3]) or 0, tonumber(g[4])
      if rmin and rmin <= nowb then tot = expire(agk, tot, rmin, nowb); rmin = nowb + 1 end
      ag[i] = {same_day, served, tot, rmin, tonumber(g[6]) or 0}
      local held = spent + tot + bid
      if held > daily then
        status[i] = 3
      elseif held > paced then
        status[i] = 4
      else
        local c = redis.call('HMGET', cpk, 'spent', 'rtot', 'rmin', bf)
        local cspent = tonumber(c[1]) or 0
        if cfloor > cspent then cspent = cfloor end
        local ctot, crmin = tonumber(c[2]) or 0, tonumber(c[3])
        if crmin and crmin <= nowb then ctot = expire(cpk, ctot, crmin, nowb); crmin = nowb + 1 end
        cp[i] = {ctot, crmin, tonumber(c[4]) or 0}
        if cspent + ctot + bid > avail then
          status[i] = 5
        else
          status[i] = 0
          passing[#passing + 1] = i
        end
      end
    end
  end
end

local price = {}
for i = 1, C do price[i] = 0 end
local winners = math.min(nslots, #passing)
for j = 1, winners do
  local i = passing[j]
  local a = base + (i - 1) * 11
  local w, bid, pexp = tonumber(ARGV[a + 9]), tonumber(ARGV[a + 10]), tonumber(ARGV[a + 11])
  local threshold = reserve_ecpm
  if passing[j + 1] then
    local next_ecpm = tonumber(ARGV[base + (passing[j + 1] - 1) * 11 + 8])
    if next_ecpm > threshold then threshold = next_ecpm end
  end
  local p = bid
  if w > 0 then
    local f = math.floor(threshold / (1000 * w) + 1e-9)
    if f < bid then p = f + 1 end
  end
  if p < 1 then p = 1 end
  price[i] = p
  status[i] = 1
  local amount = math.ceil(p * pexp)
  if amount < 1 then amount = 1 end
  local agk, cpk = KEYS[1 + T + 2 * i - 1], KEYS[1 + T + 2 * i]
  local g, c = ag[i], cp[i]
  local rmin = g[4] or nowb
  if g[1] then
    redis.call('HSET', agk, 'served', int(g[2] + 1), 'rtot', int(g[3] + amount), 'rmin', int(rmin),
      bf, int(g[5] + amount))
  else
    redis.call('HSET', agk, 'day', ARGV[a + 2], 'spent', '0', 'served', '1', 'rtot', int(g[3] + amount),
      'rmin', int(rmin), bf, int(g[5] + amount))
    redis.call('EXPIRE', agk, 259200)
  end
  redis.call('HSET', cpk, 'rtot', int(c[1] + amount), 'rmin', int(c[2] or nowb), bf, int(c[3] + amount))
  redis.call('HINCRBY', fc, ARGV[a + 1], 1)
  fc_touched = true
end
if fc_touched then redis.call('EXPIRE', fc, fc_ttl) end
for i = 1, C do
  out[1 + i] = status[i]
  out[1 + C + i] = price[i]
end
return out
"#;

pub fn fc_key(redis: &Redis, user: &str, utc_day: &str) -> String {
    redis.key(&format!("fc:{user}:{utc_day}"))
}

pub fn ad_group_key(redis: &Redis, ad_group: Uuid) -> String {
    redis.key(&format!("agb:{ad_group}"))
}

pub fn campaign_key(redis: &Redis, campaign: Uuid) -> String {
    redis.key(&format!("cpb:{campaign}"))
}

pub fn topview_key(redis: &Redis, reservation: Uuid) -> String {
    redis.key(&format!("tvr:{reservation}"))
}

/// The reservation bucket a token expiring at `expires_at` is booked in.
pub fn expiry_bucket(config: &Config, expires_at: DateTime<Utc>) -> i64 {
    let bs = i64::try_from(config.billing.reservation_bucket_secs.max(1)).unwrap_or(300);
    let grace = i64::try_from(config.billing.reservation_grace_secs).unwrap_or(0);
    (expires_at.timestamp() + grace + bs - 1).div_euclid(bs)
}

pub fn now_bucket(config: &Config, now: DateTime<Utc>) -> i64 {
    let bs = i64::try_from(config.billing.reservation_bucket_secs.max(1)).unwrap_or(300);
    now.timestamp().div_euclid(bs)
}

/// Where one `fill` spent its time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// Validation and the in-memory index.
    pub plan: std::time::Duration,
    /// The one Redis script round trip.
    pub redis: std::time::Duration,
    pub total: std::time::Duration,
}

/// Serves `FillAdSlots` from one replica's index and the shared Redis.
#[derive(Clone)]
pub struct Server {
    pub index: Arc<Index>,
    pub redis: Redis,
    pub tokens: TokenKeys,
    pub config: Arc<Config>,
    script: Arc<redis::Script>,
}

fn viewer(req: &pb::FillAdSlotsRequest, now: DateTime<Utc>) -> AdsResult<Viewer> {
    let ctx = req.context.clone().unwrap_or_default();
    let profile = req.profile.clone().unwrap_or_default();
    if profile.interests.len() > 20 {
        return Err(AdsError::invalid("profile.interests", "at most 20"));
    }
    if profile.recent_behaviors.len() > 100 {
        return Err(AdsError::invalid("profile.recent_behaviors", "at most 100"));
    }
    let behaviors = profile
        .recent_behaviors
        .iter()
        .filter_map(|b| {
            let at = b.last_engaged_at.as_ref()?;
            let at = DateTime::from_timestamp(at.seconds, u32::try_from(at.nanos).ok()?)?;
            let age_days = (now - at).num_seconds() as f64 / 86_400.0;
            Some((b.kind, b.value.trim().to_lowercase(), age_days.max(0.0)))
        })
        .collect();
    Ok(Viewer {
        age_band: profile.age_band,
        gender: profile.gender,
        country: ctx.country.trim().to_uppercase(),
        language: validate::primary_language(&ctx.language),
        device_os: ctx.device_os,
        interests: profile
            .interests
            .iter()
            .map(|i| i.category.trim().to_lowercase())
            .collect(),
        behaviors,
        segment: predict::segment_index(profile.age_band, ctx.device_os),
    })
}

/// Positions to fill: sorted, and never two adjacent ones (an ad directly
/// after an ad); the later of two adjacent positions stays organic.
pub fn positions(requested: &[u32]) -> AdsResult<Vec<u32>> {
    if requested.len() > 10 {
        return Err(AdsError::invalid("slot_positions", "at most 10 positions"));
    }
    let mut sorted = requested.to_vec();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(AdsError::invalid(
            "slot_positions",
            "positions must be distinct",
        ));
    }
    let mut out: Vec<u32> = Vec::with_capacity(sorted.len());
    for p in sorted {
        if out.last().is_some_and(|last| p == last + 1) {
            continue;
        }
        out.push(p);
    }
    Ok(out)
}

impl Server {
    pub fn new(index: Arc<Index>, redis: Redis, config: Arc<Config>) -> Self {
        Self {
            index,
            redis,
            tokens: TokenKeys::new(&config.tokens),
            config,
            script: Arc::new(redis::Script::new(FILL_SCRIPT)),
        }
    }

    pub async fn fill(&self, req: pb::FillAdSlotsRequest) -> AdsResult<pb::FillAdSlotsResponse> {
        self.fill_timed(req).await.map(|(r, _)| r)
    }

    /// [`Self::fill`], also reporting where the time went (benchmarks).
    pub async fn fill_timed(
        &self,
        req: pb::FillAdSlotsRequest,
    ) -> AdsResult<(pb::FillAdSlotsResponse, Timings)> {
        let started = std::time::Instant::now();
        let mut timings = Timings::default();
        let user = parse_id("user_id", &req.user_id)?;
        if req.request_id.trim().is_empty() || req.request_id.len() > 128 {
            return Err(AdsError::invalid(
                "request_id",
                "is required, at most 128 characters",
            ));
        }
        let positions = positions(&req.slot_positions)?;
        if positions.is_empty() {
            return Ok((pb::FillAdSlotsResponse::default(), timings));
        }
        let now = Utc::now();
        let viewer = viewer(&req, now)?;
        let want_topview = req.app_open && positions.first() == Some(&0);
        let exclude = excluded_ids(&req.exclude_ad_ids);
        let debug = req.debug && self.config.auction.debug_enabled;
        let plan = self.index.plan(&Ask {
            viewer: &viewer,
            now,
            infeed_slots: positions.len(),
            want_topview,
            exclude: &exclude,
            debug,
        });
        timings.plan = started.elapsed();
        let mut out = Vec::new();
        let mut slots = Vec::new();
        if !plan.infeed.is_empty() || !plan.topview.is_empty() {
            let fill = self.fill_of(user, &req.request_id, now, viewer.segment, want_topview);
            let inv = self.invocation(&plan, &fill, positions.len());
            let mut conn = self.redis.conn.clone();
            let sent = std::time::Instant::now();
            out = inv.invoke_async(&mut conn).await?;
            timings.redis = sent.elapsed();
            check_script_output(&out, plan.infeed.len())?;
            slots = self.slots(&plan, &out, &fill, &positions)?;
        }
        let debug = if debug {
            self.debug(&plan, &out, &positions)
        } else {
            Vec::new()
        };
        timings.total = started.elapsed();
        Ok((pb::FillAdSlotsResponse { slots, debug }, timings))
    }

    /// The facts every token of one fill shares.
    fn fill_of(
        &self,
        user: Uuid,
        request_id: &str,
        now: DateTime<Utc>,
        segment: usize,
        want_topview: bool,
    ) -> Fill {
        let expires_at = now
            + chrono::Duration::seconds(i64::try_from(self.config.tokens.ttl_secs).unwrap_or(3600));
        Fill {
            user: user.to_string(),
            request_id: request_id.to_owned(),
            now,
            expires_at,
            bucket: expiry_bucket(&self.config, expires_at),
            segment,
            want_topview,
        }
    }

    /// The serving script's keys and arguments (layout in [`FILL_SCRIPT`]).
    fn invocation(&self, plan: &Plan, fill: &Fill, slots: usize) -> redis::ScriptInvocation<'_> {
        let utc_day = fill.now.format("%Y-%m-%d").to_string();
        let mut inv = self.script.prepare_invoke();
        inv.key(fc_key(&self.redis, &fill.user, &utc_day));
        for tv in &plan.topview {
            inv.key(topview_key(&self.redis, tv.entry.reservation_id));
        }
        for c in &plan.infeed {
            inv.key(ad_group_key(&self.redis, c.ad_group_id));
            inv.key(campaign_key(&self.redis, c.campaign_id));
        }
        inv.arg(now_bucket(&self.config, fill.now))
            .arg(fill.bucket)
            .arg(self.config.auction.reserve_ecpm_millicents)
            .arg(slots)
            .arg(i32::from(fill.want_topview))
            .arg(plan.topview.len())
            .arg(plan.infeed.len())
            .arg(2 * 86_400);
        for tv in &plan.topview {
            inv.arg(tv.entry.campaign_id.to_string()).arg(tv.paced_cap);
        }
        for c in &plan.infeed {
            inv.arg(c.campaign_id.to_string())
                .arg(&c.local_day)
                .arg(c.daily_budget_millicents)
                .arg(c.paced_target_millicents)
                .arg(c.campaign_available_millicents)
                .arg(c.campaign_spent_millicents)
                .arg(c.frequency_cap)
                .arg(c.ecpm.to_string())
                .arg(c.w.to_string())
                .arg(c.bid_event)
                .arg(c.billable_rate.to_string());
        }
        inv
    }

    /// The filled slots, by position: the TopView winner (position 0), then
    /// the in-feed winners in eCPM order on the free positions. Candidates
    /// the script refused for budget or pacing back off on this replica.
    fn slots(
        &self,
        plan: &Plan,
        out: &[i64],
        fill: &Fill,
        positions: &[u32],
    ) -> AdsResult<Vec<pb::FilledSlot>> {
        let mut free: Vec<u32> = positions.to_vec();
        let mut slots = Vec::new();
        let tvwin = out
            .first()
            .and_then(|w| usize::try_from(*w).ok())
            .unwrap_or(0);
        if let Some(tv) = tvwin.checked_sub(1).and_then(|i| plan.topview.get(i)) {
            free.retain(|p| *p != 0);
            let claims = topview_claims(tv, fill);
            let price = claims.price_millicents;
            slots.push(self.filled(claims, &tv.creative, price * 1000, fill.expires_at)?);
        }
        let backoff_until = fill.now.timestamp_millis()
            + i64::try_from(self.config.auction.exhausted_backoff_ms).unwrap_or(500);
        let n = plan.infeed.len();
        let mut winners = 0usize;
        for (i, c) in plan.infeed.iter().enumerate() {
            let status = out.get(1 + i).copied().unwrap_or(0);
            if matches!(status, 3..=5) {
                self.index.back_off(c.ad_group_id, backoff_until);
            }
            if status != 1 {
                continue;
            }
            let Some(position) = free.get(winners).copied() else {
                break;
            };
            winners += 1;
            let price = out.get(1 + n + i).copied().unwrap_or(0);
            let claims = infeed_claims(c, fill, position, price);
            slots.push(self.filled(
                claims,
                &c.creative,
                clearing_ecpm(c, price),
                fill.expires_at,
            )?);
        }
        slots.sort_by_key(|s| s.position);
        Ok(slots)
    }

    fn filled(
        &self,
        mut claims: pb::ImpressionTokenClaims,
        creative: &crate::index::CreativeEntry,
        clearing_ecpm_millicents: i64,
        expires_at: DateTime<Utc>,
    ) -> AdsResult<pb::FilledSlot> {
        let token = self
            .tokens
            .sign(&mut claims)
            .map_err(|e| AdsError::internal(anyhow::anyhow!("signing a token: {e}")))?;
        Ok(pb::FilledSlot {
            position: claims.position,
            bid_type: claims.bid_type,
            price_millicents: claims.price_millicents,
            clearing_ecpm_millicents,
            placement: Some(pb::AdPlacement {
                ad_id: claims.ad_id,
                campaign_id: claims.campaign_id,
                ad_group_id: claims.ad_group_id,
                advertiser_id: claims.advertiser_id,
                video_id: creative.video_id.to_string(),
                format: claims.format,
                call_to_action: creative.call_to_action,
                landing_url: creative.landing_url.clone(),
                display_name: creative.display_name.clone(),
                impression_token: token,
                expires_at: Some(to_timestamp(expires_at)),
            }),
        })
    }

    fn debug(&self, plan: &Plan, out: &[i64], positions: &[u32]) -> Vec<pb::SlotAuctionDebug> {
        let reasons = [
            "",
            "",
            "frequency_cap",
            "budget",
            "pacing",
            "campaign_budget",
            "",
        ];
        let mut candidates: Vec<pb::AuctionCandidate> = plan
            .infeed
            .iter()
            .enumerate()
            .take(20)
            .map(|(i, c)| {
                let status = out.get(1 + i).copied().unwrap_or(6);
                pb::AuctionCandidate {
                    ad_group_id: c.ad_group_id.to_string(),
                    ad_id: c.creative.id.to_string(),
                    bid_type: c.bid_type as i32,
                    bid_cents: c.bid_cents,
                    predicted_action_rate: c.rate,
                    quality: c.quality,
                    ecpm_millicents: c.ecpm.round() as i64,
                    filtered_reason: reasons
                        .get(usize::try_from(status).unwrap_or(0))
                        .copied()
                        .unwrap_or("")
                        .to_owned(),
                }
            })
            .collect();
        candidates.extend(
            plan.filtered
                .iter()
                .take(20)
                .map(|(id, reason)| pb::AuctionCandidate {
                    ad_group_id: id.to_string(),
                    filtered_reason: (*reason).to_owned(),
                    ..Default::default()
                }),
        );
        vec![pb::SlotAuctionDebug {
            position: positions.first().copied().unwrap_or(0),
            reserve_ecpm_millicents: self.config.auction.reserve_ecpm_millicents,
            candidates,
        }]
    }
}

/// The clearing eCPM of a winner paying `price` per billable event.
fn clearing_ecpm(c: &crate::index::Candidate, price: i64) -> i64 {
    crate::auction::ecpm_millicents(price, c.w).round() as i64
}

/// What every token of one fill shares.
struct Fill {
    user: String,
    request_id: String,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// The reservation bucket the tokens' budget holds expire in.
    bucket: i64,
    segment: usize,
    want_topview: bool,
}

/// The ads the client asked not to see again; ids that do not parse name
/// no ad and are ignored.
fn excluded_ids(ids: &[String]) -> HashSet<Uuid> {
    ids.iter()
        .filter_map(|id| Uuid::parse_str(id).ok())
        .collect()
}

/// The script returns the TopView winner, then a status and a price per
/// in-feed candidate.
fn check_script_output(out: &[i64], n: usize) -> AdsResult<()> {
    if out.len() != 1 + 2 * n {
        return Err(AdsError::internal(anyhow::anyhow!(
            "serving script returned {} values for {n} candidates",
            out.len()
        )));
    }
    Ok(())
}

/// The token of a TopView delivery: the reservation's fixed CPM, nothing
/// reserved (the budget was committed when it was booked).
fn topview_claims(tv: &TopViewCandidate, fill: &Fill) -> pb::ImpressionTokenClaims {
    pb::ImpressionTokenClaims {
        impression_id: loop_platform::ids::new_id().to_string(),
        user_id: fill.user.clone(),
        ad_id: tv.creative.id.to_string(),
        ad_group_id: tv.entry.ad_group_id.to_string(),
        campaign_id: tv.entry.campaign_id.to_string(),
        advertiser_id: tv.advertiser_id.to_string(),
        format: pb::AdFormat::Topview as i32,
        bid_type: pb::BidType::Cpm as i32,
        price_millicents: tv.entry.cpm_cents,
        reservation_id: tv.entry.reservation_id.to_string(),
        request_id: fill.request_id.clone(),
        position: 0,
        issued_at: Some(to_timestamp(fill.now)),
        expires_at: Some(to_timestamp(fill.expires_at)),
        segment: predict::segment_key(fill.segment),
        reserved_millicents: 0,
        reservation_bucket: 0,
        key_id: String::new(),
    }
}

/// The token of an in-feed winner paying `price` per billable event; it
/// holds `ceil(price x billable rate)` (at least 1) of the budgets.
fn infeed_claims(
    c: &Candidate,
    fill: &Fill,
    position: u32,
    price: i64,
) -> pb::ImpressionTokenClaims {
    let reserved = ((price as f64) * c.billable_rate).ceil().max(1.0) as i64;
    pb::ImpressionTokenClaims {
        impression_id: loop_platform::ids::new_id().to_string(),
        user_id: fill.user.clone(),
        ad_id: c.creative.id.to_string(),
        ad_group_id: c.ad_group_id.to_string(),
        campaign_id: c.campaign_id.to_string(),
        advertiser_id: c.advertiser_id.to_string(),
        format: c.format as i32,
        bid_type: c.bid_type as i32,
        price_millicents: price,
        reservation_id: String::new(),
        request_id: fill.request_id.clone(),
        position,
        issued_at: Some(to_timestamp(fill.now)),
        expires_at: Some(to_timestamp(fill.expires_at)),
        segment: predict::segment_key(fill.segment),
        reserved_millicents: reserved,
        reservation_bucket: fill.bucket,
        key_id: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_distinct_sorted_and_never_adjacent() {
        assert_eq!(positions(&[11, 4]).expect("ok"), vec![4, 11]);
        assert_eq!(positions(&[0, 1, 2, 5]).expect("ok"), vec![0, 2, 5]);
        assert!(positions(&[3, 3]).is_err());
        assert!(positions(&(0..11).map(|i| i * 2).collect::<Vec<_>>()).is_err());
    }
}
