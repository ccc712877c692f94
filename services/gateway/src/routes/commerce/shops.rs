//! Shops: a seller opens one; anyone reads it.

use super::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open_shop, my_shop))
        .routes(routes!(get_shop))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopBody {
    /// 1..80 characters.
    #[schema(min_length = 1, max_length = 80, pattern = r"\S")]
    pub name: String,
    /// At most 2000 characters.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub description: String,
}

/// Open your shop (one per user; the same name again returns it).
#[utoipa::path(post, path = "/v1/shop", tag = "shop", security(("bearer" = [])),
    request_body = ShopBody,
    responses((status = 201, body = ShopDto), Forbidden, Conflict))]
pub async fn open_shop(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<ShopBody>,
) -> ApiResult<(StatusCode, Json<ShopDto>)> {
    let r = st
        .call(st.commerce().open_shop(st.req(
            &user,
            pb::OpenShopRequest {
                name: b.name,
                description: b.description,
            },
        )))
        .await?;
    let shop = r.shop.ok_or_else(|| ApiError::missing("shop"))?;
    Ok((StatusCode::CREATED, Json(shop.into())))
}

/// Your shop.
#[utoipa::path(get, path = "/v1/shop", tag = "shop", security(("bearer" = [])),
    responses((status = 200, body = ShopDto), NotFound))]
pub async fn my_shop(State(st): State<AppState>, user: AuthUser) -> ApiResult<Json<ShopDto>> {
    let r = st
        .call(
            st.commerce()
                .get_shop(st.req(&user, pb::GetShopRequest::default())),
        )
        .await?;
    Ok(Json(
        r.shop.ok_or_else(|| ApiError::missing("shop"))?.into(),
    ))
}

/// A shop.
#[utoipa::path(get, path = "/v1/shops/{shop_id}", tag = "shop", security(("bearer" = [])),
    params(("shop_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ShopDto), NotFound))]
pub async fn get_shop(
    State(st): State<AppState>,
    user: AuthUser,
    Path(shop_id): Path<String>,
) -> ApiResult<Json<ShopDto>> {
    let r = st
        .call(
            st.commerce()
                .get_shop(st.req(&user, pb::GetShopRequest { shop_id })),
        )
        .await?;
    Ok(Json(
        r.shop.ok_or_else(|| ApiError::missing("shop"))?.into(),
    ))
}
