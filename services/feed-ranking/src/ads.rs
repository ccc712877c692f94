//! Ads in the For You feed: the ranker asks ads-auction to fill the page's
//! ad positions (`feed.ad_slots`, plus the first position after app open for
//! TopView) while it builds the organic page, then places each filled slot
//! as a sponsored item. Ads never delay or break the feed: an error or a
//! missed deadline (`services.ads_deadline_ms`) serves organic items only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use loop_platform::auth::JwtKeys;
use loop_proto::ads_auction::v1 as ads;
use loop_proto::ads_auction::v1::ads_auction_service_client::AdsAuctionServiceClient;
use loop_proto::common::v1 as common;
use loop_proto::content::v1 as content;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use loop_proto::feed_ranking::v1 as pb;
use parking_lot::Mutex;
use tonic::transport::Channel;

use crate::catalog::Catalog;
use crate::feed::{self, Viewer};
use crate::state::{BEHAVIOR_LOOKBACK_MS, BehaviorKind};

/// How long an ad's video card (read from content on a catalog miss: ad
/// videos may be private) is reused.
const CARD_TTL: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct AdsClient {
    pub(crate) ads: AdsAuctionServiceClient<Channel>,
    pub(crate) content: ContentServiceClient<Channel>,
    pub(crate) keys: JwtKeys,
    pub(crate) deadline: Duration,
    pub(crate) cards: Arc<Mutex<HashMap<String, (Instant, pb::VideoCard)>>>,
}

/// The 0-based positions of a page of `page_size` that may hold an ad:
/// the configured (1-based) slots inside the page, plus the first position
/// after app open (TopView).
pub fn positions(ad_slots: &[u32], page_size: usize, app_open: bool) -> Vec<u32> {
    let mut out: Vec<u32> = ad_slots
        .iter()
        .filter(|s| **s >= 1 && (**s as usize) <= page_size)
        .map(|s| s - 1)
        .collect();
    if app_open && page_size > 0 {
        out.push(0);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// What targeting may use about the viewer (unknown facts stay unset).
pub fn profile(viewer: &Viewer, catalog: &Catalog, vector: Option<&[f32]>) -> ads::UserAdProfile {
    let today = chrono::Utc::now().date_naive();
    let age_band = viewer
        .birth_date
        .as_deref()
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .map_or(common::AgeBand::Unspecified, |b| {
            loop_platform::time::age_band(b, today)
        });
    let interests = vector.map_or_else(Vec::new, |v| {
        catalog
            .top_categories(v, 20)
            .into_iter()
            .map(|(category, weight)| ads::InterestWeight { category, weight })
            .collect()
    });
    let week_ago = chrono::Utc::now().timestamp_millis() - BEHAVIOR_LOOKBACK_MS;
    // Newest first already.
    let recent_behaviors = viewer
        .state
        .iter()
        .flat_map(|s| s.behaviors())
        .filter(|(_, _, ms)| *ms >= week_ago)
        .take(100)
        .map(|(kind, value, ms)| {
            let kind = match kind {
                BehaviorKind::Category => ads::BehaviorKind::EngagedWithCategory,
                BehaviorKind::Hashtag => ads::BehaviorKind::EngagedWithHashtag,
            };
            ads::RecentBehavior {
                kind: kind as i32,
                value: value.to_owned(),
                last_engaged_at: chrono::DateTime::from_timestamp_millis(ms)
                    .map(loop_platform::time::to_timestamp),
            }
        })
        .collect();
    ads::UserAdProfile {
        age_band: age_band as i32,
        gender: viewer.gender,
        interests,
        recent_behaviors,
    }
}

impl AdsClient {
    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let token = self.keys.service_token(Duration::from_secs(60));
        loop_platform::grpc::request(message, Some(&token), self.deadline)
    }

    /// The filled slots for this page; empty on any failure (logged).
    pub async fn fill(&self, request: ads::FillAdSlotsRequest) -> Vec<ads::FilledSlot> {
        let mut client = self.ads.clone();
        let call = client.fill_ad_slots(self.request(request));
        match tokio::time::timeout(self.deadline, call).await {
            Ok(Ok(response)) => response.into_inner().slots,
            Ok(Err(status)) => {
                tracing::warn!(code = ?status.code(), message = %status.message(), "ad slots not filled");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!(
                    deadline_ms = self.deadline.as_millis() as u64,
                    "ad slots not filled in time"
                );
                Vec::new()
            }
        }
    }

    /// The card of an ad's video: the catalog's, else content's (cached).
    async fn card(&self, catalog: &Catalog, video_id: &str) -> Option<pb::VideoCard> {
        if let Some(v) = catalog.get(video_id) {
            return Some(feed::card(&v));
        }
        if let Some((at, card)) = self.cards.lock().get(video_id)
            && at.elapsed() < CARD_TTL
        {
            return Some(card.clone());
        }
        let found = self
            .content
            .clone()
            .get_video(self.request(content::GetVideoRequest {
                video_id: video_id.to_owned(),
            }))
            .await;
        let v = match found {
            Ok(r) => r.into_inner().video?,
            Err(status) => {
                tracing::warn!(video_id, code = ?status.code(), "ad video not found; slot left organic");
                return None;
            }
        };
        let card = pb::VideoCard {
            video_id: v.video_id,
            creator_id: v.creator_id,
            sound_id: v.sound_id,
            hashtags: v.hashtags,
            caption: v.caption,
            category: v.category,
            media_url: v.media_url,
            duration_ms: v.duration_ms,
            published_at: v.published_at,
        };
        let mut cards = self.cards.lock();
        if cards.len() > 10_000 {
            cards.retain(|_, (at, _)| at.elapsed() < CARD_TTL);
        }
        cards.insert(video_id.to_owned(), (Instant::now(), card.clone()));
        Some(card)
    }

    /// Places the filled slots into the organic page: each ad at its
    /// position, organic items around them (an organic copy of an ad's
    /// video is dropped), `page_size` items in all, positions renumbered.
    pub async fn merge(
        &self,
        catalog: &Catalog,
        viewer: &Viewer,
        organic: Vec<pb::FeedItem>,
        filled: Vec<ads::FilledSlot>,
        page_size: usize,
    ) -> Vec<pb::FeedItem> {
        let mut at: HashMap<u32, pb::FeedItem> = HashMap::new();
        for slot in filled {
            let Some(placement) = slot.placement else {
                continue;
            };
            let Some(video) = self.card(catalog, &placement.video_id).await else {
                continue;
            };
            if !ad_allowed(viewer, &video) {
                // The viewer filtered this out: the slot stays organic.
                continue;
            }
            at.insert(
                slot.position,
                pb::FeedItem {
                    position: slot.position,
                    item: Some(pb::feed_item::Item::Ad(pb::AdCard {
                        placement: Some(placement),
                        video: Some(video),
                    })),
                    reason: "Sponsored".into(),
                    reason_kind: pb::ReasonKind::Sponsored as i32,
                    score: 0.0,
                    features: Vec::new(),
                },
            );
        }
        if at.is_empty() {
            return organic;
        }
        let ad_videos: Vec<String> = at
            .values()
            .filter_map(|i| match &i.item {
                Some(pb::feed_item::Item::Ad(a)) => a.video.as_ref().map(|v| v.video_id.clone()),
                _ => None,
            })
            .collect();
        let mut organic = organic.into_iter().filter(|i| match &i.item {
            Some(pb::feed_item::Item::Video(v)) => !ad_videos.contains(&v.video_id),
            _ => true,
        });
        let mut page = Vec::with_capacity(page_size);
        for position in 0..page_size {
            let item = match at.remove(&(position as u32)) {
                Some(ad) => Some(ad),
                None => organic.next(),
            };
            let Some(mut item) = item else { break };
            item.position = position as u32;
            page.push(item);
        }
        page
    }
}

/// Whether an ad's video passes the viewer's own rules, as organic videos
/// must: a keyword they filtered (caption or hashtags) or a creator they
/// marked "not interested" keeps a Spark ad of that video, or any ad, out of
/// their feed. Targeting is the advertiser's; these filters are the viewer's.
pub(crate) fn ad_allowed(viewer: &Viewer, video: &pb::VideoCard) -> bool {
    if viewer.suppressed_creators.contains(&video.creator_id) {
        return false;
    }
    if viewer.keywords.is_empty() {
        return true;
    }
    let text = format!("{} {}", video.caption, video.hashtags.join(" ")).to_lowercase();
    !viewer.keywords.iter().any(|k| text.contains(k.as_str()))
}

#[cfg(test)]
mod viewer_rules {
    use super::*;

    fn card(creator: &str, caption: &str, hashtags: &[&str]) -> pb::VideoCard {
        pb::VideoCard {
            creator_id: creator.into(),
            caption: caption.into(),
            hashtags: hashtags.iter().map(|h| (*h).to_owned()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn an_ad_obeys_the_viewers_keyword_filters_and_suppressions() {
        let viewer = Viewer {
            keywords: vec!["comedy".into()],
            suppressed_creators: ["c-muted".to_owned()].into(),
            ..Default::default()
        };
        assert!(!ad_allowed(&viewer, &card("c1", "spark me", &["comedy"])));
        assert!(!ad_allowed(&viewer, &card("c1", "Best COMEDY clip", &[])));
        assert!(!ad_allowed(&viewer, &card("c-muted", "shoes", &["style"])));
        assert!(ad_allowed(&viewer, &card("c1", "shoes", &["style"])));
        assert!(ad_allowed(
            &Viewer::default(),
            &card("c1", "comedy", &["comedy"])
        ));
    }
}
