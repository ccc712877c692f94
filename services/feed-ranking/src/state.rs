//! Ranker state in Redis, shared by every replica. Keys (after the prefix):
//!
//! - `u:{user}:state`  `UserState` (protobuf): interest vector, event-time of
//!   the last event, per-partition high-water offsets and recent event ids
//!   (dedupe), events applied.
//! - `u:{user}:ver`    version counter of the state, for compare-and-set.
//! - `u:{user}:co`, `u:{user}:cover` the co-engagement consumer's state of
//!   the user (recent videos, dedupe memory) and its version.
//! - `u:{user}:seen`   ZSET of videos shown (score = ms), trimmed to N.
//! - `u:{user}:follows` SET of followed creators (from `content.v1`).
//! - `u:{user}:profile` HASH country, interests, gender, birth_date (from `content.v1`).
//! - `u:{user}:sup:creator`, `u:{user}:sup:sound` HASH id -> ms ("not interested").
//! - `u:{user}:keywords` SET of keyword filters.
//! - `v:{video}:learned` f32 LE vector added to the content vector.
//! - `v:learned:log`    STREAM, one entry per applied batch listing the videos
//!   whose learned vectors changed (`v` fields), trimmed to about
//!   `LEARNED_LOG_ENTRIES` entries; replicas read it from where they left off.
//! - `v:learned:all`    SET of every video with a learned vector (what a
//!   replica loads in full at start, or when it fell behind the log's trim).
//! - `trending:global`, `trending:cc:{CC}` ZSET of time-weighted engagement.
//! - `v:{video}:co`     ZSET of the videos viewers engaged with next, by how
//!   many did (co-engagement, "viewers of X also watched").
//! - `v:engaged`        ZSET of videos by how many viewers engaged with them.
//! - `rank:model`       HASH partition -> the ranking weights' logistic model
//!   learned from that partition's labelled impressions (see `rank`).

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
    /// Recent strong engagement (ad targeting's "engaged in the last 7
    /// days"): per category or hashtag, the event time of the last one.
    /// Kept in the state, so it is written in the same atomic step as the
    /// vector (no extra keys per event) and rebuilt by a replay. Packed (see
    /// [`UserState::behaviors`]) so that reading a state costs one
    /// allocation, not one per entry.
    #[prost(bytes = "vec", tag = "9")]
    pub behaviors: Vec<u8>,
    /// The videos engaged with positively (credited), oldest first, at
    /// most `learning.co_history`, in the order they were counted: the
    /// last `learning.co_window` are what a new positive engagement counts
    /// as co-engaged with (`v:{video}:co`), the newest are what For You
    /// asks for neighbours, and the oldest, when it leaves, takes its
    /// counts with it (see [`UserState::note_positive`]). Kept in the
    /// co-engagement consumer's state (`u:{user}:co`). Packed (see
    /// [`UserState::recent_videos`]).
    #[prost(bytes = "vec", tag = "10")]
    pub recent_positive: Vec<u8>,
    /// Impressions served with their features, waiting for their label
    /// (the co-engagement consumer's state; see `rank`). Packed (see
    /// [`crate::rank::parse_pending`]).
    #[prost(bytes = "vec", tag = "11")]
    pub pending: Vec<u8>,
    /// How many of the oldest `recent_positive` For You no longer asks for
    /// neighbours (a feed refresh hides them; they stay for the counts'
    /// sake, so what the viewer added still leaves when it should).
    #[prost(uint32, tag = "12")]
    pub hidden_recent: u32,
}

/// What one positive engagement changes in the co-engagement counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoChange {
    /// The video is one more viewer's, co-engaged with each of these
    /// (newest first): +1 each.
    pub sources: Vec<String>,
    /// The oldest video left the history: -1 for each of its pairs
    /// (the video, then what it was counted as a source of) and for its
    /// audience.
    pub expired: Option<(String, Vec<String>)>,
}

/// Packed recent videos, each: 0 then the 16 bytes of a UUID, or the id's
/// length (1..=255) then the id (ids that are not UUIDs).
fn parse_videos(mut b: &[u8]) -> impl Iterator<Item = String> + '_ {
    std::iter::from_fn(move || {
        let (id, rest) = split_video(b)?;
        b = rest;
        Some(id)
    })
}

/// The first packed video of `b` and what follows it.
pub(crate) fn split_video(b: &[u8]) -> Option<(String, &[u8])> {
    let (&tag, rest) = b.split_first()?;
    let len = if tag == 0 { 16 } else { usize::from(tag) };
    if rest.len() < len {
        return None;
    }
    let (id, rest) = rest.split_at(len);
    let id = if tag == 0 {
        uuid::Uuid::from_slice(id).map_or_else(|_| String::new(), |u| u.to_string())
    } else {
        String::from_utf8_lossy(id).into_owned()
    };
    Some((id, rest))
}

pub(crate) fn pack_video(out: &mut Vec<u8>, id: &str) {
    // Only the canonical (lower-case, hyphenated) form round-trips as 16 bytes.
    match uuid::Uuid::parse_str(id) {
        Ok(u) if u.to_string() == id => {
            out.push(0);
            out.extend_from_slice(u.as_bytes());
        }
        _ => {
            out.push(id.len() as u8);
            out.extend_from_slice(id.as_bytes());
        }
    }
}

/// What a behaviour is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BehaviorKind {
    Category,
    Hashtag,
}

impl BehaviorKind {
    fn tag(self) -> u8 {
        match self {
            Self::Category => b'c',
            Self::Hashtag => b'h',
        }
    }
    fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            b'c' => Some(Self::Category),
            b'h' => Some(Self::Hashtag),
            _ => None,
        }
    }
}

/// Packed behaviours, each: kind tag, value length (u16 LE), value, ms (i64 LE).
fn parse_behaviors(mut b: &[u8]) -> impl Iterator<Item = (BehaviorKind, &str, i64)> {
    std::iter::from_fn(move || {
        loop {
            if b.len() < 3 {
                return None;
            }
            let len = usize::from(u16::from_le_bytes([b[1], b[2]]));
            if b.len() < 11 + len {
                return None;
            }
            let (tag, value) = (b[0], &b[3..3 + len]);
            let ms = i64::from_le_bytes(b[3 + len..11 + len].try_into().ok()?);
            b = &b[11 + len..];
            if let (Some(kind), Ok(value)) =
                (BehaviorKind::from_tag(tag), std::str::from_utf8(value))
            {
                return Some((kind, value, ms));
            }
        }
    })
}

/// How far back behaviours are kept (ad targeting looks back 7 days).
pub const BEHAVIOR_LOOKBACK_MS: i64 = 7 * 24 * 3_600_000;
/// At most this many behaviours per user (the most recent ones).
pub const MAX_BEHAVIORS: usize = 32;

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

    /// The recently engaged videos For You asks for neighbours, newest
    /// first, at most `limit` (those a refresh hid left out).
    pub fn recent_videos(&self, limit: usize) -> Vec<String> {
        let mut spans = Vec::new();
        let mut rest = self.recent_positive.as_slice();
        while let Some(&tag) = rest.first() {
            let len = 1 + if tag == 0 { 16 } else { usize::from(tag) };
            if rest.len() < len {
                break;
            }
            spans.push(&rest[..len]);
            rest = &rest[len..];
        }
        let hidden = (self.hidden_recent as usize).min(spans.len());
        spans[hidden..]
            .iter()
            .rev()
            .take(limit)
            .filter_map(|b| split_video(b).map(|(id, _)| id))
            .collect()
    }

    /// Notes a positive engagement with `video`, keeping the last
    /// `history` videos counted. When it is new to the last `window`, it
    /// is appended, co-engaged with those (`CoChange::sources`); beyond
    /// `history` the oldest leaves (`CoChange::expired`), its counts with
    /// it: what it was counted as a source of (the `window` videos after
    /// it) and its audience. Each viewer's contributions therefore last
    /// as long as their history, every count is a sum of +1s and -1s in
    /// each viewer's own event order, and a replay counts the same in any
    /// interleaving. When the video is among the last `window` already (a
    /// like after the view), nothing changes and None is returned, so one
    /// viewer counts a pair once.
    pub fn note_positive(
        &mut self,
        video: &str,
        window: usize,
        history: usize,
    ) -> Option<CoChange> {
        if video.is_empty() || video.len() > 255 || window == 0 {
            return None;
        }
        let history = history.max(window);
        let mut recent: Vec<String> = parse_videos(&self.recent_positive).collect();
        let start = recent.len().saturating_sub(window);
        if recent[start..].iter().any(|v| v == video) {
            return None;
        }
        let mut change = CoChange {
            sources: recent[start..].iter().rev().cloned().collect(),
            expired: None,
        };
        recent.push(video.to_owned());
        // At most one leaves per engagement once the history is full
        // (more only after `history` was lowered: then each leaving one
        // needs its own pairs, so the excess goes one engagement at a time).
        if recent.len() > history {
            let gone = recent.remove(0);
            let successors = recent[..window.min(recent.len())].to_vec();
            change.expired = Some((gone, successors));
            self.hidden_recent = self.hidden_recent.saturating_sub(1);
        }
        let mut packed = Vec::with_capacity(self.recent_positive.len() + 17);
        for v in &recent {
            pack_video(&mut packed, v);
        }
        self.recent_positive = packed;
        Some(change)
    }

    /// Recent strong engagement, newest first.
    pub fn behaviors(&self) -> impl Iterator<Item = (BehaviorKind, &str, i64)> {
        parse_behaviors(&self.behaviors)
    }

    /// Notes a strong engagement with `noted` at event time `ms`: the newest
    /// time per value wins (a late event never moves it back), entries older
    /// than the lookback before the newest are dropped, and beyond
    /// `MAX_BEHAVIORS` the oldest go. Depends on event times only, so a
    /// replay rebuilds the same list.
    pub fn note_behaviors<'a>(
        &mut self,
        noted: impl IntoIterator<Item = (BehaviorKind, &'a str)>,
        ms: i64,
    ) {
        let mut entries: Vec<(BehaviorKind, &str, i64)> = self.behaviors().collect();
        for (kind, value) in noted {
            if value.is_empty() || value.len() > usize::from(u16::MAX) {
                continue;
            }
            match entries
                .iter_mut()
                .find(|(k, v, _)| *k == kind && *v == value)
            {
                Some(e) => e.2 = e.2.max(ms),
                None => entries.push((kind, value, ms)),
            }
        }
        let newest = entries.iter().map(|e| e.2).max().unwrap_or(ms);
        entries.retain(|e| e.2 >= newest - BEHAVIOR_LOOKBACK_MS);
        entries.sort_unstable_by(|a, b| b.2.cmp(&a.2).then_with(|| (a.0, a.1).cmp(&(b.0, b.1))));
        entries.truncate(MAX_BEHAVIORS);
        let mut packed = Vec::with_capacity(entries.iter().map(|e| 11 + e.1.len()).sum());
        for (kind, value, ms) in entries {
            packed.push(kind.tag());
            packed.extend_from_slice(&(value.len() as u16).to_le_bytes());
            packed.extend_from_slice(value.as_bytes());
            packed.extend_from_slice(&ms.to_le_bytes());
        }
        self.behaviors = packed;
    }
}

pub fn state_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":state"])
}
pub fn version_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":ver"])
}
/// The co-engagement consumer's state of `user` (a `UserState` holding the
/// recent videos and the dedupe memory only).
pub fn co_state_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":co"])
}
pub fn co_version_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":cover"])
}
pub fn seen_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":seen"])
}
pub fn follows_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":follows"])
}
pub fn profile_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":profile"])
}
pub fn suppressed_creators_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":sup:creator"])
}
pub fn suppressed_sounds_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":sup:sound"])
}
pub fn keywords_key(r: &Redis, user: &str) -> String {
    r.key_of(&["u:", user, ":keywords"])
}
pub fn learned_key(r: &Redis, video: &str) -> String {
    r.key_of(&["v:", video, ":learned"])
}
/// ZSET: the videos viewers engaged with after `video` (among their next
/// `learning.co_window` positive engagements), scored by how many did
/// (of the viewers whose history still holds `video`).
pub fn co_key(r: &Redis, video: &str) -> String {
    r.key_of(&["v:", video, ":co"])
}
/// The ranking models, one field per partition of `engagement.v1`.
pub fn rank_model_key(r: &Redis) -> String {
    r.key("rank:model")
}

/// ZSET: per video, how many viewers engaged with it positively (of those
/// whose history holds it; see `learning.co_history`).
pub fn engaged_key(r: &Redis) -> String {
    r.key("v:engaged")
}
pub fn trending_key(r: &Redis, country: Option<&str>) -> String {
    match country {
        Some(cc) => r.key_of(&["trending:cc:", cc]),
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
/// conflicting user is returned), together with the video deltas and the
/// sorted-set increments (trending, co-engagement, audiences) its events
/// produced (a sorted-set member whose count a negative change brings to
/// 0 is removed: co-engagement counts leaving with a viewer's history).
///
/// A video's learned vector is shared by every consumer, so it is not
/// compare-and-set: when it is still what the caller read (nearly always),
/// the caller's sum is stored; otherwise the caller's change (sum - read) is
/// added to what is there. Only the read value and the sum are passed:
/// every byte given to a script is hashed.
///
/// KEYS: for each user: state, ver; then each video learned key; then each
/// sorted set to increment; then the learned log (stream) and the learned
/// set. ARGV: n_users, n_videos, n_sorted_sets, then per user (expected
/// version, new state), per video (the f32 LE value the caller read, empty
/// when there was none, and that value plus the batch's delta), per sorted
/// set the number of its members and then (member, increment) each, then per
/// video its id (added to the learned set, and listed in one log entry, so
/// replicas can pick up what changed since they last looked).
pub const APPLY_BATCH: &str = r"
local n = tonumber(ARGV[1])
local m = tonumber(ARGV[2])
local t = tonumber(ARGV[3])
-- The ranking models (the last KEY, the last ARGVs: q triples of field,
-- value read, new value, then q) are compare-and-set before any write.
local q = tonumber(ARGV[#ARGV])
local qbase = #ARGV - 1 - 3 * q
for i = 1, q do
  local cur = redis.call('HGET', KEYS[#KEYS], ARGV[qbase + 3 * i - 2]) or ''
  if cur ~= ARGV[qbase + 3 * i - 1] then
    return -1
  end
end
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
    local read = ARGV[a + 2 * j - 1]
    local sum = ARGV[a + 2 * j]
    local cur = current[j]
    local value = sum
    if (cur or '') ~= read and cur and #cur == #sum then
      -- Another consumer wrote since the read: add this batch's change
      -- (sum - read) to what is there.
      local dims = #sum / 4
      local fmt = formats[dims]
      if not fmt then
        fmt = '<' .. string.rep('f', dims)
        formats[dims] = fmt
      end
      local x = {struct.unpack(fmt, sum)}
      local y = {struct.unpack(fmt, cur)}
      if #read == #sum then
        local r = {struct.unpack(fmt, read)}
        for d = 1, dims do
          x[d] = x[d] - r[d] + y[d]
        end
      else
        for d = 1, dims do
          x[d] = x[d] + y[d]
        end
      end
      value = struct.pack(fmt, unpack(x, 1, dims))
    end
    writes[#writes + 1] = KEYS[2 * n + j]
    writes[#writes + 1] = value
  end
  chunked('MSET', nil, writes)
end
a = a + 2 * m
for k = 1, t do
  local key = KEYS[2 * n + m + k]
  local c = tonumber(ARGV[a + 1])
  a = a + 1
  for i = 1, c do
    local by = ARGV[a + 2 * i]
    local now = redis.call('ZINCRBY', key, by, ARGV[a + 2 * i - 1])
    -- A count that drops to 0 (a viewer's contribution leaving) goes.
    if tonumber(by) < 0 and tonumber(now) <= 0 then
      redis.call('ZREM', key, ARGV[a + 2 * i - 1])
    end
  end
  a = a + 2 * c
end
if m > 0 then
  -- One log entry (per chunk) for the whole batch: appending is far cheaper
  -- than re-scoring each video in a sorted set.
  local log = KEYS[2 * n + m + t + 1]
  local ids = {}
  local fields = {}
  for j = 1, m do
    ids[#ids + 1] = ARGV[a + j]
    fields[#fields + 1] = 'v'
    fields[#fields + 1] = ARGV[a + j]
  end
  chunked('SADD', KEYS[2 * n + m + t + 2], ids)
  local i = 0
  while i < #fields do
    local last = math.min(#fields, i + 2 * CHUNK)
    redis.call('XADD', log, 'MAXLEN', '~', ARGV[a + m + 1], '*', unpack(fields, i + 1, last))
    i = last
  end
end
for i = 1, q do
  redis.call('HSET', KEYS[#KEYS], ARGV[qbase + 3 * i - 2], ARGV[qbase + 3 * i])
end
return 0
";

/// About how many batches the learned log keeps. A replica that has not
/// looked for longer (minutes at full consume speed, far longer at normal
/// rates) reloads every learned vector instead.
pub const LEARNED_LOG_ENTRIES: usize = 4096;

pub fn learned_log_key(r: &Redis) -> String {
    r.key("v:learned:log")
}

pub fn learned_set_key(r: &Redis) -> String {
    r.key("v:learned:all")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviors_keep_the_newest_time_within_the_lookback_and_bound() {
        use BehaviorKind::{Category, Hashtag};
        let mut s = UserState::default();
        s.note_behaviors([(Hashtag, "cats"), (Category, "pets")], 1_000);
        s.note_behaviors([(Hashtag, "cats")], 500); // a late event does not move it back
        let got: Vec<_> = s.behaviors().collect();
        assert_eq!(got, [(Category, "pets", 1_000), (Hashtag, "cats", 1_000)]);

        // Older than the lookback before the newest event: dropped.
        s.note_behaviors([(Hashtag, "dogs")], 1_000 + BEHAVIOR_LOOKBACK_MS + 1);
        let got: Vec<_> = s.behaviors().collect();
        assert_eq!(got, [(Hashtag, "dogs", 1_000 + BEHAVIOR_LOOKBACK_MS + 1)]);

        // Beyond the bound the oldest go first; newest first.
        let base = 2_000 + BEHAVIOR_LOOKBACK_MS;
        for i in 0..(MAX_BEHAVIORS as i64 + 5) {
            s.note_behaviors([(Hashtag, format!("t{i}").as_str())], base + i);
        }
        let got: Vec<_> = s.behaviors().collect();
        assert_eq!(got.len(), MAX_BEHAVIORS);
        assert_eq!(got[0].2, base + MAX_BEHAVIORS as i64 + 4);
        assert_eq!(got[MAX_BEHAVIORS - 1].2, base + 5);
        assert!(!got.iter().any(|b| b.1 == "dogs"));

        // It survives the stored form.
        let decoded = UserState::decode_opt(Some(s.encode_to_vec())).expect("decodes");
        assert_eq!(decoded.behaviors().collect::<Vec<_>>(), got);
    }

    #[test]
    fn recent_videos_keep_the_window_and_count_a_video_once() {
        let a = "00000000-0000-7000-9000-000000000001";
        let b = "not-a-uuid";
        let c = "00000000-0000-7000-9000-000000000003";
        let upper = "00000000-0000-7000-9000-00000000000A";
        let sources = |v: &[&str]| {
            Some(CoChange {
                sources: v.iter().map(|x| (*x).to_owned()).collect(),
                expired: None,
            })
        };
        let mut s = UserState::default();
        assert_eq!(s.note_positive(a, 3, 3), sources(&[]));
        assert_eq!(s.note_positive(b, 3, 3), sources(&[a]));
        // A like after the view: already there, nothing changes.
        assert_eq!(s.note_positive(a, 3, 3), None);
        assert_eq!(s.recent_videos(10), [b, a]);
        assert_eq!(s.note_positive(c, 3, 3), sources(&[b, a]));
        // Beyond the history the oldest goes, taking its counts: it was a
        // source of the (up to window) videos after it. Ids keep their
        // exact text.
        let change = s.note_positive(upper, 3, 3).expect("new");
        assert_eq!(change.sources, [c, b, a]);
        // (a was a source of upper too: that +1 and -1 cancel.)
        assert_eq!(
            change.expired,
            Some((
                a.to_owned(),
                vec![b.to_owned(), c.to_owned(), upper.to_owned()]
            ))
        );
        assert_eq!(s.recent_videos(10), [upper, c, b]);
        assert_eq!(s.recent_videos(2), [upper, c]);
        // UUIDs take 17 bytes, other ids their length + 1.
        assert_eq!(s.recent_positive.len(), 17 + 11 + 37);
        let decoded = UserState::decode_opt(Some(s.encode_to_vec())).expect("decodes");
        assert_eq!(decoded.recent_videos(10), [upper, c, b]);
        assert_eq!(s.note_positive("", 3, 3), None);
    }

    #[test]
    fn a_longer_history_keeps_counts_after_the_window_and_a_refresh_hides_it() {
        let ids: Vec<String> = (0..6)
            .map(|i| format!("00000000-0000-7000-9000-{i:012}"))
            .collect();
        let mut s = UserState::default();
        // Window 2, history 4: pairs with the last two; the first leaves
        // at the fifth.
        for (i, id) in ids.iter().enumerate().take(4) {
            let change = s.note_positive(id, 2, 4).expect("new");
            let want: Vec<String> = ids[i.saturating_sub(2)..i].iter().rev().cloned().collect();
            assert_eq!(change.sources, want);
            assert_eq!(change.expired, None);
        }
        // Outside the window again: counted again.
        let again = s.note_positive(&ids[0], 2, 4).expect("new to the window");
        assert_eq!(again.sources, [ids[3].clone(), ids[2].clone()]);
        assert_eq!(
            again.expired,
            Some((ids[0].clone(), vec![ids[1].clone(), ids[2].clone()]))
        );
        // A refresh hides what is there from For You; the history stays.
        s.hidden_recent = 4;
        assert!(s.recent_videos(10).is_empty());
        let change = s.note_positive(&ids[5], 2, 4).expect("new");
        assert_eq!(
            change.expired,
            Some((ids[1].clone(), vec![ids[2].clone(), ids[3].clone()]))
        );
        assert_eq!(s.hidden_recent, 3);
        assert_eq!(s.recent_videos(10), [ids[5].clone()]);
    }
}
