//! Advertiser search over listed creators.
//!
//! One table (`creator_stats`: profile, metrics and audience shares, kept by
//! the analytics refresher) with a partial index per sort order over the
//! searchable creators, a country index and a GIN index on categories.
//! Filters are plain predicates on the row (audience shares are arrays and a
//! JSON map on it, so no join); keyset pagination on (sort key, creator_id)
//! with a token bound to the filters and sort it was issued for.

use std::collections::HashMap;

use loop_platform::auth::{Caller, Role};
use loop_platform::pagination;
use loop_proto::common::v1::{AgeBand, Gender, PageResponse};
use loop_proto::creator_marketplace::v1 as pb;
use prost::Message;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::error::{MktError, MktResult};
use crate::model::page_token;
use crate::service::MarketplaceService;

#[derive(Serialize, Deserialize)]
struct Token {
    /// Sort key of the last row: followers / avg views, or the f64 bits of
    /// the engagement rate (exact, unlike a decimal rendering).
    k: i64,
    id: Uuid,
    /// Hash of the filters and sort.
    f: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    Followers,
    AvgViews,
    Engagement,
    ShopGmv,
    ShopConversion,
}

impl Sort {
    fn column(self) -> &'static str {
        match self {
            Self::Followers => "followers",
            Self::AvgViews => "avg_views_30d",
            Self::Engagement => "engagement_rate",
            Self::ShopGmv => "shop_gmv_cents_30d",
            Self::ShopConversion => "shop_conversion_rate_30d",
        }
    }

    /// Whether the key is a float (kept in the token as its bits).
    fn float(self) -> bool {
        matches!(self, Self::Engagement | Self::ShopConversion)
    }
}

enum Audience {
    Age(usize, f64),
    Gender(usize, f64),
    Country(String, f64),
}

/// A validated search.
pub struct Query {
    countries: Vec<String>,
    follower_min: Option<i64>,
    follower_max: Option<i64>,
    min_avg_views: Option<i64>,
    min_engagement_rate: Option<f64>,
    min_shop_gmv_cents: Option<i64>,
    min_shop_conversion_rate: Option<f64>,
    audience: Vec<Audience>,
    category: Option<String>,
    max_rate_cents: Option<i64>,
    sort: Sort,
    limit: i64,
    after: Option<Token>,
    hash: String,
}

fn country(field: &str, value: &str) -> MktResult<String> {
    let c = value.trim().to_uppercase();
    if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_uppercase()) {
        return Err(MktError::invalid(
            field,
            "must be an ISO 3166-1 alpha-2 code",
        ));
    }
    Ok(c)
}

fn positive(v: u64) -> Option<i64> {
    (v > 0).then(|| i64::try_from(v).unwrap_or(i64::MAX))
}

fn unit(field: &str, v: f64) -> MktResult<f64> {
    if !(0.0..=1.0).contains(&v) {
        return Err(MktError::invalid(field, "must be in [0, 1]"));
    }
    Ok(v)
}

impl Query {
    pub fn parse(req: &pb::SearchCreatorsRequest) -> MktResult<Self> {
        let countries = req
            .countries
            .iter()
            .enumerate()
            .map(|(i, c)| country(&format!("countries[{i}]"), c))
            .collect::<MktResult<Vec<_>>>()?;
        let (follower_min, follower_max) = (positive(req.follower_min), positive(req.follower_max));
        if let (Some(lo), Some(hi)) = (follower_min, follower_max)
            && lo > hi
        {
            return Err(MktError::invalid(
                "follower_min",
                "must be at most follower_max",
            ));
        }
        let min_er = unit("min_engagement_rate", req.min_engagement_rate)?;
        let min_conversion = unit("min_shop_conversion_rate", req.min_shop_conversion_rate)?;
        if req.min_shop_gmv_cents < 0 {
            return Err(MktError::invalid(
                "min_shop_gmv_cents",
                "must not be negative",
            ));
        }
        if req.audience.len() > 5 {
            return Err(MktError::invalid("audience", "at most 5 audience filters"));
        }
        let mut audience = Vec::new();
        for (i, a) in req.audience.iter().enumerate() {
            let min = unit(&format!("audience[{i}].min_share"), a.min_share)?;
            let field = format!("audience[{i}].value");
            audience.push(match a.dimension() {
                pb::AudienceDimension::AgeBand => match AgeBand::from_str_name(&a.value) {
                    Some(b) if b != AgeBand::Unspecified => Audience::Age(b as usize, min),
                    _ => {
                        return Err(MktError::invalid(
                            field,
                            "must be an AgeBand name such as AGE_BAND_18_24",
                        ));
                    }
                },
                pb::AudienceDimension::Gender => match Gender::from_str_name(&a.value) {
                    Some(g) if g != Gender::Unspecified => Audience::Gender(g as usize, min),
                    _ => {
                        return Err(MktError::invalid(
                            field,
                            "must be a Gender name such as GENDER_FEMALE",
                        ));
                    }
                },
                pb::AudienceDimension::Country => {
                    Audience::Country(country(&field, &a.value)?, min)
                }
                pb::AudienceDimension::Unspecified => {
                    return Err(MktError::invalid(
                        format!("audience[{i}].dimension"),
                        "must be AGE_BAND, GENDER or COUNTRY",
                    ));
                }
            });
        }
        let category = Some(req.category.trim().to_lowercase()).filter(|c| !c.is_empty());
        if req.max_rate_cents < 0 {
            return Err(MktError::invalid("max_rate_cents", "must not be negative"));
        }
        let sort = match req.sort() {
            pb::CreatorSort::Unspecified | pb::CreatorSort::FollowersDesc => Sort::Followers,
            pb::CreatorSort::AvgViewsDesc => Sort::AvgViews,
            pb::CreatorSort::EngagementRateDesc => Sort::Engagement,
            pb::CreatorSort::ShopGmvDesc => Sort::ShopGmv,
            pb::CreatorSort::ShopConversionDesc => Sort::ShopConversion,
        };
        let page = req.page.clone().unwrap_or_default();
        let hash = {
            let mut unpaged = req.clone();
            unpaged.page = None;
            let digest = Sha256::digest(unpaged.encode_to_vec());
            digest
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        let after: Option<Token> = page_token(&page.page_token)?;
        if after.as_ref().is_some_and(|t| t.f != hash) {
            return Err(MktError::invalid(
                "page.page_token",
                "was issued for other filters or another sort",
            ));
        }
        Ok(Self {
            countries,
            follower_min,
            follower_max,
            min_avg_views: positive(req.min_avg_views),
            min_engagement_rate: (min_er > 0.0).then_some(min_er),
            min_shop_gmv_cents: (req.min_shop_gmv_cents > 0).then_some(req.min_shop_gmv_cents),
            min_shop_conversion_rate: (min_conversion > 0.0).then_some(min_conversion),
            audience,
            category,
            max_rate_cents: (req.max_rate_cents > 0).then_some(req.max_rate_cents),
            sort,
            limit: pagination::page_size(page.page_size),
            after,
            hash,
        })
    }

    fn sql(&self) -> QueryBuilder<'_, Postgres> {
        self.sql_with("")
    }

    fn sql_with(&self, prefix: &str) -> QueryBuilder<'_, Postgres> {
        let mut q = QueryBuilder::new(prefix);
        q.push(
            "SELECT creator_id, country, categories, rate_cents, followers, avg_views_30d, engagement_rate, aud_countries, \
             shop_gmv_cents_30d, shop_conversion_rate_30d FROM creator_stats WHERE listed AND open_to_offers",
        );
        match self.countries.as_slice() {
            [] => {}
            // Equality (not ANY) lets the planner walk the per-country index
            // in sort order, which matters most when the other filters are rare.
            [one] => {
                q.push(" AND country = ").push_bind(one);
            }
            many => {
                q.push(" AND country = ANY(").push_bind(many).push(")");
            }
        }
        if let Some(v) = self.follower_min {
            q.push(" AND followers >= ").push_bind(v);
        }
        if let Some(v) = self.follower_max {
            q.push(" AND followers <= ").push_bind(v);
        }
        if let Some(v) = self.min_avg_views {
            q.push(" AND avg_views_30d >= ").push_bind(v);
        }
        if let Some(v) = self.min_engagement_rate {
            q.push(" AND engagement_rate >= ").push_bind(v);
        }
        if let Some(v) = self.min_shop_gmv_cents {
            q.push(" AND shop_gmv_cents_30d >= ").push_bind(v);
        }
        if let Some(v) = self.min_shop_conversion_rate {
            q.push(" AND shop_conversion_rate_30d >= ").push_bind(v);
        }
        for a in &self.audience {
            match a {
                // Array positions are our own validated enum numbers.
                Audience::Age(i, min) => {
                    q.push(format!(" AND aud_age[{i}] >= ")).push_bind(*min);
                }
                Audience::Gender(i, min) => {
                    q.push(format!(" AND aud_gender[{i}] >= ")).push_bind(*min);
                }
                Audience::Country(c, min) => {
                    q.push(" AND COALESCE((aud_countries ->> ")
                        .push_bind(c)
                        .push(")::float8, 0) >= ")
                        .push_bind(*min);
                }
            }
        }
        if let Some(c) = &self.category {
            q.push(" AND categories @> ARRAY[")
                .push_bind(c)
                .push("]::text[]");
        }
        if let Some(v) = self.max_rate_cents {
            q.push(" AND rate_cents <= ").push_bind(v);
        }
        let col = self.sort.column();
        if let Some(t) = &self.after {
            q.push(format!(" AND ({col}, creator_id) < ("));
            if self.sort.float() {
                q.push_bind(f64::from_bits(t.k.cast_unsigned()));
            } else {
                q.push_bind(t.k);
            }
            q.push(", ").push_bind(t.id).push(")");
        }
        q.push(format!(" ORDER BY {col} DESC, creator_id DESC LIMIT "))
            .push_bind(self.limit + 1);
        q
    }
}

#[derive(sqlx::FromRow)]
struct ResultRow {
    creator_id: Uuid,
    country: String,
    categories: Vec<String>,
    rate_cents: i64,
    followers: i64,
    avg_views_30d: i64,
    engagement_rate: f64,
    aud_countries: sqlx::types::Json<HashMap<String, f64>>,
    shop_gmv_cents_30d: i64,
    shop_conversion_rate_30d: f64,
}

/// The plan Postgres picks for a search (the benchmark shows them).
pub async fn explain(pool: &PgPool, query: &Query) -> MktResult<Vec<String>> {
    let rows: Vec<(String,)> = query
        .sql_with("EXPLAIN ")
        .build_query_as()
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Runs a validated search (also what the benchmark measures).
pub async fn search(pool: &PgPool, query: &Query) -> MktResult<pb::SearchCreatorsResponse> {
    let rows: Vec<ResultRow> = query.sql().build_query_as().fetch_all(pool).await?;
    let sort = query.sort;
    let (rows, next) = pagination::finish(rows, query.limit, |r| Token {
        k: match sort {
            Sort::Followers => r.followers,
            Sort::AvgViews => r.avg_views_30d,
            Sort::Engagement => r.engagement_rate.to_bits().cast_signed(),
            Sort::ShopGmv => r.shop_gmv_cents_30d,
            Sort::ShopConversion => r.shop_conversion_rate_30d.to_bits().cast_signed(),
        },
        id: r.creator_id,
        f: query.hash.clone(),
    });
    Ok(pb::SearchCreatorsResponse {
        results: rows
            .into_iter()
            .map(|r| {
                let map: std::collections::BTreeMap<String, f64> =
                    r.aud_countries.0.into_iter().collect();
                pb::CreatorSearchResult {
                    creator_id: r.creator_id.to_string(),
                    country: r.country,
                    categories: r.categories,
                    rate_cents: r.rate_cents,
                    followers: u64::try_from(r.followers).unwrap_or(0),
                    avg_views_30d: u64::try_from(r.avg_views_30d).unwrap_or(0),
                    engagement_rate: r.engagement_rate,
                    top_audience_countries: crate::analytics::top(&map, 3),
                    shop_gmv_cents_30d: r.shop_gmv_cents_30d,
                    shop_conversion_rate_30d: r.shop_conversion_rate_30d,
                }
            })
            .collect(),
        page: Some(PageResponse {
            next_page_token: next,
        }),
    })
}

impl MarketplaceService {
    pub(crate) async fn search_creators(
        &self,
        caller: &Caller,
        req: pb::SearchCreatorsRequest,
    ) -> MktResult<pb::SearchCreatorsResponse> {
        caller.require_role(&[Role::Advertiser])?;
        let query = Query::parse(&req)?;
        search(&self.pool, &query).await
    }
}
