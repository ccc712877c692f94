//! LIVE rooms.

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use loop_proto::commerce::v1 as cpb;
use loop_proto::content::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{LiveRoomDto, Page, PageQuery};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, AuthUser};
use crate::responses::{Forbidden, NotFound, Unprocessable};
use crate::routes::commerce::{FlashSaleDto, ProductDto};

/// LIVE rooms.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_live, list_live))
        .routes(routes!(get_live))
        .routes(routes!(end_live))
        .routes(routes!(join_live))
        .routes(routes!(leave_live))
}

fn room(r: Option<pb::LiveRoom>) -> ApiResult<Json<LiveRoomDto>> {
    r.map(|r| Json(r.into()))
        .ok_or_else(|| ApiError::missing("room"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartLiveBody {
    /// 1..100 characters.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub title: String,
}

/// Go LIVE (creators; one open room at a time).
#[utoipa::path(post, path = "/v1/live", tag = "live", security(("bearer" = [])), request_body = StartLiveBody,
    responses((status = 201, body = LiveRoomDto), Forbidden, Unprocessable))]
pub async fn start_live(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<StartLiveBody>,
) -> ApiResult<(StatusCode, Json<LiveRoomDto>)> {
    let r = st
        .call(
            st.content()
                .start_live(st.req(&user, pb::StartLiveRequest { title: b.title })),
        )
        .await?;
    Ok((StatusCode::CREATED, room(r.room)?))
}

/// Open rooms, most viewers first.
#[utoipa::path(get, path = "/v1/live", tag = "live", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = Page<LiveRoomDto>)))]
pub async fn list_live(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<LiveRoomDto>>> {
    let r = st
        .call(
            st.content()
                .list_live_rooms(st.req(&user, pb::ListLiveRoomsRequest { page: q.to_proto() })),
        )
        .await?;
    Ok(Json(Page::new(r.rooms, r.page)))
}

/// A room with what it sells: the pinned product and the flash sale.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveRoomDetailDto {
    #[serde(flatten)]
    pub room: LiveRoomDto,
    /// The product the host pinned for everyone in the room, if any.
    pub pinned_product: Option<ProductDto>,
    /// The room's flash sale that has not closed, if any.
    pub flash_sale: Option<FlashSaleDto>,
    /// False when the shop could not be asked just now: the room is served
    /// without its pinned product and sale (ask again later).
    pub shop_available: bool,
}

/// One room, with its pinned product and its flash sale (from the shop).
#[utoipa::path(get, path = "/v1/live/{room_id}", tag = "live", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)), responses((status = 200, body = LiveRoomDetailDto), NotFound))]
pub async fn get_live(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
) -> ApiResult<Json<LiveRoomDetailDto>> {
    let (mut content, mut commerce) = (st.content(), st.commerce());
    let (r, bag) = tokio::join!(
        st.call(content.get_live_room(st.req(
            &user,
            pb::GetLiveRoomRequest {
                room_id: room_id.clone()
            }
        ))),
        st.call(commerce.get_live_bag(st.req(&user, cpb::GetLiveBagRequest { room_id }))),
    );
    let Json(room) = room(r?.room)?;
    // The room is content's; a shop that cannot answer leaves it watchable.
    let (pinned_product, flash_sale, shop_available) = match bag {
        Ok(r) => {
            let bag = r.bag.unwrap_or_default();
            (
                bag.pinned.map(Into::into),
                bag.flash_sale.map(Into::into),
                true,
            )
        }
        Err(err) => {
            tracing::warn!(room = %room.room_id, error = ?err, "the room's shop could not be read; serving the room without it");
            (None, None, false)
        }
    };
    Ok(Json(LiveRoomDetailDto {
        room,
        pinned_product,
        flash_sale,
        shop_available,
    }))
}

/// End your room.
#[utoipa::path(post, path = "/v1/live/{room_id}/end", tag = "live", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)), responses((status = 200, body = LiveRoomDto), NotFound, Forbidden, Unprocessable))]
pub async fn end_live(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
) -> ApiResult<Json<LiveRoomDto>> {
    room(
        st.call(
            st.content()
                .end_live(st.req(&user, pb::EndLiveRequest { room_id })),
        )
        .await?
        .room,
    )
}

/// Join a room as a viewer (idempotent).
#[utoipa::path(post, path = "/v1/live/{room_id}/join", tag = "live", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)), responses((status = 200, body = LiveRoomDto), NotFound, Unprocessable))]
pub async fn join_live(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
) -> ApiResult<Json<LiveRoomDto>> {
    room(
        st.call(
            st.content()
                .join_live(st.req(&user, pb::JoinLiveRequest { room_id })),
        )
        .await?
        .room,
    )
}

/// Leave a room.
#[utoipa::path(post, path = "/v1/live/{room_id}/leave", tag = "live", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path)), responses((status = 200, body = LiveRoomDto), NotFound, Unprocessable))]
pub async fn leave_live(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
) -> ApiResult<Json<LiveRoomDto>> {
    room(
        st.call(
            st.content()
                .leave_live(st.req(&user, pb::LeaveLiveRequest { room_id })),
        )
        .await?
        .room,
    )
}
