//! Shoppable content, verified by commerce (who made a video and who hosts
//! a room is asked of content): product anchors on a creator's own video,
//! product pages listing the videos and LIVEs featuring a product, a LIVE
//! room's shopping bag and its one pinned product.

use super::flash::FlashSaleDto;
use super::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(set_video_products, video_products))
        .routes(routes!(product_features))
        .routes(routes!(live_bag, add_to_live_bag))
        .routes(routes!(remove_from_live_bag))
        .routes(routes!(pin_live_product))
}

/// 0..3 distinct product ids.
fn anchor_ids() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(crate::constraints::uuid())
        .max_items(Some(3))
        .unique_items(true)
        .build()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VideoProductsBody {
    /// 0..3 approved products (replacing the video's anchors; empty removes them).
    #[schema(schema_with = anchor_ids)]
    pub product_ids: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VideoProductsDto {
    /// The anchored products (approved ones), in order.
    pub products: Vec<ProductDto>,
}

fn products(p: Vec<pb::Product>) -> Json<VideoProductsDto> {
    Json(VideoProductsDto {
        products: p.into_iter().map(Into::into).collect(),
    })
}

/// Set the product anchors of your video (its creator only): 0..3 approved
/// products, replacing what it had. 403 for another creator's video, 422
/// `NOT_FOR_SALE` for a product not approved.
#[utoipa::path(put, path = "/v1/videos/{video_id}/products", tag = "shop", security(("bearer" = [])),
    params(("video_id" = uuid::Uuid, Path)), request_body = VideoProductsBody,
    responses((status = 200, body = VideoProductsDto), Forbidden, NotFound, Unprocessable))]
pub async fn set_video_products(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
    ApiJson(b): ApiJson<VideoProductsBody>,
) -> ApiResult<Json<VideoProductsDto>> {
    let r = st
        .call(st.commerce().set_video_products(st.req(
            &user,
            pb::SetVideoProductsRequest {
                video_id,
                product_ids: b.product_ids,
            },
        )))
        .await?;
    Ok(products(r.products))
}

/// A video's anchored products (approved ones), in order.
#[utoipa::path(get, path = "/v1/videos/{video_id}/products", tag = "shop", security(("bearer" = [])),
    params(("video_id" = uuid::Uuid, Path)),
    responses((status = 200, body = VideoProductsDto)))]
pub async fn video_products(
    State(st): State<AppState>,
    user: AuthUser,
    Path(video_id): Path<String>,
) -> ApiResult<Json<VideoProductsDto>> {
    let r = st
        .call(
            st.commerce()
                .list_video_products(st.req(&user, pb::ListVideoProductsRequest { video_id })),
        )
        .await?;
    Ok(products(r.products))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeaturedInDto {
    /// The video or LIVE room.
    pub id: String,
    /// Its creator (the room's host).
    pub creator_id: String,
    pub since: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductFeaturesDto {
    /// Videos anchoring the product, newest first (up to 50).
    pub videos: Vec<FeaturedInDto>,
    /// LIVE rooms with it in their shopping bag, newest first (up to 50).
    pub live_rooms: Vec<FeaturedInDto>,
}

fn featured(f: Vec<pb::FeaturedIn>) -> Vec<FeaturedInDto> {
    f.into_iter()
        .map(|f| FeaturedInDto {
            id: f.id,
            creator_id: f.creator_id,
            since: ts(f.since),
        })
        .collect()
}

/// Where an approved product is featured: the videos and LIVE rooms
/// selling it (for its product page).
#[utoipa::path(get, path = "/v1/products/{product_id}/features", tag = "shop", security(("bearer" = [])),
    params(("product_id" = uuid::Uuid, Path)),
    responses((status = 200, body = ProductFeaturesDto), NotFound, Unprocessable))]
pub async fn product_features(
    State(st): State<AppState>,
    user: AuthUser,
    Path(product_id): Path<String>,
) -> ApiResult<Json<ProductFeaturesDto>> {
    let r = st
        .call(
            st.commerce().list_product_features(
                st.req(&user, pb::ListProductFeaturesRequest { product_id }),
            ),
        )
        .await?;
    Ok(Json(ProductFeaturesDto {
        videos: featured(r.videos),
        live_rooms: featured(r.live_rooms),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveBagDto {
    pub room_id: String,
    /// The host (absent while the bag is empty).
    pub host_id: Option<String>,
    /// Approved products in the bag, oldest first.
    pub products: Vec<ProductDto>,
    /// The one product pinned for everyone in the room.
    pub pinned: Option<ProductDto>,
    pub pinned_at: Option<DateTime<Utc>>,
    /// The room's flash sale that has not closed, if any.
    pub flash_sale: Option<FlashSaleDto>,
}

impl From<pb::LiveBag> for LiveBagDto {
    fn from(b: pb::LiveBag) -> Self {
        Self {
            room_id: b.room_id,
            host_id: opt(b.host_id),
            products: b.products.into_iter().map(Into::into).collect(),
            pinned: b.pinned.map(Into::into),
            pinned_at: ts(b.pinned_at),
            flash_sale: b.flash_sale.map(Into::into),
        }
    }
}

pub(crate) fn bag(b: Option<pb::LiveBag>) -> ApiResult<Json<LiveBagDto>> {
    b.map(|b| Json(b.into()))
        .ok_or_else(|| ApiError::missing("bag"))
}

/// A LIVE room's shopping bag, its pinned product and its flash sale: anyone.
#[utoipa::path(get, path = "/v1/live/{room_id}/bag", tag = "shop", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)),
    responses((status = 200, body = LiveBagDto)))]
pub async fn live_bag(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
) -> ApiResult<Json<LiveBagDto>> {
    let r = st
        .call(
            st.commerce()
                .get_live_bag(st.req(&user, pb::GetLiveBagRequest { room_id })),
        )
        .await?;
    bag(r.bag)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BagItemBody {
    /// An approved product (at most 100 in a bag).
    #[schema(schema_with = crate::constraints::uuid)]
    pub product_id: String,
}

/// Add an approved product to your open room's shopping bag (the host
/// only). 422 `ROOM_NOT_LIVE` after the room ended, `NOT_FOR_SALE` for a
/// product not approved.
#[utoipa::path(post, path = "/v1/live/{room_id}/bag", tag = "shop", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)), request_body = BagItemBody,
    responses((status = 200, body = LiveBagDto), Forbidden, NotFound, Unprocessable))]
pub async fn add_to_live_bag(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(b): ApiJson<BagItemBody>,
) -> ApiResult<Json<LiveBagDto>> {
    let r = st
        .call(st.commerce().add_to_live_bag(st.req(
            &user,
            pb::AddToLiveBagRequest {
                room_id,
                product_id: b.product_id,
            },
        )))
        .await?;
    bag(r.bag)
}

/// Take a product out of your room's bag (unpinned if it was pinned).
#[utoipa::path(delete, path = "/v1/live/{room_id}/bag/{product_id}", tag = "shop", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), ("product_id" = uuid::Uuid, Path)),
    responses((status = 200, body = LiveBagDto), Forbidden, NotFound, Unprocessable))]
pub async fn remove_from_live_bag(
    State(st): State<AppState>,
    user: AuthUser,
    Path((room_id, product_id)): Path<(String, String)>,
) -> ApiResult<Json<LiveBagDto>> {
    let r = st
        .call(st.commerce().remove_from_live_bag(st.req(
            &user,
            pb::RemoveFromLiveBagRequest {
                room_id,
                product_id,
            },
        )))
        .await?;
    bag(r.bag)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinBody {
    /// A product of the room's bag; absent or null unpins.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::uuid)]
    pub product_id: Option<String>,
}

/// Pin one product of your room's bag for everyone in the room (or unpin).
/// 422 `NOT_FEATURED` when it is not in the bag.
#[utoipa::path(put, path = "/v1/live/{room_id}/pin", tag = "shop", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)), request_body = PinBody,
    responses((status = 200, body = LiveBagDto), Forbidden, NotFound, Unprocessable))]
pub async fn pin_live_product(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(b): ApiJson<PinBody>,
) -> ApiResult<Json<LiveBagDto>> {
    let r = st
        .call(st.commerce().pin_live_product(st.req(
            &user,
            pb::PinLiveProductRequest {
                room_id,
                product_id: b.product_id.unwrap_or_default(),
            },
        )))
        .await?;
    bag(r.bag)
}
