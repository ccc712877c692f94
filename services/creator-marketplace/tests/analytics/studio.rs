//! The creator studio's numbers (ListCreatorVideoStats) against a recount of
//! the unique events: per-video counters newest first across pages, and the
//! 30 UTC days of views, so duplicates and redeliveries moved neither the
//! counters nor the daily buckets.

use chrono::SubsecRound;

use super::*;

/// A creator's videos (newest first) and 30 days of views.
type Studio = (Vec<pb::VideoStats>, Vec<pb::DailyViews>);
/// creator, published_at, removed.
type Facts = (String, DateTime<Utc>, bool);

/// What each creator's studio must show, recounted from the unique events.
pub fn studio_recount(events: &[Ev]) -> BTreeMap<String, Studio> {
    use ev::content_event::Payload as C;
    let mut seen = BTreeSet::new();
    // video -> (creator, published, removed)
    let mut videos: HashMap<String, Facts> = HashMap::new();
    let mut views: HashMap<String, u64> = HashMap::new();
    let mut viewers: BTreeSet<(String, String)> = BTreeSet::new();
    let mut likes: BTreeSet<(String, String)> = BTreeSet::new();
    let mut comments: HashMap<String, String> = HashMap::new();
    let mut shares: HashMap<String, u64> = HashMap::new();
    let mut daily: HashMap<(String, NaiveDate), u64> = HashMap::new();
    for e in events {
        if !seen.insert(e.id()) {
            continue;
        }
        match e {
            Ev::Engagement(x) => {
                if !matches!(
                    x.credit(),
                    ev::EngagementCredit::Counted | ev::EngagementCredit::Unspecified
                ) {
                    continue;
                }
                *views.entry(x.video_id.clone()).or_default() += 1;
                viewers.insert((x.video_id.clone(), x.user_id.clone()));
                let day = loop_platform::time::from_timestamp("t", x.occurred_at.as_ref())
                    .unwrap()
                    .date_naive();
                *daily.entry((x.creator_id.clone(), day)).or_default() += 1;
            }
            Ev::Content(x) => match x.payload.as_ref().unwrap() {
                C::VideoPublished(p) => {
                    let v = p.video.as_ref().unwrap();
                    // Postgres keeps microseconds.
                    let at = loop_platform::time::from_timestamp("t", v.published_at.as_ref())
                        .unwrap()
                        .trunc_subsecs(6);
                    videos.insert(v.video_id.clone(), (v.creator_id.clone(), at, false));
                }
                C::VideoRemoved(r) => {
                    if let Some(v) = videos.get_mut(&r.video_id) {
                        v.2 = true;
                    }
                }
                C::VideoLiked(l) => {
                    likes.insert((l.video_id.clone(), l.user_id.clone()));
                }
                C::VideoUnliked(l) => {
                    likes.remove(&(l.video_id.clone(), l.user_id.clone()));
                }
                C::CommentAdded(c) => {
                    comments.insert(c.comment_id.clone(), c.video_id.clone());
                }
                C::CommentDeleted(c) => {
                    comments.remove(&c.comment_id);
                }
                C::VideoShared(s) => *shares.entry(s.video_id.clone()).or_default() += 1,
                _ => {}
            },
            Ev::Wallet(_) => {}
        }
    }
    let today = Utc::now().date_naive();
    let mut out: BTreeMap<String, Studio> = BTreeMap::new();
    let mut live: Vec<(&String, &Facts)> = videos.iter().filter(|(_, v)| !v.2).collect();
    live.sort_by(|a, b| (b.1.1, b.0).cmp(&(a.1.1, a.0)));
    for (id, (creator, published, _)) in live {
        let stats = pb::VideoStats {
            video_id: id.clone(),
            published_at: ts(*published),
            views: views.get(id).copied().unwrap_or(0),
            unique_viewers: viewers.iter().filter(|(v, _)| v == id).count() as u64,
            likes: likes.iter().filter(|(v, _)| v == id).count() as u64,
            comments: comments.values().filter(|v| *v == id).count() as u64,
            shares: shares.get(id).copied().unwrap_or(0),
        };
        out.entry(creator.clone()).or_default().0.push(stats);
    }
    for (creator, (_, days)) in out.iter_mut() {
        *days = (0..WINDOW_DAYS)
            .rev()
            .map(|back| {
                let day = today - chrono::Duration::days(back);
                pb::DailyViews {
                    day: day.format("%Y-%m-%d").to_string(),
                    views: daily.get(&(creator.clone(), day)).copied().unwrap_or(0),
                }
            })
            .collect();
    }
    out
}

fn call(
    m: &Market,
    token: &str,
    page_token: &str,
) -> impl std::future::Future<Output = Result<pb::ListCreatorVideoStatsResponse, tonic::Status>> {
    let mut client = m.client.clone();
    let req = loop_platform::grpc::request(
        pb::ListCreatorVideoStatsRequest {
            page: Some(loop_proto::common::v1::PageRequest {
                page_size: 2,
                page_token: page_token.into(),
            }),
        },
        Some(token),
        Duration::from_secs(30),
    );
    async move {
        client
            .list_creator_video_stats(req)
            .await
            .map(|r| r.into_inner())
    }
}

/// Each creator's studio, every page of two, equals the recount.
pub async fn check_studio(
    m: &Market,
    keys: &loop_platform::testing::TestKeys,
    creators: &[String],
    events: &[Ev],
) {
    let want = studio_recount(events);
    for c in creators {
        let token = keys.issue(c, Role::Creator, Duration::from_secs(600));
        let mut videos = Vec::new();
        let mut daily = None;
        let mut page_token = String::new();
        loop {
            let r = call(m, &token, &page_token).await.expect("studio");
            assert!(r.videos.len() <= 2, "pages of two");
            videos.extend(r.videos);
            if let Some(d) = &daily {
                assert_eq!(d, &r.daily_views, "the same days on every page");
            }
            daily = Some(r.daily_views);
            page_token = r.page.unwrap_or_default().next_page_token;
            if page_token.is_empty() {
                break;
            }
        }
        let (want_videos, want_days) = &want[c];
        assert_eq!(&videos, want_videos, "per-video stats of {c}");
        assert_eq!(daily.as_ref(), Some(want_days), "daily views of {c}");
        assert!(
            want_videos
                .iter()
                .any(|v| v.views > 0 && v.unique_viewers > 0)
        );
        assert!(want_days.iter().filter(|d| d.views > 0).count() > 1);
    }
    // A token the API did not issue is refused by its field.
    let token = keys.issue(&creators[0], Role::Creator, Duration::from_secs(600));
    let err = call(m, &token, "not-a-token").await.expect_err("bad token");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("page.page_token"),
        "{}",
        err.message()
    );
    // Only creators have a studio.
    let advertiser = keys.issue(
        &Uuid::now_v7().to_string(),
        Role::Advertiser,
        Duration::from_secs(600),
    );
    let err = call(m, &advertiser, "").await.expect_err("advertiser");
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
}
