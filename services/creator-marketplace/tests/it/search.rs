//! Advertiser search: filters, sorts, keyset pages.

use super::*;

#[tokio::test]
async fn search_filters_sorts_and_pages() {
    let p = Platform::start().await;
    let advertiser = p
        .seed_users(1, "1980-01-01", Role::Advertiser)
        .await
        .remove(0);
    let mut creators = Vec::new();
    for _ in 0..3 {
        creators.push(p.listed_creator().await);
    }
    // Wait until the analytics consumed their follows (2 each) and the
    // refresher is idle, then give them distinct metrics straight in the
    // projection (the analytics path is covered by the analytics test).
    let search = |req: pb::SearchCreatorsRequest| {
        let m = p.m();
        let r = p.req(&advertiser, Role::Advertiser, req);
        async move {
            m.clone()
                .search_creators(r)
                .await
                .expect("search")
                .into_inner()
        }
    };
    let ids: Vec<Uuid> = creators
        .iter()
        .map(|c| Uuid::parse_str(c).unwrap())
        .collect();
    testing::wait_for("projection settled", Duration::from_secs(60), || async {
        let (n, dirty): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM creator_stats WHERE creator_id = ANY($1) AND followers = 2), \
             (SELECT count(*) FROM dirty_creators)",
        )
        .bind(&ids)
        .fetch_one(&p.pool)
        .await
        .ok()?;
        (n == 3 && dirty == 0).then_some(())
    })
    .await;
    for (i, c) in creators.iter().enumerate() {
        sqlx::query(
            "UPDATE creator_stats SET followers = $2, avg_views_30d = $3, engagement_rate = $4, \
             aud_age = '{0,0.6,0.2,0,0,0}', aud_countries = $5 WHERE creator_id = $1",
        )
        .bind(Uuid::parse_str(c).unwrap())
        .bind(1000 * (i as i64 + 1))
        .bind(500 * (3 - i as i64))
        .bind(0.01 * (i as f64 + 1.0))
        .bind(serde_json::json!({"US": 0.5 - 0.2 * i as f64, "BR": 0.1}))
        .execute(&p.pool)
        .await
        .unwrap();
    }
    let all = search(pb::SearchCreatorsRequest::default()).await;
    let ids: Vec<&str> = all.results.iter().map(|r| r.creator_id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            creators[2].as_str(),
            creators[1].as_str(),
            creators[0].as_str()
        ]
    );
    assert_eq!(all.results[0].top_audience_countries[0].key, "BR");

    // Page by one, by engagement rate; the token is bound to the query.
    let mut req = pb::SearchCreatorsRequest {
        sort: pb::CreatorSort::EngagementRateDesc as i32,
        page: Some(loop_proto::common::v1::PageRequest {
            page_size: 1,
            page_token: String::new(),
        }),
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = search(req.clone()).await;
        seen.extend(page.results.iter().map(|r| r.creator_id.clone()));
        let next = page.page.unwrap().next_page_token;
        if next.is_empty() {
            break;
        }
        req.page.as_mut().unwrap().page_token = next;
    }
    assert_eq!(
        seen,
        vec![
            creators[2].clone(),
            creators[1].clone(),
            creators[0].clone()
        ]
    );
    let first = search(req.clone()).await;
    let _ = first;
    let mut other = req.clone();
    other.sort = pb::CreatorSort::FollowersDesc as i32;
    let token = {
        let mut r = req.clone();
        r.page.as_mut().unwrap().page_token = String::new();
        search(r).await.page.unwrap().next_page_token
    };
    other.page.as_mut().unwrap().page_token = token;
    let err = p
        .m()
        .search_creators(p.req(&advertiser, Role::Advertiser, other))
        .await
        .expect_err("token for another sort");
    assert_eq!(field(&err), "page.page_token");

    // Audience filters: US share >= 30% and age 18-24 >= 50%.
    let filtered = search(pb::SearchCreatorsRequest {
        audience: vec![
            pb::AudienceFilter {
                dimension: pb::AudienceDimension::Country as i32,
                value: "US".into(),
                min_share: 0.3,
            },
            pb::AudienceFilter {
                dimension: pb::AudienceDimension::AgeBand as i32,
                value: "AGE_BAND_18_24".into(),
                min_share: 0.5,
            },
        ],
        category: "beauty".into(),
        follower_min: 500,
        ..Default::default()
    })
    .await;
    let ids: Vec<&str> = filtered
        .results
        .iter()
        .map(|r| r.creator_id.as_str())
        .collect();
    assert_eq!(ids, vec![creators[1].as_str(), creators[0].as_str()]);
}
