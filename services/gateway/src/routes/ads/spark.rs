//! Spark Ads: a creator's authorization code boosts their organic video.

use super::*;

/// Spark codes and Spark Ads.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_spark_ad))
        .routes(routes!(issue_spark_code, list_spark_codes))
        .routes(routes!(revoke_spark_code))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SparkAdBody {
    /// The code the creator gave you.
    #[schema(min_length = 1)]
    pub code: String,
    #[schema(schema_with = ctas)]
    pub call_to_action: String,
    #[schema(schema_with = crate::constraints::https_url)]
    pub landing_url: String,
}

/// Boost a creator's organic video with their Spark code (spark ad groups).
#[utoipa::path(post, path = "/v1/ads/ad-groups/{ad_group_id}/spark-ads", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = uuid::Uuid, Path)), request_body = SparkAdBody,
    responses((status = 201, body = CreativeDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn create_spark_ad(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
    ApiJson(b): ApiJson<SparkAdBody>,
) -> ApiResult<(StatusCode, Json<CreativeDto>)> {
    let r = st
        .call(st.ads().create_spark_ad(st.req(
            &user,
            pb::CreateSparkAdRequest {
                ad_group_id,
                code: b.code,
                call_to_action: cta("call_to_action", &b.call_to_action)?,
                landing_url: b.landing_url,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.creative
                .ok_or_else(|| ApiError::missing("creative"))?
                .into(),
        ),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SparkCodeBody {
    /// One of your videos.
    #[schema(schema_with = crate::constraints::uuid)]
    pub video_id: String,
    /// 7..=365 days; default (absent) 30.
    #[serde(default)]
    #[schema(minimum = 7, maximum = 365)]
    pub validity_days: u32,
}

/// Authorize advertisers to boost one of your videos (creators).
#[utoipa::path(post, path = "/v1/spark-codes", tag = "ads", security(("bearer" = [])), request_body = SparkCodeBody,
    responses((status = 201, body = SparkCodeDto), Forbidden, NotFound))]
pub async fn issue_spark_code(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<SparkCodeBody>,
) -> ApiResult<(StatusCode, Json<SparkCodeDto>)> {
    let r = st
        .call(st.ads().issue_spark_code(st.req(
            &user,
            pb::IssueSparkCodeRequest {
                video_id: b.video_id,
                validity_days: b.validity_days,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(
            r.spark_code
                .ok_or_else(|| ApiError::missing("spark code"))?
                .into(),
        ),
    ))
}

/// Your Spark codes, newest first (creators).
#[utoipa::path(get, path = "/v1/spark-codes", tag = "ads", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<SparkCodeDto>), Forbidden))]
pub async fn list_spark_codes(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<SparkCodeDto>>> {
    let r = st
        .call(
            st.ads()
                .list_spark_codes(st.req(&user, pb::ListSparkCodesRequest { page: q.to_proto() })),
        )
        .await?;
    Ok(Json(Page::new(r.spark_codes, r.page)))
}

/// Revoke a Spark code: every ad using it stops at once (idempotent).
#[utoipa::path(post, path = "/v1/spark-codes/{code}/revoke", tag = "ads", security(("bearer" = [])),
    params(("code" = String, Path)), responses((status = 200, body = SparkCodeDto), Forbidden, NotFound))]
pub async fn revoke_spark_code(
    State(st): State<AppState>,
    user: AuthUser,
    Path(code): Path<String>,
) -> ApiResult<Json<SparkCodeDto>> {
    let r = st
        .call(
            st.ads()
                .revoke_spark_code(st.req(&user, pb::RevokeSparkCodeRequest { code })),
        )
        .await?;
    Ok(Json(
        r.spark_code
            .ok_or_else(|| ApiError::missing("spark code"))?
            .into(),
    ))
}
