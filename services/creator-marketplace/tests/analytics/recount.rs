//! The reference: every creator's analytics recounted from the unique events
//! in production order, with the same definitions as the service.

use super::*;

/// creator, category, hashtags, published_at, removed.
type VideoFacts = (String, String, Vec<String>, DateTime<Utc>, bool);

/// The state the events leave, by the service's definitions.
#[derive(Default)]
struct Tally {
    seen: BTreeSet<String>,
    /// (followee, follower).
    follows: BTreeSet<(String, String)>,
    /// Birth date, gender, country by user.
    profiles: HashMap<String, (Option<NaiveDate>, i16, String)>,
    videos: HashMap<String, VideoFacts>,
    /// Credited views by video.
    views: HashMap<String, i64>,
    /// (video, user).
    likes: BTreeSet<(String, String)>,
    /// Video by comment.
    comments: HashMap<String, String>,
    shares: HashMap<String, i64>,
    /// The last credited view of each viewer, by creator.
    audience: HashMap<String, HashMap<String, DateTime<Utc>>>,
    /// (recipient, diamonds, at) by transaction.
    gifts: HashMap<String, (String, i64, DateTime<Utc>)>,
}

fn at(t: Option<&prost_types::Timestamp>) -> DateTime<Utc> {
    loop_platform::time::from_timestamp("t", t).unwrap()
}

fn ratio(a: i64, b: i64) -> f64 {
    if b <= 0 {
        0.0
    } else {
        (a as f64 / b as f64).clamp(0.0, 1.0)
    }
}

/// The five largest positive entries as shares of `total_views`.
fn top5(m: BTreeMap<String, i64>, total_views: i64) -> Vec<pb::Share> {
    let mut v: Vec<(String, i64)> = m.into_iter().filter(|x| x.1 > 0).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.into_iter()
        .take(5)
        .map(|(k, x)| pb::Share {
            key: k,
            share: ratio(x, total_views),
        })
        .collect()
}

pub fn recount(
    creators: &[String],
    events: &[Ev],
    now: DateTime<Utc>,
) -> BTreeMap<String, pb::CreatorAnalytics> {
    let mut tally = Tally::default();
    for e in events {
        tally.fold(e);
    }
    creators
        .iter()
        .map(|c| (c.clone(), tally.analytics(c, now)))
        .collect()
}

impl Tally {
    fn fold(&mut self, e: &Ev) {
        if !self.seen.insert(e.id()) {
            return;
        }
        match e {
            Ev::Engagement(x) => {
                // Brand deals are priced on these: only credited views count.
                if !matches!(
                    x.credit(),
                    ev::EngagementCredit::Counted | ev::EngagementCredit::Unspecified
                ) {
                    return;
                }
                *self.views.entry(x.video_id.clone()).or_default() += 1;
                let at = at(x.occurred_at.as_ref());
                let last = self
                    .audience
                    .entry(x.creator_id.clone())
                    .or_default()
                    .entry(x.user_id.clone())
                    .or_insert(at);
                *last = (*last).max(at);
            }
            Ev::Wallet(x) => {
                if let Some(ev::wallet_event::Payload::GiftSent(g)) = &x.payload {
                    self.gifts.entry(g.transaction_id.clone()).or_insert((
                        g.recipient_id.clone(),
                        g.diamonds,
                        at(x.occurred_at.as_ref()),
                    ));
                }
            }
            Ev::Content(x) => self.content(x.payload.as_ref().unwrap()),
        }
    }

    fn content(&mut self, payload: &ev::content_event::Payload) {
        use ev::content_event::Payload as C;
        match payload {
            C::VideoPublished(p) => {
                let v = p.video.as_ref().unwrap();
                let facts = (
                    v.creator_id.clone(),
                    v.category.clone(),
                    v.hashtags.clone(),
                    at(v.published_at.as_ref()),
                    false,
                );
                self.videos.insert(v.video_id.clone(), facts);
            }
            C::VideoRemoved(r) => {
                if let Some(v) = self.videos.get_mut(&r.video_id) {
                    v.4 = true;
                }
            }
            C::UserFollowed(f) => {
                self.follows
                    .insert((f.followee_id.clone(), f.follower_id.clone()));
            }
            C::UserUnfollowed(f) => {
                self.follows
                    .remove(&(f.followee_id.clone(), f.follower_id.clone()));
            }
            C::UserRegistered(u) => {
                let birth = NaiveDate::parse_from_str(&u.birth_date, "%Y-%m-%d").ok();
                self.profiles.insert(
                    u.user_id.clone(),
                    (birth, u.gender as i16, u.country.clone()),
                );
            }
            C::VideoLiked(l) => {
                self.likes.insert((l.video_id.clone(), l.user_id.clone()));
            }
            C::VideoUnliked(l) => {
                self.likes.remove(&(l.video_id.clone(), l.user_id.clone()));
            }
            C::CommentAdded(c) => {
                self.comments
                    .insert(c.comment_id.clone(), c.video_id.clone());
            }
            C::CommentDeleted(c) => {
                self.comments.remove(&c.comment_id);
            }
            C::VideoShared(s) => *self.shares.entry(s.video_id.clone()).or_default() += 1,
            _ => {}
        }
    }

    fn views_of(&self, id: &str) -> i64 {
        self.views.get(id).copied().unwrap_or(0)
    }

    /// Likes, live comments and shares of a video.
    fn interactions_of(&self, id: &str) -> i64 {
        self.likes.iter().filter(|l| l.0 == id).count() as i64
            + self.comments.values().filter(|v| *v == id).count() as i64
            + self.shares.get(id).copied().unwrap_or(0)
    }

    /// Birth date, gender, country of each viewer `creator` had in the window.
    fn audience_rows(
        &self,
        creator: &str,
        since: DateTime<Utc>,
    ) -> Vec<(Option<NaiveDate>, i16, Option<String>, i64)> {
        self.audience
            .get(creator)
            .map(|m| {
                m.iter()
                    .filter(|(_, at)| **at >= since)
                    .map(|(viewer, _)| match self.profiles.get(viewer) {
                        Some((b, g, country)) => (*b, *g, Some(country.clone()), 1),
                        None => (None, 0, None, 1),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn analytics(&self, c: &String, now: DateTime<Utc>) -> pb::CreatorAnalytics {
        let since = now - chrono::Duration::days(WINDOW_DAYS);
        let window: Vec<(&String, &VideoFacts)> = self
            .videos
            .iter()
            .filter(|(_, v)| &v.0 == c && !v.4 && v.3 >= since)
            .collect();
        let n = window.len() as i64;
        let total_views: i64 = window.iter().map(|(id, _)| self.views_of(id)).sum();
        let interactions: i64 = window.iter().map(|(id, _)| self.interactions_of(id)).sum();
        let mut cats = BTreeMap::new();
        let mut tags = BTreeMap::new();
        for (id, v) in &window {
            if !v.1.is_empty() {
                *cats.entry(v.1.clone()).or_insert(0) += self.views_of(id);
            }
            for h in &v.2 {
                *tags.entry(h.clone()).or_insert(0) += self.views_of(id);
            }
        }
        let aud = analytics::audience(&self.audience_rows(c, since), now.date_naive());
        pb::CreatorAnalytics {
            creator_id: c.clone(),
            followers: self.follows.iter().filter(|f| &f.0 == c).count() as u64,
            avg_views_30d: if n > 0 { (total_views / n) as u64 } else { 0 },
            engagement_rate: ratio(interactions, total_views),
            videos_30d: n as u32,
            audience_age_bands: analytics::age_shares(&aud.age_bands),
            audience_genders: analytics::gender_shares(&aud.genders),
            audience_countries: analytics::top(&aud.countries, 10),
            top_categories: top5(cats, total_views),
            top_hashtags: top5(tags, total_views),
            gifts_received_diamonds_30d: self
                .gifts
                .values()
                .filter(|g| &g.0 == c && g.2 >= since)
                .map(|g| g.1)
                .sum(),
            computed_at: None,
            // This stream has no commerce.v1 (shop.rs covers the shop numbers).
            ..Default::default()
        }
    }
}
