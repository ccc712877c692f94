//! Branded Hashtag Challenges and the Discover list.

use super::*;

/// Branded Hashtag Challenges.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_branded_challenge))
        .routes(routes!(discover_challenges))
}

// --- Branded Hashtag Challenges -------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandedChallengeBody {
    pub idempotency_key: String,
    /// The campaign whose budget pays the fee.
    pub campaign_id: String,
    pub hashtag: String,
    pub description: String,
    #[serde(default)]
    pub banner_url: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Where it is pinned; empty = everywhere.
    #[serde(default)]
    pub countries: Vec<String>,
    /// The fee you were quoted; refused if it changed.
    #[serde(default)]
    pub expected_fee_cents: i64,
}

/// Buy a Branded Hashtag Challenge: pinned in Discover, its videos boosted in For You.
#[utoipa::path(post, path = "/v1/ads/branded-challenges", tag = "ads", security(("bearer" = [])),
    request_body = BrandedChallengeBody,
    responses((status = 201, body = BrandedChallengeDto), (status = "4XX", body = ErrorBody)))]
pub async fn create_branded_challenge(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<BrandedChallengeBody>,
) -> ApiResult<(StatusCode, Json<BrandedChallengeDto>)> {
    let r = st
        .call(st.ads().create_branded_challenge(st.req(
            &user,
            pb::CreateBrandedChallengeRequest {
                idempotency_key: b.idempotency_key,
                campaign_id: b.campaign_id,
                hashtag: b.hashtag,
                description: b.description,
                banner_url: b.banner_url,
                starts_at: Some(to_timestamp(b.starts_at)),
                ends_at: Some(to_timestamp(b.ends_at)),
                countries: b.countries,
                expected_fee_cents: b.expected_fee_cents,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.challenge
                .ok_or_else(|| ApiError::missing("challenge"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DiscoverQuery {
    /// ISO 3166-1 alpha-2; every country when absent.
    pub country: Option<String>,
}

/// Sponsored challenges pinned in Discover right now.
#[utoipa::path(get, path = "/v1/discover/challenges", tag = "discover", security(("bearer" = [])), params(DiscoverQuery),
    responses((status = 200, body = [BrandedChallengeDto]), (status = "4XX", body = ErrorBody)))]
pub async fn discover_challenges(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<DiscoverQuery>,
) -> ApiResult<Json<Vec<BrandedChallengeDto>>> {
    let r = st
        .call(st.ads().list_active_challenges(st.req(
            &user,
            pb::ListActiveChallengesRequest {
                country: q.country.unwrap_or_default(),
            },
        )))
        .await?;
    Ok(Json(r.challenges.into_iter().map(Into::into).collect()))
}
