//! Creatives: the videos an ad group shows.

use super::*;

/// Creatives.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_creative, list_creatives))
        .routes(routes!(update_creative))
}

// --- creatives and Spark Ads ------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreativeBody {
    /// One of your videos.
    #[schema(schema_with = crate::constraints::uuid)]
    pub video_id: String,
    /// 1..40 characters ("Sponsored by").
    #[schema(min_length = 1, max_length = 40, pattern = r"\S")]
    pub display_name: String,
    /// learn_more, shop_now, sign_up, download, watch_more, book_now or contact_us.
    #[schema(schema_with = ctas)]
    pub call_to_action: String,
    #[schema(schema_with = crate::constraints::https_url)]
    pub landing_url: String,
}

/// Add a video creative to an in_feed or topview ad group.
#[utoipa::path(post, path = "/v1/ads/ad-groups/{ad_group_id}/creatives", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = uuid::Uuid, Path)), request_body = CreativeBody,
    responses((status = 201, body = CreativeDto), Forbidden, NotFound, Unprocessable))]
pub async fn create_creative(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
    ApiJson(b): ApiJson<CreativeBody>,
) -> ApiResult<(StatusCode, Json<CreativeDto>)> {
    let r = st
        .call(st.ads().create_creative(st.req(
            &user,
            pb::CreateCreativeRequest {
                ad_group_id,
                video_id: b.video_id,
                display_name: b.display_name,
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

/// The creatives of an ad group, newest first.
#[utoipa::path(get, path = "/v1/ads/ad-groups/{ad_group_id}/creatives", tag = "ads", security(("bearer" = [])),
    params(("ad_group_id" = uuid::Uuid, Path), PageQuery),
    responses((status = 200, body = Page<CreativeDto>), Forbidden, NotFound))]
pub async fn list_creatives(
    State(st): State<AppState>,
    user: AuthUser,
    Path(ad_group_id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<CreativeDto>>> {
    let r = st
        .call(st.ads().list_creatives(st.req(
            &user,
            pb::ListCreativesRequest {
                ad_group_id,
                page: q.to_proto(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.creatives, r.page)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreativePatch {
    /// 1..40 characters.
    #[schema(min_length = 1, max_length = 40, pattern = r"\S")]
    pub display_name: Option<String>,
    #[schema(schema_with = ctas)]
    pub call_to_action: Option<String>,
    #[schema(schema_with = crate::constraints::https_url)]
    pub landing_url: Option<String>,
    /// active or paused.
    #[schema(schema_with = active_or_paused)]
    pub status: Option<String>,
}

/// Edit a creative or pause/activate it.
#[utoipa::path(patch, path = "/v1/ads/creatives/{creative_id}", tag = "ads", security(("bearer" = [])),
    params(("creative_id" = uuid::Uuid, Path)), request_body = CreativePatch,
    responses((status = 200, body = CreativeDto), Forbidden, NotFound, Unprocessable))]
pub async fn update_creative(
    State(st): State<AppState>,
    user: AuthUser,
    Path(creative_id): Path<String>,
    ApiJson(b): ApiJson<CreativePatch>,
) -> ApiResult<Json<CreativeDto>> {
    let mut mask = Vec::new();
    for (present, name) in [
        (b.display_name.is_some(), "display_name"),
        (b.call_to_action.is_some(), "call_to_action"),
        (b.landing_url.is_some(), "landing_url"),
        (b.status.is_some(), "status"),
    ] {
        if present {
            mask.push(name.to_string());
        }
    }
    let status = enum_from_str(
        "status",
        b.status.as_deref().unwrap_or_default(),
        "CREATIVE_STATUS_",
        |s| pb::CreativeStatus::from_str_name(s).map(|v| v as i32),
        ACTIVE_OR_PAUSED,
    )?;
    let r = st
        .call(st.ads().update_creative(st.req(
            &user,
            pb::UpdateCreativeRequest {
                creative_id,
                display_name: b.display_name.unwrap_or_default(),
                call_to_action: cta(
                    "call_to_action",
                    b.call_to_action.as_deref().unwrap_or_default(),
                )?,
                landing_url: b.landing_url.unwrap_or_default(),
                status,
                update_mask: mask,
            },
        )))
        .await?;
    Ok(Json(
        r.creative
            .ok_or_else(|| ApiError::missing("creative"))?
            .into(),
    ))
}
