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
    #[schema(schema_with = crate::constraints::idempotency_key)]
    pub idempotency_key: String,
    /// The campaign whose budget pays the fee.
    #[schema(schema_with = crate::constraints::uuid)]
    pub campaign_id: String,
    #[schema(schema_with = crate::constraints::hashtag)]
    pub hashtag: String,
    /// 1..1000 characters.
    #[schema(min_length = 1, max_length = 1000, pattern = r"\S")]
    pub description: String,
    /// An https URL, or empty.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::optional_https_url)]
    pub banner_url: String,
    /// Not in the past.
    pub starts_at: DateTime<Utc>,
    /// After starts_at, at most 30 days later.
    pub ends_at: DateTime<Utc>,
    /// Where it is pinned (at most 250); empty = everywhere.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::countries)]
    pub countries: Vec<String>,
    /// The fee you were quoted (0: any); refused if it changed.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub expected_fee_cents: i64,
}

/// Buy a Branded Hashtag Challenge: pinned in Discover, its videos boosted in For You.
#[utoipa::path(post, path = "/v1/ads/branded-challenges", tag = "ads", security(("bearer" = [])),
    request_body = BrandedChallengeBody,
    responses((status = 201, body = BrandedChallengeDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn create_branded_challenge(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<BrandedChallengeBody>,
) -> ApiResult<(StatusCode, Json<BrandedChallengeDto>)> {
    if b.countries.len() > 250 {
        return Err(ApiError::invalid("countries", "at most 250"));
    }
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
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DiscoverQuery {
    /// ISO 3166-1 alpha-2; every country when absent.
    #[param(schema_with = crate::constraints::country)]
    pub country: Option<String>,
}

/// Sponsored challenges pinned in Discover right now.
#[utoipa::path(get, path = "/v1/discover/challenges", tag = "discover", security(("bearer" = [])), params(DiscoverQuery),
    responses((status = 200, body = [BrandedChallengeDto])))]
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
