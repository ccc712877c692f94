//! The stream the test produces: registrations, videos (one old, one
//! removed), follows and unfollows, views, likes and unlikes, comments and
//! deletions, shares, gifts. Deterministic for a seed, except for ids and
//! the clock.

use super::*;

pub struct Video {
    pub id: String,
    pub creator: String,
    pub category: String,
    pub hashtags: Vec<String>,
}

/// The creators and every event, in production order.
pub fn stream(seed: u64) -> (Vec<String>, Vec<Ev>) {
    let mut rng = Rng(seed);
    let now = Utc::now();
    let creators: Vec<String> = (0..3).map(|_| Uuid::now_v7().to_string()).collect();
    let viewers: Vec<String> = (0..40).map(|_| Uuid::now_v7().to_string()).collect();
    let mut out = registrations(&mut rng, now, &viewers);
    let videos = publications(&mut rng, now, &creators, &mut out);
    for _ in 0..900 {
        let viewer = &viewers[rng.below(viewers.len())];
        let v = &videos[rng.below(videos.len())];
        let at = now - chrono::Duration::minutes(rng.below(60 * 24 * 10) as i64);
        interaction(&mut rng, at, viewer, v, &creators, &mut out);
    }
    // One of creator 1's videos is removed.
    let removed = videos.iter().find(|v| v.creator == creators[1]).unwrap();
    out.push(content(
        now,
        ev::content_event::Payload::VideoRemoved(ev::VideoRemoved {
            video_id: removed.id.clone(),
            creator_id: removed.creator.clone(),
            reason: 1,
        }),
    ));
    out.extend(gifts(now, &creators, &viewers, &videos[0]));
    (creators, out)
}

/// Every viewer but one in eight registers (those count in the audience
/// total only), with a country, gender and birth date.
fn registrations(rng: &mut Rng, now: DateTime<Utc>, viewers: &[String]) -> Vec<Ev> {
    let countries = ["US", "BR", "DE", "IN", "GB"];
    let births = [
        "2009-04-01",
        "2004-06-15",
        "1998-01-30",
        "1987-09-09",
        "1975-12-12",
        "1960-02-02",
    ];
    let mut out = Vec::new();
    for (i, v) in viewers.iter().enumerate() {
        if i % 8 == 7 {
            continue; // no profile: counts in the audience total only
        }
        out.push(content(
            now,
            ev::content_event::Payload::UserRegistered(ev::UserRegistered {
                user_id: v.clone(),
                role: 1,
                country: countries[rng.below(countries.len())].into(),
                language: "en".into(),
                gender: 1 + rng.below(4) as i32,
                birth_date: births[rng.below(births.len())].into(),
                declared_interests: vec![],
            }),
        ));
    }
    out
}

/// Four videos per creator in the last 20 days, except creator 0's fourth,
/// published before the window.
fn publications(
    rng: &mut Rng,
    now: DateTime<Utc>,
    creators: &[String],
    out: &mut Vec<Ev>,
) -> Vec<Video> {
    let cats = ["beauty", "comedy", "food"];
    let tags = ["glow", "fyp", "morning", "recipe", "lol"];
    let mut videos = Vec::new();
    for (ci, c) in creators.iter().enumerate() {
        for k in 0..4 {
            let published = if ci == 0 && k == 3 {
                now - chrono::Duration::days(WINDOW_DAYS + 10)
            } else {
                now - chrono::Duration::days(rng.below(20) as i64)
            };
            let v = Video {
                id: Uuid::now_v7().to_string(),
                creator: c.clone(),
                category: cats[rng.below(3)].into(),
                hashtags: (0..1 + rng.below(3))
                    .map(|_| tags[rng.below(tags.len())].to_string())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            };
            out.push(content(
                published,
                ev::content_event::Payload::VideoPublished(ev::VideoPublished {
                    video: Some(ev::VideoSnapshot {
                        video_id: v.id.clone(),
                        creator_id: c.clone(),
                        hashtags: v.hashtags.clone(),
                        category: v.category.clone(),
                        servable: true,
                        published_at: ts(published),
                        ..Default::default()
                    }),
                }),
            ));
            videos.push(v);
        }
    }
    videos
}

/// One thing `viewer` does at `at` with video `v`: half are views (with the
/// credit the gateway gave), the rest likes, unlikes, comments (some
/// deleted), shares, follows and unfollows.
fn interaction(
    rng: &mut Rng,
    at: DateTime<Utc>,
    viewer: &str,
    v: &Video,
    creators: &[String],
    out: &mut Vec<Ev>,
) {
    use ev::content_event::Payload as C;
    match rng.below(10) {
        0..=4 => out.push(Ev::Engagement(view(rng, at, viewer, v))),
        5 => out.push(content(
            at,
            C::VideoLiked(ev::VideoLiked {
                user_id: viewer.into(),
                video_id: v.id.clone(),
                creator_id: v.creator.clone(),
            }),
        )),
        6 => out.push(content(
            at,
            C::VideoUnliked(ev::VideoUnliked {
                user_id: viewer.into(),
                video_id: v.id.clone(),
                creator_id: v.creator.clone(),
            }),
        )),
        7 => {
            let comment = Uuid::now_v7().to_string();
            out.push(content(
                at,
                C::CommentAdded(ev::CommentAdded {
                    comment_id: comment.clone(),
                    video_id: v.id.clone(),
                    creator_id: v.creator.clone(),
                    author_id: viewer.into(),
                    parent_comment_id: String::new(),
                }),
            ));
            if rng.chance(30) {
                out.push(content(
                    at,
                    C::CommentDeleted(ev::CommentDeleted {
                        comment_id: comment,
                        video_id: v.id.clone(),
                        creator_id: v.creator.clone(),
                    }),
                ));
            }
        }
        8 => out.push(content(
            at,
            C::VideoShared(ev::VideoShared {
                user_id: viewer.into(),
                video_id: v.id.clone(),
                creator_id: v.creator.clone(),
                channel: "copy_link".into(),
            }),
        )),
        _ => {
            let c = &creators[rng.below(creators.len())];
            let p = if rng.chance(75) {
                C::UserFollowed(ev::UserFollowed {
                    follower_id: viewer.into(),
                    followee_id: c.clone(),
                })
            } else {
                C::UserUnfollowed(ev::UserUnfollowed {
                    follower_id: viewer.into(),
                    followee_id: c.clone(),
                })
            };
            out.push(content(at, p));
        }
    }
}

fn view(rng: &mut Rng, at: DateTime<Utc>, viewer: &str, v: &Video) -> ev::EngagementEvent {
    ev::EngagementEvent {
        event_id: Uuid::now_v7().to_string(),
        occurred_at: ts(at),
        user_id: viewer.into(),
        video_id: v.id.clone(),
        creator_id: v.creator.clone(),
        kind: ev::EngagementKind::View as i32,
        watch_ms: 5000,
        video_duration_ms: 15000,
        hashtags: v.hashtags.clone(),
        category: v.category.clone(),
        // What the gateway credited: most views count; repeats,
        // unserved views and creators' own views must not.
        credit: match rng.below(8) {
            0 => ev::EngagementCredit::Duplicate,
            1 => ev::EngagementCredit::Unverified,
            2 => ev::EngagementCredit::OwnVideo,
            3 => ev::EngagementCredit::Unspecified,
            _ => ev::EngagementCredit::Counted,
        } as i32,
        ..Default::default()
    }
}

/// Twelve gifts to the creators in turn, the first one before the window.
fn gifts(now: DateTime<Utc>, creators: &[String], viewers: &[String], video: &Video) -> Vec<Ev> {
    (0..12)
        .map(|i| {
            Ev::Wallet(ev::WalletEvent {
                event_id: Uuid::now_v7().to_string(),
                occurred_at: ts(now - chrono::Duration::days(if i == 0 { 45 } else { 1 })),
                payload: Some(ev::wallet_event::Payload::GiftSent(ev::GiftSent {
                    transaction_id: Uuid::now_v7().to_string(),
                    sender_id: viewers[i].clone(),
                    recipient_id: creators[i % 3].clone(),
                    gift_id: "rose".into(),
                    gift_name: "Rose".into(),
                    count: 1,
                    coins: 1 + i as i64,
                    diamonds: 1 + i as i64,
                    video_id: video.id.clone(),
                    live_room_id: String::new(),
                })),
            })
        })
        .collect()
}
