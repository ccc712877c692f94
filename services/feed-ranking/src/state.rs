//! Ranker state in Redis, shared by every replica. Keys (after the prefix):
//!
//! - `u:{user}:state`  `UserState` (protobuf): interest vector, event-time of
//!   the last event, per-partition high-water offsets and recent event ids
//!   (dedupe), events applied.
//! - `u:{user}:ver`    version counter of the state, for compare-and-set.
//! - `u:{user}:seen`   ZSET of videos shown (score = ms), trimmed to N.
//! - `u:{user}:follows` SET of followed creators (from `content.v1`).
//! - `u:{user}:profile` HASH country, interests, gender, birth_date (from `content.v1`).
//! - `u:{user}:sup:creator`, `u:{user}:sup:sound` HASH id -> ms ("not interested").
//! - `u:{user}:keywords` SET of keyword filters.
//! - `u:{user}:behav`  HASH `c:<category>` / `h:<hashtag>` -> ms of the last
//!   strong engagement (ad targeting's "engaged in the last 7 days"); the key
//!   expires 8 days after the last write.
//! - `v:{video}:learned` f32 LE vector added to the content vector.
//! - `v:learned:changes` ZSET video -> server ms of its last learned change.
//! - `trending:global`, `trending:cc:{CC}` ZSET of time-weighted engagement.

use loop_platform::cache::Redis;
use prost::Message;
use redis::AsyncCommands;

#[derive(Clone, PartialEq, prost::Message)]
pub struct PartitionOffset {
    #[prost(string, tag = "1")]
    pub topic: String,
    #[prost(int32, tag = "2")]
    pub partition: i32,
    #[prost(int64, tag = "3")]
    pub offset: i64,
}

/// A user's learned state.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UserState {
    #[prost(float, repeated, tag = "1")]
    pub vector: Vec<f32>,
    /// Event time (ms) of the last applied event, for decay.
    #[prost(int64, tag = "2")]
    pub last_event_ms: i64,
    #[prost(uint64, tag = "3")]
    pub events_applied: u64,
    #[prost(message, repeated, tag = "4")]
    pub high_water: Vec<PartitionOffset>,
    /// Legacy form of `recent_ids` (event ids as text); read, never written.
    #[prost(string, repeated, tag = "5")]
    pub recent_event_ids: Vec<String>,
    #[prost(int64, tag = "6")]
    pub updated_at_ms: i64,
    /// Events that pulled the vector toward a video (weight > 0).
    #[prost(uint64, tag = "7")]
    pub positive_events: u64,
    /// The most recent applied event ids (bounded), for retried client
    /// batches: 16 bytes each (the UUID, or a digest of another id), oldest
    /// first. Binary and fixed-size so the check is cheap and the state small.
    #[prost(bytes = "vec", tag = "8")]
    pub recent_ids: Vec<u8>,
}

/// The 16-byte dedupe key of an event id.
pub fn event_key(event_id: &str) -> [u8; 16] {
    match uuid::Uuid::parse_str(event_id) {
        Ok(u) => *u.as_bytes(),
        Err(_) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(event_id.as_bytes());
            let mut key = [0u8; 16];
            key.copy_from_slice(&digest[..16]);
            key
        }
    }
}

impl UserState {
    /// Decodes a stored state (older states' text ids become binary ones).
    pub fn decode_opt(bytes: Option<Vec<u8>>) -> Option<Self> {
        let mut state = bytes.and_then(|b| Self::decode(b.as_slice()).ok())?;
        if !state.recent_event_ids.is_empty() {
            let legacy = std::mem::take(&mut state.recent_event_ids);
            let mut ids = Vec::with_capacity(legacy.len() * 16 + state.recent_ids.len());
            for id in &legacy {
                ids.extend_from_slice(&event_key(id));
            }
            ids.extend_from_slice(&state.recent_ids);
            state.recent_ids = ids;
        }
        Some(state)
    }

    /// Whether (topic, partition, offset) or `event_id` was already applied.
    pub fn already_applied(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        event_id: &str,
    ) -> bool {
        self.high_water
            .iter()
            .any(|p| p.topic == topic && p.partition == partition && offset <= p.offset)
            || {
                let key = event_key(event_id);
                self.recent_ids.chunks_exact(16).any(|k| k == key)
            }
    }

    pub fn record(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        event_id: &str,
        window: usize,
    ) {
        match self
            .high_water
            .iter_mut()
            .find(|p| p.topic == topic && p.partition == partition)
        {
            Some(p) => p.offset = p.offset.max(offset),
            None => self.high_water.push(PartitionOffset {
                topic: topic.to_owned(),
                partition,
                offset,
            }),
        }
        self.recent_ids.extend_from_slice(&event_key(event_id));
        if self.recent_ids.len() > window * 16 {
            let excess = self.recent_ids.len() - window * 16;
            self.recent_ids.drain(..excess);
        }
        self.events_applied += 1;
    }
}

pub fn state_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:state"))
}
pub fn version_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:ver"))
}
pub fn seen_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:seen"))
}
pub fn follows_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:follows"))
}
pub fn profile_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:profile"))
}
pub fn suppressed_creators_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:sup:creator"))
}
pub fn suppressed_sounds_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:sup:sound"))
}
pub fn keywords_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:keywords"))
}
pub fn behaviors_key(r: &Redis, user: &str) -> String {
    r.key(&format!("u:{user}:behav"))
}
pub fn learned_key(r: &Redis, video: &str) -> String {
    r.key(&format!("v:{video}:learned"))
}
pub fn trending_key(r: &Redis, country: Option<&str>) -> String {
    match country {
        Some(cc) => r.key(&format!("trending:cc:{cc}")),
        None => r.key("trending:global"),
    }
}

pub fn f32s_to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn bytes_to_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Applies a batch atomically: every user state is written only if its
/// version is unchanged (else nothing is written and the index of the first
/// conflicting user is returned), together with the video deltas and
/// trending increments its events produced.
///
/// KEYS: for each user: state, ver; then each video learned key; then each
/// trending key; then the learned-changes ZSET. ARGV: n_users, n_videos,
/// n_trending, then per user (expected version, new state), per video the
/// f32 LE delta, per trending key (member, increment), then per video its id
/// (scored in the changes ZSET with the server's time, so replicas can pick
/// up what changed since they last looked).
pub const APPLY_BATCH: &str = r"
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local t = tonumber(ARGV[3])
-- Multi-key commands instead of one call per key (each redis.call costs
-- about as much as the work it does), in chunks: Lua's unpack is limited to
-- a few thousand values.
local CHUNK = 1000
local function mget(first, step, count)
  local out = {}
  local i = 0
  while i < count do
    local last = math.min(count, i + CHUNK)
    local keys = {}
    for j = i + 1, last do
      keys[#keys + 1] = KEYS[first + (j - 1) * step]
    end
    local got = redis.call('MGET', unpack(keys))
    for j = 1, #got do
      out[i + j] = got[j]
    end
    i = last
  end
  return out
end
local function chunked(cmd, key, flat)
  local i = 0
  while i < #flat do
    local last = math.min(#flat, i + 2 * CHUNK)
    if key then
      redis.call(cmd, key, unpack(flat, i + 1, last))
    else
      redis.call(cmd, unpack(flat, i + 1, last))
    end
    i = last
  end
end
if n > 0 then
  local versions = mget(2, 2, n)
  for i = 1, n do
    if (versions[i] or '0') ~= ARGV[3 + 2 * i - 1] then
      return i
    end
  end
  -- Each state with its version + 1 (what INCR would store), in one MSET.
  local states = {}
  for i = 1, n do
    states[#states + 1] = KEYS[2 * i - 1]
    states[#states + 1] = ARGV[3 + 2 * i]
    states[#states + 1] = KEYS[2 * i]
    states[#states + 1] = tostring(tonumber(versions[i] or '0') + 1)
  end
  chunked('MSET', nil, states)
end
local a = 3 + 2 * n
if m > 0 then
  local current = mget(2 * n + 1, 1, m)
  local formats = {}
  local writes = {}
  for j = 1, m do
    local delta = ARGV[a + j]
    local cur = current[j]
    local value = delta
    if cur and #cur == #delta then
      local dims = #delta / 4
      local fmt = formats[dims]
      if not fmt then
        fmt = '<' .. string.rep('f', dims)
        formats[dims] = fmt
      end
      local x = {struct.unpack(fmt, delta)}
      local y = {struct.unpack(fmt, cur)}
      for d = 1, dims do
        x[d] = x[d] + y[d]
      end
      value = struct.pack(fmt, unpack(x, 1, dims))
    end
    writes[#writes + 1] = KEYS[2 * n + j]
    writes[#writes + 1] = value
  end
  chunked('MSET', nil, writes)
end
a = a + m
for k = 1, t do
  local key = KEYS[2 * n + m + k]
  redis.call('ZINCRBY', key, ARGV[a + 2 * k], ARGV[a + 2 * k - 1])
end
a = a + 2 * t
if m > 0 then
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  local changes = {}
  for j = 1, m do
    changes[#changes + 1] = ms
    changes[#changes + 1] = ARGV[a + j]
  end
  chunked('ZADD', KEYS[2 * n + m + t + 1], changes)
end
return 0
";

pub fn learned_changes_key(r: &Redis) -> String {
    r.key("v:learned:changes")
}

/// Resets a user to the cold state if their version is unchanged: KEYS
/// state, ver, seen; ARGV expected version, new state (empty: delete).
/// Returns 1 when done, 0 on a concurrent change (retry).
pub const RESET_STATE: &str = r"
local v = redis.call('GET', KEYS[2]) or '0'
if v ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('INCR', KEYS[2])
redis.call('DEL', KEYS[3])
return 1
";

/// Reads the learned parts of `videos` (missing ones are empty).
pub async fn learned_vectors(
    r: &Redis,
    videos: &[String],
) -> redis::RedisResult<Vec<Option<Vec<f32>>>> {
    if videos.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = videos.iter().map(|v| learned_key(r, v)).collect();
    let mut conn = r.conn.clone();
    let raw: Vec<Option<Vec<u8>>> = conn.mget(keys).await?;
    Ok(raw
        .into_iter()
        .map(|b| b.map(|b| bytes_to_f32s(&b)))
        .collect())
}
