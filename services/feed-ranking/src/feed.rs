//! For You: candidates (ANN neighbours of the viewer's vector, trending in
//! their country and globally, fresh uploads for exploration, followed
//! creators, active challenges) -> score -> rules (never seen, no two in a
//! row from one creator or sound, suppressed creators/sounds, keyword
//! filters, only servable videos) -> items with a "why this video" reason.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use loop_platform::cache::Redis;
use loop_proto::feed_ranking::v1 as pb;
use pb::ReasonKind;
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, VideoEntry};
use crate::embed;
use crate::learn::LearningConfig;
use crate::state::{self, UserState};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub default_page_size: u32,
    pub max_page_size: u32,
    /// Nearest neighbours fetched from the ANN index.
    pub ann_candidates: usize,
    pub trending_candidates: usize,
    pub fresh_candidates: usize,
    /// Random catalog videos added for exploration.
    pub explore_candidates: usize,
    /// Share of each page reserved for exploration (fresh and trending
    /// videos outside the viewer's interests).
    pub exploration_share: f32,
    /// How many shown videos are remembered per viewer (never shown twice).
    pub seen_set_size: usize,
    /// Weight of a video's learned vector next to its content vector.
    pub learned_weight: f32,
    /// 1-based positions kept for ads (filled by ads-auction; organic items
    /// take them while no ad is returned).
    pub ad_slots: Vec<u32>,
}

impl Default for FeedConfig {
    fn default() -> Self {
        Self {
            default_page_size: 10,
            max_page_size: 50,
            ann_candidates: 100,
            trending_candidates: 60,
            fresh_candidates: 40,
            explore_candidates: 100,
            exploration_share: 0.15,
            seen_set_size: 5000,
            learned_weight: 1.0,
            ad_slots: vec![4, 11],
        }
    }
}

impl FeedConfig {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if self.default_page_size == 0
            || self.default_page_size > self.max_page_size
            || self.max_page_size > 200
        {
            problems.push("feed: need 0 < default_page_size <= max_page_size <= 200".into());
        }
        if !(0.0..=1.0).contains(&self.exploration_share) {
            problems.push("feed.exploration_share: must be 0..=1".into());
        }
        if self.ann_candidates == 0 || self.seen_set_size < 100 {
            problems.push(
                "feed: ann_candidates must be positive and seen_set_size at least 100".into(),
            );
        }
    }
}

/// Everything about the viewer the feed needs, read in one round trip.
pub struct Viewer {
    pub user_id: String,
    /// Trending video ids: the viewer's country first (may be empty), then global.
    pub trending_regional: Vec<String>,
    pub trending_global: Vec<String>,
    pub state: Option<UserState>,
    pub interests: Vec<String>,
    pub country: String,
    pub seen: HashSet<String>,
    pub follows: Vec<String>,
    pub suppressed_creators: HashSet<String>,
    pub suppressed_sounds: HashSet<String>,
    pub keywords: Vec<String>,
}

/// state, profile, seen, follows, suppressed creators, suppressed sounds,
/// keywords, regional trending, global trending.
type ViewerRows = (
    Option<Vec<u8>>,
    HashMap<String, String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
);

/// Reads everything about the viewer plus `trending` trending ids (regional
/// and global) in one round trip.
pub async fn load_viewer(
    r: &Redis,
    user: &str,
    country_hint: &str,
    trending: usize,
) -> redis::RedisResult<Viewer> {
    let mut conn = r.conn.clone();
    let n = trending.max(1) as isize - 1;
    let country_key = if country_hint.is_empty() {
        state::trending_key(r, Some("-"))
    } else {
        state::trending_key(r, Some(country_hint))
    };
    let (state, profile, seen, follows, sup_c, sup_s, keywords, regional, global): ViewerRows =
        redis::pipe()
            .get(state::state_key(r, user))
            .hgetall(state::profile_key(r, user))
            .zrange(state::seen_key(r, user), 0, -1)
            .smembers(state::follows_key(r, user))
            .hkeys(state::suppressed_creators_key(r, user))
            .hkeys(state::suppressed_sounds_key(r, user))
            .smembers(state::keywords_key(r, user))
            .zrevrange(country_key, 0, n)
            .zrevrange(state::trending_key(r, None), 0, n)
            .query_async(&mut conn)
            .await?;
    let interests = profile
        .get("interests")
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let country = if country_hint.is_empty() {
        profile.get("country").cloned().unwrap_or_default()
    } else {
        country_hint.to_owned()
    };
    Ok(Viewer {
        user_id: user.to_owned(),
        trending_regional: regional,
        trending_global: global,
        state: UserState::decode_opt(state),
        interests,
        country,
        seen: seen.into_iter().collect(),
        follows,
        suppressed_creators: sup_c.into_iter().collect(),
        suppressed_sounds: sup_s.into_iter().collect(),
        keywords: keywords.into_iter().map(|k| k.to_lowercase()).collect(),
    })
}

struct Candidate {
    video: Arc<VideoEntry>,
    score: f32,
    kind: ReasonKind,
    reason: String,
    exploration: bool,
}

fn best_tag(video: &VideoEntry) -> String {
    video
        .hashtags
        .first()
        .cloned()
        .unwrap_or_else(|| video.category.clone())
}

pub struct Built {
    pub items: Vec<pb::FeedItem>,
    pub cold_start: bool,
}

/// Builds one page for `viewer`, then records what was shown as seen.
pub async fn for_you(
    r: &Redis,
    catalog: &Catalog,
    learning: &LearningConfig,
    config: &FeedConfig,
    viewer: &Viewer,
    page_size: usize,
) -> redis::RedisResult<Built> {
    // The learned vector scores every candidate once the viewer did anything;
    // it steers the ANN search only once it holds positive signal (a vector
    // made of skips alone says what to avoid, not where to look).
    let learned_vector = viewer
        .state
        .as_ref()
        .filter(|s| s.events_applied > 0 && embed::norm(&s.vector) > 1e-6)
        .map(|s| {
            let mut v = s.vector.clone();
            embed::normalize(&mut v);
            v
        });
    let has_positive = viewer.state.as_ref().is_some_and(|s| s.positive_events > 0);
    let cold_start = !has_positive;
    let interest_vector = if viewer.interests.is_empty() {
        None
    } else {
        Some(embed::interests_vector(&viewer.interests, learning.dim))
    };
    let query = if has_positive {
        learned_vector.clone()
    } else {
        None
    };
    let scoring = learned_vector.clone().or_else(|| interest_vector.clone());
    let declared: HashSet<&String> = viewer.interests.iter().collect();

    let mut candidates: HashMap<String, Candidate> = HashMap::new();
    let mut offer = |c: Candidate| match candidates.get(&c.video.video_id) {
        Some(existing) if existing.score >= c.score => {}
        _ => {
            candidates.insert(c.video.video_id.clone(), c);
        }
    };

    if let Some(q) = &query {
        for (video, _) in catalog.nearest(q, config.ann_candidates) {
            let reason = format!("Because you watch #{} videos", best_tag(&video));
            offer(Candidate {
                video,
                score: 0.0,
                kind: ReasonKind::InterestMatch,
                reason,
                exploration: false,
            });
        }
    } else if !viewer.interests.is_empty() {
        // Cold start: the interests picked at sign-up, by hashtag.
        for video in catalog.by_hashtags(&viewer.interests, 20) {
            let tag = video
                .hashtags
                .iter()
                .find(|t| declared.contains(t))
                .cloned()
                .unwrap_or_else(|| best_tag(&video));
            offer(Candidate {
                video,
                score: 0.0,
                kind: ReasonKind::ColdStartInterest,
                reason: format!("Because you picked #{tag}"),
                exploration: false,
            });
        }
    }

    // Trending: the viewer's country first, then global.
    let mut conn = r.conn.clone();
    let mut trending_rank: HashMap<String, f32> = HashMap::new();
    for (ids, regional) in [
        (&viewer.trending_regional, true),
        (&viewer.trending_global, false),
    ] {
        let n = ids.len().max(1) as f32;
        for (rank, id) in ids.iter().enumerate() {
            let Some(video) = catalog.get(id) else {
                continue;
            };
            let strength = 1.0 - rank as f32 / n;
            trending_rank.entry(id.clone()).or_insert(strength);
            let (kind, reason) = if regional && query.is_none() {
                (
                    ReasonKind::RegionalPopular,
                    format!("Popular in {}", viewer.country),
                )
            } else if regional {
                (
                    ReasonKind::Trending,
                    format!("Trending in {}", viewer.country),
                )
            } else {
                (ReasonKind::Trending, "Trending on Loop".to_owned())
            };
            offer(Candidate {
                video,
                score: 0.0,
                kind,
                reason,
                exploration: true,
            });
        }
    }
    for video in catalog.newest(config.fresh_candidates) {
        offer(Candidate {
            video,
            score: 0.0,
            kind: ReasonKind::Fresh,
            reason: "New on Loop".into(),
            exploration: true,
        });
    }
    for video in catalog.sample(config.explore_candidates) {
        offer(Candidate {
            video,
            score: 0.0,
            kind: ReasonKind::Fresh,
            reason: "Something new to try".into(),
            exploration: true,
        });
    }
    for video in catalog.by_creators(&viewer.follows, 5) {
        offer(Candidate {
            video,
            score: 0.0,
            kind: ReasonKind::Following,
            reason: "From a creator you follow".into(),
            exploration: false,
        });
    }
    for (video, tag) in catalog.challenge_videos(10) {
        offer(Candidate {
            video,
            score: 0.0,
            kind: ReasonKind::Challenge,
            reason: format!("Part of the #{tag} challenge"),
            exploration: false,
        });
    }

    // Rules that remove candidates outright.
    let mut pool: Vec<Candidate> = candidates
        .into_values()
        .filter(|c| !viewer.seen.contains(&c.video.video_id))
        .filter(|c| !viewer.suppressed_creators.contains(&c.video.creator_id))
        .filter(|c| {
            c.video.sound_id.is_empty() || !viewer.suppressed_sounds.contains(&c.video.sound_id)
        })
        .filter(|c| c.video.creator_id != viewer.user_id)
        .filter(|c| {
            viewer.keywords.is_empty() || {
                let text = format!(
                    "{} {}",
                    c.video.caption.to_lowercase(),
                    c.video.hashtags.join(" ")
                );
                !viewer.keywords.iter().any(|k| text.contains(k.as_str()))
            }
        })
        .collect();

    // Score: similarity of the viewer to the video's effective vector
    // (content + learned), plus boosts for following, challenges, trending.
    let ids: Vec<String> = pool.iter().map(|c| c.video.video_id.clone()).collect();
    let learned = state::learned_vectors(r, &ids).await?;
    let follows: HashSet<&String> = viewer.follows.iter().collect();
    for (c, learned) in pool.iter_mut().zip(learned) {
        let mut effective = c.video.content.clone();
        if let Some(l) = learned.filter(|l| l.len() == effective.len()) {
            for (e, x) in effective.iter_mut().zip(l) {
                *e += config.learned_weight * x;
            }
        }
        let similarity = scoring
            .as_ref()
            .map_or(0.0, |q| embed::cosine(q, &effective));
        let trending = trending_rank.get(&c.video.video_id).copied().unwrap_or(0.0);
        let mut score = similarity + 0.15 * trending;
        if follows.contains(&c.video.creator_id) {
            score += 0.15;
        }
        if c.kind == ReasonKind::Challenge {
            score += 0.1;
        }
        if cold_start && c.video.hashtags.iter().any(|t| declared.contains(t)) {
            score += 0.3;
        }
        c.score = score;
    }
    pool.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.video.video_id.cmp(&b.video.video_id))
    });

    // Exploration slots: every k-th position takes the best exploration item.
    let explore_every = if config.exploration_share > 0.0 && query.is_some() {
        (1.0 / config.exploration_share).round().max(2.0) as usize
    } else {
        usize::MAX
    };
    let mut items: Vec<pb::FeedItem> = Vec::with_capacity(page_size);
    let mut last_creator = String::new();
    let mut last_sound = String::new();
    // Without any signal about the viewer, a page samples distinct topics so
    // the first engagement tells the most.
    let mut topics_on_page: HashSet<String> = HashSet::new();
    let distinct_topics = query.is_none();
    while items.len() < page_size && !pool.is_empty() {
        let position = items.len() + 1;
        let want_exploration = position.is_multiple_of(explore_every);
        // Hard rules: no two in a row from one creator or one sound.
        let allowed = |c: &Candidate| {
            c.video.creator_id != last_creator
                && (c.video.sound_id.is_empty() || c.video.sound_id != last_sound)
        };
        let new_topic =
            |c: &Candidate| !distinct_topics || !topics_on_page.contains(&best_tag(&c.video));
        // Preferences, dropped in order when nothing satisfies them.
        let pick = pool
            .iter()
            .position(|c| allowed(c) && new_topic(c) && (!want_exploration || c.exploration))
            .or_else(|| pool.iter().position(|c| allowed(c) && new_topic(c)))
            .or_else(|| pool.iter().position(allowed));
        let Some(index) = pick else { break };
        let c = pool.remove(index);
        topics_on_page.insert(best_tag(&c.video));
        last_creator = c.video.creator_id.clone();
        last_sound = c.video.sound_id.clone();
        let (kind, reason) =
            if want_exploration && c.exploration && c.kind == ReasonKind::InterestMatch {
                (ReasonKind::Fresh, "Something new to try".to_owned())
            } else {
                (c.kind, c.reason)
            };
        items.push(pb::FeedItem {
            position: u32::try_from(position).unwrap_or(u32::MAX),
            item: Some(pb::feed_item::Item::Video(card(&c.video))),
            reason,
            reason_kind: kind as i32,
            score: c.score,
        });
    }

    // Shown means seen: never shown again (bounded memory per viewer).
    if !items.is_empty() {
        let now = chrono::Utc::now().timestamp_millis();
        let key = state::seen_key(r, &viewer.user_id);
        let mut pipe = redis::pipe();
        for item in &items {
            if let Some(pb::feed_item::Item::Video(v)) = &item.item {
                pipe.zadd(&key, &v.video_id, now).ignore();
            }
        }
        pipe.zremrangebyrank(&key, 0, -(config.seen_set_size as isize) - 1)
            .ignore();
        let _: () = pipe.query_async(&mut conn).await?;
    }
    Ok(Built { items, cold_start })
}

pub fn card(v: &VideoEntry) -> pb::VideoCard {
    pb::VideoCard {
        video_id: v.video_id.clone(),
        creator_id: v.creator_id.clone(),
        sound_id: v.sound_id.clone(),
        hashtags: v.hashtags.clone(),
        caption: v.caption.clone(),
        category: v.category.clone(),
        media_url: v.media_url.clone(),
        duration_ms: v.duration_ms,
        published_at: v.published_at,
    }
}
