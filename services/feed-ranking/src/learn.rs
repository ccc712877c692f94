//! Learning from `engagement.v1`: each event moves the user's vector toward
//! (or away from) the video's content vector, weighted by what the viewer
//! did, with event-time decay. The video's learned vector moves toward the
//! viewer, and trending counters grow. A batch is applied atomically per
//! user with compare-and-set, and each event at most once (partition
//! high-water offsets plus recent event ids).
//!
//! User vectors depend only on the user's own events (read in partition
//! order) and on content vectors computed from the event itself, so a replay
//! from `engagement.v1` rebuilds the same vectors.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use loop_platform::cache::Redis;
use loop_platform::kafka::{BatchHandler, Delivery, topics};
use loop_proto::events::v1::{
    EngagementCredit, EngagementEvent, EngagementKind, NotInterestedTarget, WalletEvent,
    wallet_event,
};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::embed::{self, Features};
use crate::state::{self, UserState};

/// How much each action pulls the viewer toward a video (negative: away).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    /// Watched to the end (>= 90%).
    pub complete_view: f32,
    /// Watched more than twice through.
    pub rewatch: f32,
    /// Per fraction watched below 90% (from 30%; shorter views carry no signal).
    pub partial_view: f32,
    pub like: f32,
    pub unlike: f32,
    pub share: f32,
    pub comment: f32,
    pub follow: f32,
    pub profile_visit: f32,
    pub gift: f32,
    pub quick_skip: f32,
    pub not_interested: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            complete_view: 1.0,
            rewatch: 1.5,
            partial_view: 0.5,
            like: 1.2,
            unlike: -1.2,
            share: 1.5,
            comment: 1.0,
            follow: 1.5,
            profile_visit: 0.3,
            gift: 2.0,
            quick_skip: -0.6,
            not_interested: -2.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LearningConfig {
    /// Vector dimension (changing it needs a rebuild).
    pub dim: usize,
    /// Step toward a video per unit of weight.
    pub learning_rate: f32,
    /// Step of a video's learned vector toward its viewer per unit of weight.
    pub video_learning_rate: f32,
    /// Interests fade with this half-life of event time.
    pub half_life_hours: f64,
    /// Weight of the declared interests next to the learned vector when ranking.
    pub cold_start_prior: f32,
    /// Recent event ids remembered per user to drop retried duplicates.
    pub dedupe_window: usize,
    /// Trending scores halve every this many hours.
    pub trending_half_life_hours: f64,
    pub weights: Weights,
}

impl Default for LearningConfig {
    fn default() -> Self {
        Self {
            dim: 64,
            learning_rate: 0.2,
            video_learning_rate: 0.02,
            half_life_hours: 72.0,
            cold_start_prior: 0.5,
            // A client batch is at most 100 events (the gateway's limit), so
            // a whole retried batch is recognised; every id rides in the
            // state, which the batch script hashes byte by byte, so the
            // window is not larger.
            dedupe_window: 128,
            trending_half_life_hours: 12.0,
            weights: Weights::default(),
        }
    }
}

impl LearningConfig {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if !(8..=1024).contains(&self.dim) {
            problems.push("learning.dim: must be 8..=1024".into());
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            problems.push("learning.learning_rate: must be in (0, 1]".into());
        }
        if !(self.video_learning_rate >= 0.0 && self.video_learning_rate <= 1.0) {
            problems.push("learning.video_learning_rate: must be in [0, 1]".into());
        }
        if self.half_life_hours <= 0.0 || self.trending_half_life_hours <= 0.0 {
            problems.push("learning: half-lives must be positive".into());
        }
        if !(100..=100_000).contains(&self.dedupe_window) {
            problems.push(
                "learning.dedupe_window: must be 100..=100000 (a retried client batch holds up to 100 events)"
                    .into(),
            );
        }
    }

    /// The pull of one event (0 when it carries no signal).
    pub fn weight(&self, e: &EngagementEvent) -> f32 {
        let w = &self.weights;
        match e.kind() {
            EngagementKind::View => {
                let fraction = e.watch_ms as f32 / e.video_duration_ms.max(1) as f32;
                if fraction >= 2.0 {
                    w.rewatch
                } else if fraction >= 0.9 {
                    w.complete_view
                } else if fraction >= 0.3 {
                    w.partial_view * fraction
                } else {
                    0.0
                }
            }
            EngagementKind::Like => w.like,
            EngagementKind::Unlike => w.unlike,
            EngagementKind::Share => w.share,
            EngagementKind::Comment => w.comment,
            EngagementKind::Follow => w.follow,
            EngagementKind::ProfileVisit => w.profile_visit,
            EngagementKind::QuickSkip => w.quick_skip,
            EngagementKind::NotInterested => w.not_interested,
            EngagementKind::Impression | EngagementKind::Unspecified => 0.0,
        }
    }

    /// The vector a viewer is ranked with: the learned vector (normalised)
    /// plus their declared interests as a prior; `None` when there is neither.
    pub fn ranking_vector(
        &self,
        learned: Option<&[f32]>,
        interests: &[String],
    ) -> Option<Vec<f32>> {
        let mut v = vec![0.0f32; self.dim];
        let mut any = false;
        if let Some(l) = learned.filter(|l| l.len() == self.dim && embed::norm(l) > 1e-6) {
            let n = embed::norm(l);
            v.iter_mut().zip(l).for_each(|(x, y)| *x += y / n);
            any = true;
        }
        if !interests.is_empty() {
            let i = embed::interests_vector(interests, self.dim);
            v.iter_mut()
                .zip(&i)
                .for_each(|(x, y)| *x += self.cold_start_prior * y);
            any = true;
        }
        any.then(|| {
            embed::normalize(&mut v);
            v
        })
    }

    /// Applies one event to `state` (decay, then a step of `weight`).
    pub fn apply(&self, state: &mut UserState, e: &EngagementEvent, weight: f32) {
        let event_ms = e
            .occurred_at
            .as_ref()
            .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000);
        if state.vector.len() != self.dim {
            state.vector = vec![0.0; self.dim];
        }
        if state.last_event_ms > 0 && event_ms > state.last_event_ms {
            let hours = (event_ms - state.last_event_ms) as f64 / 3_600_000.0;
            let decay = 0.5f64.powf(hours / self.half_life_hours) as f32;
            state.vector.iter_mut().for_each(|x| *x *= decay);
        }
        state.last_event_ms = state.last_event_ms.max(event_ms);
        if weight > 0.0 {
            state.positive_events += 1;
        }
        if weight != 0.0 {
            let content = event_content_vector(e, self.dim);
            for (x, c) in state.vector.iter_mut().zip(&content) {
                *x += self.learning_rate * weight * c;
            }
        }
    }
}

/// The content vector of the event's video, computed from the event alone
/// (so replay does not depend on the catalog's timing).
pub fn event_content_vector(e: &EngagementEvent, dim: usize) -> Vec<f32> {
    embed::content_vector(
        &Features {
            hashtags: &e.hashtags,
            category: &e.category,
            creator_id: &e.creator_id,
            sound_id: &e.sound_id,
            caption: "",
        },
        dim,
    )
}

/// Strong engagement for ad targeting's behaviours: a full watch, like,
/// share, comment, follow or gift (gifts arrive without a kind).
fn is_strong(e: &EngagementEvent) -> bool {
    match e.kind() {
        EngagementKind::View => e.watch_ms as f32 >= 0.9 * e.video_duration_ms.max(1) as f32,
        EngagementKind::Like
        | EngagementKind::Share
        | EngagementKind::Comment
        | EngagementKind::Follow
        | EngagementKind::Unspecified => true,
        _ => false,
    }
}

/// A monotone time weight for trending: adding `w * 2^(t / half_life)`
/// ranks like a sum of exponentially decayed weights, without rewrites.
pub fn trending_increment(weight: f32, event_ms: i64, half_life_hours: f64) -> f64 {
    // Epoch 2026-01-01 keeps exponents small for years of operation.
    const EPOCH_MS: i64 = 1_767_225_600_000;
    let hours = (event_ms - EPOCH_MS) as f64 / 3_600_000.0;
    f64::from(weight) * 2f64.powf(hours / half_life_hours)
}

/// The `engagement.v1` (and `wallet.v1`: gifts are strong engagement)
/// consumer.
#[derive(Clone)]
pub struct EngagementHandler {
    pub redis: Redis,
    pub config: LearningConfig,
    /// Where a gifted video's features come from (gift events carry only
    /// the video id). Without it a gift pulls toward the creator alone.
    pub catalog: Option<Arc<Catalog>>,
}

impl EngagementHandler {
    pub fn new(redis: Redis, config: LearningConfig, catalog: Option<Arc<Catalog>>) -> Self {
        Self {
            redis,
            config,
            catalog,
        }
    }

    /// A gift as an engagement event of the sender with the gifted video (or
    /// the LIVE room's creator); None for other wallet events.
    fn gift_engagement(&self, w: &WalletEvent) -> Option<EngagementEvent> {
        let Some(wallet_event::Payload::GiftSent(g)) = &w.payload else {
            return None;
        };
        let mut e = EngagementEvent {
            event_id: w.event_id.clone(),
            occurred_at: w.occurred_at,
            user_id: g.sender_id.clone(),
            video_id: g.video_id.clone(),
            creator_id: g.recipient_id.clone(),
            ..Default::default()
        };
        if let Some(video) = self
            .catalog
            .as_ref()
            .filter(|_| !g.video_id.is_empty())
            .and_then(|c| c.get(&g.video_id))
        {
            e.hashtags = video.hashtags.clone();
            e.category = video.category.clone();
            e.sound_id = video.sound_id.clone();
        }
        Some(e)
    }
}

/// A user's stored state and its version.
type UserRow = (Option<Vec<u8>>, Option<String>);
/// What a batch reads first: users' states and versions, videos' learned vectors.
type BatchRows = (
    Vec<Option<Vec<u8>>>,
    Vec<Option<String>>,
    Vec<Option<Vec<u8>>>,
);

/// The batch script, hashed once.
/// Engagement events applied, by the credit the gateway gave them.
static ENGAGEMENT_COUNTED: std::sync::LazyLock<prometheus::IntCounterVec> =
    std::sync::LazyLock::new(|| {
        loop_platform::metrics::counter_vec(
            "loop_ranker_engagement_applied_total",
            "Engagement events the ranker applied, by credit: counted ones move videos and trending, unverified and self ones only the viewer's own taste",
            &["credit"],
        )
    });

/// Whether an event may move the video's vector and trending.
pub fn credits_video(e: &EngagementEvent) -> bool {
    matches!(
        e.credit(),
        EngagementCredit::Counted | EngagementCredit::Unspecified
    )
}

fn credit_label(credit: EngagementCredit) -> &'static str {
    match credit {
        EngagementCredit::Unspecified => "legacy",
        EngagementCredit::Counted => "counted",
        EngagementCredit::Unverified => "unverified",
        EngagementCredit::Duplicate => "duplicate",
        EngagementCredit::OwnVideo => "own_video",
    }
}

static APPLY_BATCH: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(state::APPLY_BATCH));

struct Pending {
    state: UserState,
    version: String,
    changed: bool,
}

impl BatchHandler for EngagementHandler {
    async fn handle(&self, batch: &[Delivery]) -> anyhow::Result<Vec<(usize, String)>> {
        let mut poison = Vec::new();
        let mut events = Vec::with_capacity(batch.len());
        for (i, d) in batch.iter().enumerate() {
            if d.topic.ends_with(topics::WALLET) {
                match WalletEvent::decode(d.payload.as_slice()) {
                    Ok(w) => {
                        if let Some(e) = self.gift_engagement(&w) {
                            if e.user_id.is_empty() || e.event_id.is_empty() {
                                poison.push((i, "gift without sender or event id".to_owned()));
                            } else {
                                let weight = self.config.weights.gift;
                                events.push((d, e, weight));
                            }
                        }
                    }
                    Err(err) => poison.push((i, format!("undecodable WalletEvent: {err}"))),
                }
                continue;
            }
            match EngagementEvent::decode(d.payload.as_slice()) {
                Ok(e) if !e.user_id.is_empty() && !e.video_id.is_empty() => {
                    let weight = self.config.weight(&e);
                    events.push((d, e, weight));
                }
                Ok(_) => {
                    poison.push((i, "engagement event without user_id or video_id".to_owned()))
                }
                Err(err) => poison.push((i, format!("undecodable EngagementEvent: {err}"))),
            }
        }
        for attempt in 0..10 {
            if self.try_apply(&events).await? {
                return Ok(poison);
            }
            tracing::debug!(attempt, "user state changed concurrently; retrying batch");
        }
        anyhow::bail!(
            "user state kept changing under the batch (another consumer for the same partition?)"
        )
    }
}

/// What a batch's events do besides the users' own states.
#[derive(Default)]
struct Effects<'a> {
    /// Per video: how far its learned vector moves.
    video_deltas: HashMap<&'a str, Vec<f32>>,
    /// Per trending key (None: global, else the country): video -> increment.
    trending: HashMap<Option<&'a str>, HashMap<&'a str, f64>>,
    /// "Not interested" suppressions: (key, id, ms).
    suppress: Vec<(String, String, i64)>,
    /// Videos marked seen: (key, id, ms).
    mark_seen: Vec<(String, String, i64)>,
}

impl EngagementHandler {
    /// Returns false when a concurrent writer changed a user: retry.
    async fn try_apply(
        &self,
        events: &[(&Delivery, EngagementEvent, f32)],
    ) -> anyhow::Result<bool> {
        let (users, learning) = self.batch_members(events);
        let mut conn = self.redis.conn.clone();
        let (states, versions, learned) = self.read_batch(&mut conn, &users, &learning).await?;
        let learned: HashMap<&str, Option<Vec<u8>>> = learning.into_iter().zip(learned).collect();
        let mut pending = self.pending_states(&users, states, versions);
        let mut effects = Effects::default();
        for (d, e, weight) in events {
            self.fold_event(&mut pending, &mut effects, d, e, *weight);
        }
        if !self
            .write_batch(&mut conn, &pending, &learned, &effects)
            .await?
        {
            return Ok(false);
        }
        // Idempotent follow-ups (set semantics): safe to repeat on redelivery.
        if !effects.suppress.is_empty() || !effects.mark_seen.is_empty() {
            let mut pipe = redis::pipe();
            for (key, id, ms) in &effects.suppress {
                if !id.is_empty() {
                    pipe.hset(key, id, ms).ignore();
                }
            }
            for (key, video, ms) in &effects.mark_seen {
                pipe.zadd(key, video, ms).ignore();
            }
            let _: () = pipe.query_async(&mut conn).await?;
        }
        Ok(true)
    }

    /// The batch's users, and the videos it may teach (a superset: some
    /// events may turn out to be applied already), each sorted and distinct.
    fn batch_members<'a>(
        &self,
        events: &'a [(&Delivery, EngagementEvent, f32)],
    ) -> (Vec<&'a str>, Vec<&'a str>) {
        let mut users: Vec<&str> = events.iter().map(|(_, e, _)| e.user_id.as_str()).collect();
        users.sort_unstable();
        users.dedup();
        // The learned vectors of these videos are read with the states, so
        // the new vectors are computed here rather than in the script
        // (unpacking floats in Lua cost ~4 µs per video).
        let mut learning: Vec<&str> = if self.config.video_learning_rate > 0.0 {
            events
                .iter()
                .filter(|(_, e, w)| *w != 0.0 && !e.video_id.is_empty())
                .map(|(_, e, _)| e.video_id.as_str())
                .collect()
        } else {
            Vec::new()
        };
        learning.sort_unstable();
        learning.dedup();
        (users, learning)
    }

    /// One pipeline: the users' states and versions, and the videos'
    /// learned vectors (none read when there are no users).
    async fn read_batch(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        users: &[&str],
        learning: &[&str],
    ) -> anyhow::Result<BatchRows> {
        let r = &self.redis;
        let (states, versions, learned): BatchRows = if users.is_empty() {
            (Vec::new(), Vec::new(), Vec::new())
        } else {
            let mut pipe = redis::pipe();
            pipe.mget(
                users
                    .iter()
                    .map(|u| state::state_key(r, u))
                    .collect::<Vec<_>>(),
            )
            .mget(
                users
                    .iter()
                    .map(|u| state::version_key(r, u))
                    .collect::<Vec<_>>(),
            );
            if learning.is_empty() {
                let (states, versions) = pipe.query_async(conn).await?;
                (states, versions, Vec::new())
            } else {
                let keys: Vec<String> = learning.iter().map(|v| state::learned_key(r, v)).collect();
                pipe.mget(keys).query_async(conn).await?
            }
        };
        if states.len() != users.len()
            || versions.len() != users.len()
            || learned.len() != learning.len()
        {
            anyhow::bail!(
                "redis answered {} states, {} versions and {} videos for {} users and {} videos",
                states.len(),
                versions.len(),
                learned.len(),
                users.len(),
                learning.len()
            );
        }
        Ok((states, versions, learned))
    }

    /// Each user's state as read, with the version to compare-and-set on.
    fn pending_states<'a>(
        &self,
        users: &[&'a str],
        states: Vec<Option<Vec<u8>>>,
        versions: Vec<Option<String>>,
    ) -> BTreeMap<&'a str, Pending> {
        let raw: Vec<UserRow> = states.into_iter().zip(versions).collect();
        let mut pending: BTreeMap<&str, Pending> = BTreeMap::new();
        for (u, (state, version)) in users.iter().copied().zip(raw) {
            // A new user starts from zero: declared interests are a prior added
            // at query time, so stored vectors depend on engagement alone.
            let state = UserState::decode_opt(state).unwrap_or_else(|| UserState {
                vector: vec![0.0; self.config.dim],
                ..Default::default()
            });
            pending.insert(
                u,
                Pending {
                    state,
                    version: version.unwrap_or_else(|| "0".into()),
                    changed: false,
                },
            );
        }
        pending
    }

    /// One event: its follow-ups, then (unless a duplicate or applied
    /// already) the user's state, and, when credited, the video and trending.
    fn fold_event<'a>(
        &self,
        pending: &mut BTreeMap<&str, Pending>,
        effects: &mut Effects<'a>,
        d: &Delivery,
        e: &'a EngagementEvent,
        weight: f32,
    ) {
        let r = &self.redis;
        let Some(p) = pending.get_mut(e.user_id.as_str()) else {
            return;
        };
        // "Not interested" suppressions and seen marks are idempotent set
        // writes, done after the script: record them even for an event
        // already applied, or a crash between the script and those
        // writes would lose them (redelivery would skip the event).
        let ms = e.occurred_at.as_ref().map_or(0, |t| t.seconds * 1000);
        if e.kind() == EngagementKind::NotInterested {
            match e.not_interested_target() {
                NotInterestedTarget::Creator => effects.suppress.push((
                    state::suppressed_creators_key(r, &e.user_id),
                    e.creator_id.clone(),
                    ms,
                )),
                NotInterestedTarget::Sound => effects.suppress.push((
                    state::suppressed_sounds_key(r, &e.user_id),
                    e.sound_id.clone(),
                    ms,
                )),
                _ => {}
            }
            effects
                .mark_seen
                .push((state::seen_key(r, &e.user_id), e.video_id.clone(), ms));
        }
        // A repeat the gateway already credited in its window teaches
        // nothing: one like moves a taste once, however often it is sent.
        if e.credit() == EngagementCredit::Duplicate {
            return;
        }
        if p.state
            .already_applied(&d.topic, d.partition, d.offset, &e.event_id)
        {
            return;
        }
        let before = p.state.vector.clone();
        self.apply_to_user(p, d, e, weight);
        // Only engagement the gateway credited (served, first in its
        // window, not the creator's own) moves the video and trending;
        // the rest teaches the viewer's own vector at most.
        ENGAGEMENT_COUNTED
            .with_label_values(&[credit_label(e.credit())])
            .inc();
        if !credits_video(e) {
            return;
        }
        self.credit_video(effects, e, weight, before);
    }

    /// Moves the user's vector, records the event as applied, and notes
    /// the behaviors a strong action shows.
    fn apply_to_user(&self, p: &mut Pending, d: &Delivery, e: &EngagementEvent, weight: f32) {
        self.config.apply(&mut p.state, e, weight);
        p.state.record(
            &d.topic,
            d.partition,
            d.offset,
            &e.event_id,
            self.config.dedupe_window,
        );
        p.state.updated_at_ms = chrono::Utc::now().timestamp_millis();
        p.changed = true;
        let event_ms = e.occurred_at.as_ref().map_or(0, |t| t.seconds * 1000);
        if is_strong(e) {
            let noted = std::iter::once((state::BehaviorKind::Category, e.category.as_str()))
                .chain(
                    e.hashtags
                        .iter()
                        .map(|h| (state::BehaviorKind::Hashtag, h.as_str())),
                );
            p.state.note_behaviors(noted, event_ms);
        }
    }

    /// A credited event moves the video toward the viewer as they were
    /// before it (`viewer`), and counts toward trending globally and in the
    /// viewer's country.
    fn credit_video<'a>(
        &self,
        effects: &mut Effects<'a>,
        e: &'a EngagementEvent,
        weight: f32,
        viewer: Vec<f32>,
    ) {
        if weight != 0.0 && self.config.video_learning_rate > 0.0 && !e.video_id.is_empty() {
            let mut viewer = viewer;
            embed::normalize(&mut viewer);
            let delta = effects
                .video_deltas
                .entry(e.video_id.as_str())
                .or_insert_with(|| vec![0.0; self.config.dim]);
            for (x, u) in delta.iter_mut().zip(&viewer) {
                *x += self.config.video_learning_rate * weight * u;
            }
        }
        if weight > 0.0 && !e.video_id.is_empty() {
            let event_ms = e.occurred_at.as_ref().map_or(0, |t| t.seconds * 1000);
            let inc = trending_increment(weight, event_ms, self.config.trending_half_life_hours);
            *effects
                .trending
                .entry(None)
                .or_default()
                .entry(e.video_id.as_str())
                .or_default() += inc;
            if let Some(cc) = e
                .context
                .as_ref()
                .map(|c| c.country.as_str())
                .filter(|c| !c.is_empty())
            {
                *effects
                    .trending
                    .entry(Some(cc))
                    .or_default()
                    .entry(e.video_id.as_str())
                    .or_default() += inc;
            }
        }
    }

    /// The batch script: every changed user compare-and-set on its version,
    /// the videos' learned vectors compare-and-set on the value read, and
    /// trending increments, atomically. False on a conflict (nothing
    /// written); true also when nothing changed (no script run).
    async fn write_batch(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        pending: &BTreeMap<&str, Pending>,
        learned: &HashMap<&str, Option<Vec<u8>>>,
        effects: &Effects<'_>,
    ) -> anyhow::Result<bool> {
        let r = &self.redis;
        let changed: Vec<(&&str, &Pending)> = pending.iter().filter(|(_, p)| p.changed).collect();
        if changed.is_empty() {
            return Ok(true);
        }
        let mut inv = APPLY_BATCH.prepare_invoke();
        for (u, _) in &changed {
            inv.key(state::state_key(r, u))
                .key(state::version_key(r, u));
        }
        let videos: Vec<(&&str, &Vec<f32>)> = effects.video_deltas.iter().collect();
        // Per video: the value read, and what it becomes (see the script).
        let video_values: Vec<(&[u8], Vec<u8>)> = videos
            .iter()
            .map(|(v, delta)| {
                let read = learned.get(**v).and_then(Option::as_deref);
                let mut sum = (*delta).clone();
                if let Some(cur) = read.filter(|c| c.len() == delta.len() * 4) {
                    for (x, c) in sum.iter_mut().zip(cur.chunks_exact(4)) {
                        *x += f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                    }
                }
                (read.unwrap_or_default(), state::f32s_to_bytes(&sum))
            })
            .collect();
        for (v, _) in &videos {
            inv.key(state::learned_key(r, v));
        }
        let trend: Vec<(&Option<&str>, &HashMap<&str, f64>)> = effects.trending.iter().collect();
        for (country, _) in &trend {
            inv.key(state::trending_key(r, **country));
        }
        inv.key(state::learned_log_key(r))
            .key(state::learned_set_key(r));
        inv.arg(changed.len()).arg(videos.len()).arg(trend.len());
        for (_, p) in &changed {
            inv.arg(&p.version).arg(p.state.encode_to_vec());
        }
        for (read, value) in &video_values {
            inv.arg(*read).arg(value);
        }
        for (_, increments) in &trend {
            inv.arg(increments.len());
            for (member, inc) in *increments {
                inv.arg(*member).arg(*inc);
            }
        }
        for (v, _) in &videos {
            inv.arg(**v);
        }
        inv.arg(state::LEARNED_LOG_ENTRIES);
        let conflict: i64 = inv.invoke_async(conn).await?;
        Ok(conflict == 0)
    }
}
