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

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use loop_platform::cache::Redis;
use loop_platform::kafka::{BatchHandler, Delivery, topics};
use loop_proto::events::v1::{
    CommerceEvent, EngagementCredit, EngagementEvent, EngagementKind, NotInterestedTarget,
    WalletEvent, commerce_event, wallet_event,
};
use prost::Message;

use crate::catalog::Catalog;
use crate::embed;
use crate::rank;
use crate::state::{self, UserState};

mod config;
pub use config::{LearningConfig, Weights, event_content_vector, trending_increment};

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

/// `loop.commerce.v1.ReferralSource` numbers an order's source carries.
const SOURCE_VIDEO: i32 = 2;
const SOURCE_LIVE: i32 = 3;

/// What an engagement handler keeps; each role is its own consumer group
/// with its own per-user state, so each applies every event once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The real-time taste path (`engagement.v1` and `wallet.v1`): viewers'
    /// vectors, videos' learned vectors, trending, suppressions and ad
    /// targeting's behaviours.
    Taste,
    /// Co-engagement (`engagement.v1` only): each viewer's recent videos
    /// and the counts of what viewers engage with next (see `collab`). Its
    /// counters cost a Redis write per recent video and positive
    /// engagement, so it has a group of its own and never slows the taste
    /// path; it is usually milliseconds behind it.
    CoEngagement,
}

/// The `engagement.v1` (and `wallet.v1`: gifts, `commerce.v1`: purchases
/// from a video or LIVE, are strong engagement) consumer.
#[derive(Clone)]
pub struct EngagementHandler {
    pub redis: Redis,
    pub config: LearningConfig,
    /// Where a gifted video's features come from (gift events carry only
    /// the video id). Without it a gift pulls toward the creator alone.
    pub catalog: Option<Arc<Catalog>>,
    pub role: Role,
}

impl EngagementHandler {
    /// The taste path's handler.
    pub fn new(redis: Redis, config: LearningConfig, catalog: Option<Arc<Catalog>>) -> Self {
        Self {
            redis,
            config,
            catalog,
            role: Role::Taste,
        }
    }

    /// The co-engagement handler.
    pub fn co_engagement(redis: Redis, config: LearningConfig) -> Self {
        Self {
            redis,
            config,
            catalog: None,
            role: Role::CoEngagement,
        }
    }

    /// The key of `user`'s state for this handler's role.
    fn state_key(&self, user: &str) -> String {
        match self.role {
            Role::Taste => state::state_key(&self.redis, user),
            Role::CoEngagement => state::co_state_key(&self.redis, user),
        }
    }

    /// The key of the version of `user`'s state for this handler's role.
    fn version_key(&self, user: &str) -> String {
        match self.role {
            Role::Taste => state::version_key(&self.redis, user),
            Role::CoEngagement => state::co_version_key(&self.redis, user),
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

impl EngagementHandler {
    /// A paid order attributed to a video or a LIVE room as the buyer's
    /// engagement with that video (or the room's host, as a LIVE gift);
    /// None for other commerce events and for orders bought elsewhere
    /// (a showcase, or no creator at all).
    fn purchase_engagement(&self, c: &CommerceEvent) -> Option<EngagementEvent> {
        let Some(commerce_event::Payload::OrderPaid(o)) = &c.payload else {
            return None;
        };
        let video_id = match o.source {
            SOURCE_VIDEO if !o.source_id.is_empty() => o.source_id.clone(),
            SOURCE_LIVE => String::new(),
            _ => return None,
        };
        let mut e = EngagementEvent {
            event_id: c.event_id.clone(),
            occurred_at: c.occurred_at,
            user_id: o.buyer_id.clone(),
            video_id,
            // The video's creator or the room's host: the affiliate when one
            // was credited, else the seller selling in their own LIVE (a
            // flash sale, an auction).
            creator_id: if o.affiliate_id.is_empty() && o.source == SOURCE_LIVE {
                o.seller_id.clone()
            } else {
                o.affiliate_id.clone()
            },
            ..Default::default()
        };
        if let Some(video) = self
            .catalog
            .as_ref()
            .filter(|_| !e.video_id.is_empty())
            .and_then(|cat| cat.get(&e.video_id))
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
            if d.topic.ends_with(topics::COMMERCE) {
                if self.role == Role::CoEngagement {
                    continue;
                }
                match CommerceEvent::decode(d.payload.as_slice()) {
                    Ok(c) => {
                        if let Some(e) = self.purchase_engagement(&c) {
                            if e.user_id.is_empty() || e.event_id.is_empty() {
                                poison.push((i, "order paid without buyer or event id".to_owned()));
                            } else {
                                events.push((d, e, self.config.weights.purchase));
                            }
                        }
                    }
                    Err(err) => poison.push((i, format!("undecodable CommerceEvent: {err}"))),
                }
                continue;
            }
            if d.topic.ends_with(topics::WALLET) {
                if self.role == Role::CoEngagement {
                    continue;
                }
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
        // Two halves with nothing in common (the taste path: disjoint
        // users; co-engagement: disjoint partitions, so each ranking model
        // still steps through its labels in offset order) applied
        // concurrently: one half's consumer work overlaps the other's
        // Redis round trips.
        let (a, b) = self.halves(events);
        futures::future::try_join(self.apply_retrying(&a), self.apply_retrying(&b)).await?;
        Ok(poison)
    }
}

/// Batches smaller than this are applied whole.
const SPLIT_FROM: usize = 64;

/// A batch's decoded events with their deliveries and weights.
type Decoded<'a> = Vec<(&'a Delivery, EngagementEvent, f32)>;

impl EngagementHandler {
    /// The batch in two groups that share no user state (and, for
    /// co-engagement, no partition); the second is empty when the batch
    /// is small or cannot be split.
    fn halves<'a>(&self, events: Decoded<'a>) -> (Decoded<'a>, Decoded<'a>) {
        if events.len() < SPLIT_FROM {
            return (events, Vec::new());
        }
        let role = self.role;
        events.into_iter().partition(|(d, e, _)| match role {
            Role::Taste => {
                e.user_id
                    .bytes()
                    .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
                    % 2
                    == 0
            }
            Role::CoEngagement => d.partition % 2 == 0,
        })
    }

    /// Applies `events`, retrying on a concurrent writer.
    async fn apply_retrying(
        &self,
        events: &[(&Delivery, EngagementEvent, f32)],
    ) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        for attempt in 0..10 {
            if self.try_apply(events).await? {
                return Ok(());
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
    /// Co-engagement and audience counters: ZSET key -> member -> change
    /// (a member whose count reaches 0 is removed).
    counters: HashMap<String, HashMap<Cow<'a, str>, f64>>,
    /// Labelled impressions for the ranking model of their partition, in
    /// the order their events came (see `rank`).
    labels: Vec<(i32, bool, [f32; rank::FEATURES])>,
}

/// The ranking models a batch writes: (partition field, the value read
/// (empty: none), the new value).
type ModelWrites = Vec<(String, Vec<u8>, Vec<u8>)>;

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
        let models = self.learn_ranking(&mut conn, &effects.labels).await?;
        if !self
            .write_batch(&mut conn, &pending, &learned, &effects, &models)
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

    /// The ranking models of the partitions the batch labelled, read, then
    /// stepped through the labels in order (each partition's in its
    /// offset order: labels depend on each viewer's events alone, so a
    /// replay in any batches computes the same bits).
    async fn learn_ranking(
        &self,
        conn: &mut redis::aio::ConnectionManager,
        labels: &[(i32, bool, [f32; rank::FEATURES])],
    ) -> anyhow::Result<ModelWrites> {
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        let mut partitions: Vec<i32> = labels.iter().map(|(p, _, _)| *p).collect();
        partitions.sort_unstable();
        partitions.dedup();
        let fields: Vec<String> = partitions.iter().map(i32::to_string).collect();
        let read: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(state::rank_model_key(&self.redis))
            .arg(&fields)
            .query_async(conn)
            .await?;
        let config = &self.config.ranking;
        let mut models: BTreeMap<i32, rank::Model> = partitions
            .iter()
            .zip(&read)
            .map(|(p, raw)| {
                let model = raw
                    .as_deref()
                    .and_then(rank::Model::decode)
                    .unwrap_or_else(|| rank::Model::new(config));
                (*p, model)
            })
            .collect();
        for (p, engaged, x) in labels {
            if let Some(m) = models.get_mut(p) {
                m.update(x, *engaged, config);
            }
        }
        Ok(fields
            .into_iter()
            .zip(read)
            .zip(partitions)
            .map(|((field, read), p)| (field, read.unwrap_or_default(), models[&p].encode()))
            .collect())
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
        let mut learning: Vec<&str> =
            if self.role == Role::Taste && self.config.video_learning_rate > 0.0 {
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
            pipe.mget(users.iter().map(|u| self.state_key(u)).collect::<Vec<_>>())
                .mget(
                    users
                        .iter()
                        .map(|u| self.version_key(u))
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
                vector: match self.role {
                    Role::Taste => vec![0.0; self.config.dim],
                    Role::CoEngagement => Vec::new(),
                },
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
        if self.role == Role::Taste && e.kind() == EngagementKind::NotInterested {
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
        if self.role == Role::CoEngagement {
            self.mark_applied(p, d, e);
            if self.config.ranking.enabled
                && !d.topic.ends_with(topics::WALLET)
                && !d.topic.ends_with(topics::COMMERCE)
            {
                label_impressions(&self.config.ranking, p, effects, d, e);
            }
            // Co-engagement follows engagement.v1 alone (a gift arrives on
            // wallet.v1, in no fixed order with it), so a rebuild, which
            // replays one topic after the other, counts the same pairs.
            if weight > 0.0
                && credits_video(e)
                && !d.topic.ends_with(topics::WALLET)
                && !d.topic.ends_with(topics::COMMERCE)
            {
                self.co_engage(p, effects, e);
            }
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

    /// A credited positive engagement with a video new to the viewer's
    /// recent ones: one more viewer of it, co-engaged with each of those;
    /// and when the viewer's history is full, its oldest video's counts
    /// leave (see [`UserState::note_positive`]).
    fn co_engage<'a>(&self, p: &mut Pending, effects: &mut Effects<'a>, e: &'a EngagementEvent) {
        let config = &self.config;
        let Some(change) = p
            .state
            .note_positive(&e.video_id, config.co_window, config.co_history)
        else {
            return;
        };
        let r = &self.redis;
        let mut count = |key: String, member: Cow<'a, str>, by: f64| {
            *effects
                .counters
                .entry(key)
                .or_default()
                .entry(member)
                .or_default() += by;
        };
        for source in change.sources {
            count(
                state::co_key(r, &source),
                Cow::Borrowed(e.video_id.as_str()),
                1.0,
            );
        }
        count(
            state::engaged_key(r),
            Cow::Borrowed(e.video_id.as_str()),
            1.0,
        );
        if let Some((gone, successors)) = change.expired {
            let key = state::co_key(r, &gone);
            for next in successors {
                count(key.clone(), Cow::Owned(next), -1.0);
            }
            count(state::engaged_key(r), Cow::Owned(gone), -1.0);
        }
    }

    /// Records the event as applied to the user's state (partition
    /// offset, event id), to be written.
    fn mark_applied(&self, p: &mut Pending, d: &Delivery, e: &EngagementEvent) {
        p.state.record(
            &d.topic,
            d.partition,
            d.offset,
            &e.event_id,
            self.config.dedupe_window,
        );
        p.state.updated_at_ms = chrono::Utc::now().timestamp_millis();
        p.changed = true;
    }

    /// Moves the user's vector, records the event as applied, and notes
    /// the behaviors a strong action shows.
    fn apply_to_user(&self, p: &mut Pending, d: &Delivery, e: &EngagementEvent, weight: f32) {
        self.config.apply(&mut p.state, e, weight);
        self.mark_applied(p, d, e);
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
        models: &ModelWrites,
    ) -> anyhow::Result<bool> {
        let r = &self.redis;
        let changed: Vec<(&&str, &Pending)> = pending.iter().filter(|(_, p)| p.changed).collect();
        if changed.is_empty() {
            return Ok(true);
        }
        let mut inv = APPLY_BATCH.prepare_invoke();
        for (u, _) in &changed {
            inv.key(self.state_key(u)).key(self.version_key(u));
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
        // Sorted sets the batch increments: trending, then the counters.
        // (A counter whose +1s and -1s cancel within the batch is left out.)
        let mut increments: Vec<(String, Vec<(&str, f64)>)> = effects
            .trending
            .iter()
            .map(|(country, m)| {
                let members = m.iter().map(|(v, x)| (*v, *x)).collect();
                (state::trending_key(r, *country), members)
            })
            .collect();
        increments.extend(effects.counters.iter().filter_map(|(k, m)| {
            let members: Vec<(&str, f64)> = m
                .iter()
                .filter(|(_, x)| **x != 0.0)
                .map(|(v, x)| (&**v, *x))
                .collect();
            (!members.is_empty()).then(|| (k.clone(), members))
        }));
        for (key, _) in &increments {
            inv.key(key);
        }
        inv.key(state::learned_log_key(r))
            .key(state::learned_set_key(r));
        inv.arg(changed.len())
            .arg(videos.len())
            .arg(increments.len());
        for (_, p) in &changed {
            inv.arg(&p.version).arg(p.state.encode_to_vec());
        }
        for (read, value) in &video_values {
            inv.arg(*read).arg(value);
        }
        for (_, members) in &increments {
            inv.arg(members.len());
            for (member, inc) in members {
                inv.arg(*member).arg(*inc);
            }
        }
        for (v, _) in &videos {
            inv.arg(**v);
        }
        inv.arg(state::LEARNED_LOG_ENTRIES);
        // Last: the ranking models, compare-and-set on the value read.
        if !models.is_empty() {
            inv.key(state::rank_model_key(r));
        }
        for (field, read, value) in models {
            inv.arg(field).arg(read).arg(value);
        }
        inv.arg(models.len());
        let conflict: i64 = inv.invoke_async(conn).await?;
        Ok(conflict == 0)
    }
}

/// What `e` says about an impression of its video (see `rank`).
fn answer(e: &EngagementEvent) -> rank::Answer {
    match e.kind() {
        EngagementKind::Impression => rank::Answer::Shown,
        EngagementKind::QuickSkip | EngagementKind::NotInterested => rank::Answer::Refused,
        EngagementKind::Unlike | EngagementKind::ProfileVisit => rank::Answer::Neither,
        _ if is_strong(e) => rank::Answer::Engaged,
        _ => rank::Answer::Neither,
    }
}

/// Labels the viewer's pending impressions with `e` (see `rank::observe`);
/// the labels go to the model of the event's partition.
fn label_impressions(
    config: &rank::RankLearning,
    p: &mut Pending,
    effects: &mut Effects<'_>,
    d: &Delivery,
    e: &EngagementEvent,
) {
    let answer = answer(e);
    if p.state.pending.is_empty() && answer != rank::Answer::Shown {
        return;
    }
    let features: Option<[f32; rank::FEATURES]> = e
        .served_features
        .as_slice()
        .try_into()
        .ok()
        .filter(|x: &[f32; rank::FEATURES]| x.iter().all(|v| v.is_finite()))
        // Only an impression the gateway counted (a verified serve token, the
        // first in its window, not one's own video) becomes an example: a
        // replayed or self-serving one must not steer everyone's weights.
        .filter(|_| e.credit() == EngagementCredit::Counted);
    let at_ms = label_clock_ms(e);
    let mut pending = rank::parse_pending(&p.state.pending);
    let before = pending.len();
    let labels = &mut effects.labels;
    rank::observe(
        &mut pending,
        config,
        &e.video_id,
        at_ms,
        answer,
        features,
        &mut |engaged, x| labels.push((d.partition, engaged, x)),
    );
    if pending.len() != before || answer == rank::Answer::Shown {
        p.state.pending = rank::pack_pending(&pending);
    }
}

/// The clock impressions wait on: when the gateway accepted the event
/// (`accepted_at`), not when the client says it happened (`occurred_at`,
/// which a client may backdate by up to a day: an impression reported a
/// day old would expire as a negative label at the viewer's next event,
/// on demand). Events without it (none the gateway publishes) fall back to
/// `occurred_at`.
fn label_clock_ms(e: &EngagementEvent) -> i64 {
    e.accepted_at
        .as_ref()
        .or(e.occurred_at.as_ref())
        .map_or(0, |t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
}
