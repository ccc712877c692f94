//! Advertiser search over creators (keyset pages).

use super::*;

/// Creator search.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search_creators))
}

// --- search ------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Comma-separated ISO alpha-2 home countries.
    #[param(pattern = "^[A-Za-z]{2}(,[A-Za-z]{2})*$")]
    pub countries: Option<String>,
    #[serde(default, deserialize_with = "crate::dto::count")]
    #[param(minimum = 0)]
    pub follower_min: Option<u64>,
    /// Not below follower_min.
    #[serde(default, deserialize_with = "crate::dto::count")]
    #[param(minimum = 0)]
    pub follower_max: Option<u64>,
    #[serde(default, deserialize_with = "crate::dto::count")]
    #[param(minimum = 0)]
    pub min_avg_views: Option<u64>,
    /// In [0, 1].
    #[param(minimum = 0, maximum = 1)]
    pub min_engagement_rate: Option<f64>,
    /// Comma-separated `dimension:value:min_share` (at most 5), e.g.
    /// `country:US:0.3,age_band:18_24:0.4,gender:female:0.5`.
    #[param(
        pattern = "^(country:[A-Za-z]{2}|age_band:(13_17|18_24|25_34|35_44|45_54|55_plus)|gender:(female|male|non_binary|undisclosed)):(0(\\.[0-9]{1,3})?|1(\\.0)?)(,(country:[A-Za-z]{2}|age_band:(13_17|18_24|25_34|35_44|45_54|55_plus)|gender:(female|male|non_binary|undisclosed)):(0(\\.[0-9]{1,3})?|1(\\.0)?)){0,4}$"
    )]
    pub audience: Option<String>,
    pub category: Option<String>,
    #[param(minimum = 0)]
    pub max_rate_cents: Option<i64>,
    /// Shop sales (docs/commerce.md): GMV over the last 30 days, cents.
    #[param(minimum = 0)]
    pub min_shop_gmv_cents: Option<i64>,
    /// Shop conversion over the last 30 days, in [0, 1].
    #[param(minimum = 0, maximum = 1)]
    pub min_shop_conversion_rate: Option<f64>,
    /// followers (default), avg_views, engagement_rate, shop_gmv or shop_conversion.
    #[param(schema_with = sorts)]
    pub sort: Option<String>,
    /// 1..=100, default 20.
    #[serde(default, deserialize_with = "crate::dto::page_size")]
    #[param(minimum = 1, maximum = 100)]
    pub page_size: Option<u32>,
    pub page_token: Option<String>,
}

pub(crate) fn audience(raw: &str) -> ApiResult<Vec<pb::AudienceFilter>> {
    raw.split(',')
        .filter(|s| !s.trim().is_empty())
        .enumerate()
        .map(|(i, part)| {
            let field = format!("audience[{i}]");
            let bits: Vec<&str> = part.trim().split(':').collect();
            let [dim, value, min] = bits.as_slice() else {
                return Err(ApiError::invalid(
                    field,
                    "must be dimension:value:min_share",
                ));
            };
            let min_share: f64 = min.parse().map_err(|_| {
                ApiError::invalid(format!("{field}.min_share"), "must be a number in [0, 1]")
            })?;
            let (dimension, value) = match *dim {
                "country" => (pb::AudienceDimension::Country, value.to_uppercase()),
                "age_band" => (
                    pb::AudienceDimension::AgeBand,
                    format!("AGE_BAND_{}", value.to_uppercase()),
                ),
                "gender" => (
                    pb::AudienceDimension::Gender,
                    format!("GENDER_{}", value.to_uppercase()),
                ),
                _ => {
                    return Err(ApiError::invalid(
                        format!("{field}.dimension"),
                        "must be country, age_band or gender",
                    ));
                }
            };
            Ok(pb::AudienceFilter {
                dimension: dimension as i32,
                value,
                min_share,
            })
        })
        .collect()
}

/// Advertisers: search listed creators by their analytics (keyset pages).
#[utoipa::path(get, path = "/v1/marketplace/creators", tag = "marketplace", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = Page<CreatorResultDto>), Forbidden))]
pub async fn search_creators(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Page<CreatorResultDto>>> {
    let sort = match q.sort.as_deref().unwrap_or("followers") {
        "followers" => pb::CreatorSort::FollowersDesc,
        "avg_views" => pb::CreatorSort::AvgViewsDesc,
        "engagement_rate" => pb::CreatorSort::EngagementRateDesc,
        "shop_gmv" => pb::CreatorSort::ShopGmvDesc,
        "shop_conversion" => pb::CreatorSort::ShopConversionDesc,
        _ => {
            return Err(ApiError::invalid(
                "sort",
                "must be one of: followers, avg_views, engagement_rate, shop_gmv, shop_conversion",
            ));
        }
    };
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let req = pb::SearchCreatorsRequest {
        countries: q
            .countries
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        follower_min: q.follower_min.unwrap_or(0),
        follower_max: q.follower_max.unwrap_or(0),
        min_avg_views: q.min_avg_views.unwrap_or(0),
        min_engagement_rate: q.min_engagement_rate.unwrap_or(0.0),
        audience: audience(q.audience.as_deref().unwrap_or_default())?,
        category: q.category.unwrap_or_default(),
        max_rate_cents: q.max_rate_cents.unwrap_or(0),
        sort: sort as i32,
        page: page.to_proto(),
        min_shop_gmv_cents: q.min_shop_gmv_cents.unwrap_or(0),
        min_shop_conversion_rate: q.min_shop_conversion_rate.unwrap_or(0.0),
    };
    let r = st
        .call(st.market().search_creators(st.req(&user, req)))
        .await?;
    Ok(Json(Page::new(r.results, r.page)))
}
