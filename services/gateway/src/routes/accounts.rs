//! Sign-up, login (JWT issuance) and profiles.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use http::StatusCode;
use loop_platform::auth::Role;
use loop_proto::common::v1 as common;
use loop_proto::content::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{UserDto, enum_from_str};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, AuthUser};
use crate::responses::{Conflict, NotFound, Unprocessable};

/// Sign-up, log-in and user profiles.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_up))
        .routes(routes!(log_in))
        .routes(routes!(log_out))
        .routes(routes!(me, update_me))
        .routes(routes!(become_creator))
        .routes(routes!(get_user))
        .routes(routes!(get_user_by_handle))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUpBody {
    /// 3..24 of a-z, 0-9, '_' and '.' (stored lower-case).
    #[schema(schema_with = crate::constraints::handle)]
    pub handle: String,
    /// 8..128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// At most 50 characters; the handle when empty.
    #[serde(default)]
    #[schema(max_length = 50)]
    pub display_name: String,
    /// YYYY-MM-DD, a real date at least 13 years ago and not before 1900.
    #[schema(format = Date, example = "1998-02-03")]
    pub birth_date: String,
    #[schema(schema_with = crate::constraints::country)]
    pub country: String,
    #[schema(schema_with = crate::constraints::language_tag)]
    pub language: String,
    /// female, male, non_binary or undisclosed.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::gender)]
    pub gender: String,
    /// Interests picked at sign-up (hashtag families: "dance", "cooking"), at most 20.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::interests)]
    pub interests: Vec<String>,
    /// viewer (default), creator or advertiser.
    #[serde(default)]
    #[schema(schema_with = crate::constraints::signup_role)]
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    #[schema(min_length = 1, pattern = r"\S")]
    pub handle: String,
    #[schema(min_length = 1)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub user: UserDto,
    /// Send as `Authorization: Bearer <token>`. Browsers need not: the
    /// response also sets it as the `__Host-loop_session` cookie (HttpOnly,
    /// SameSite=Strict, Secure; `loop_session` in development), which authenticates with the `X-Loop-Csrf` header
    /// on every method but GET (docs/security.md).
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

fn platform_role(role: i32) -> Role {
    match common::Role::try_from(role) {
        Ok(common::Role::Creator) => Role::Creator,
        Ok(common::Role::Advertiser) => Role::Advertiser,
        Ok(common::Role::Admin) => Role::Admin,
        _ => Role::Viewer,
    }
}

fn session(state: &AppState, user: pb::User) -> SessionDto {
    let ttl = Duration::from_secs(state.config.tokens.ttl_secs);
    let token = state
        .keys
        .issue(&user.user_id, platform_role(user.role), ttl);
    let expires_at = Utc::now()
        + chrono::Duration::seconds(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2));
    SessionDto {
        user: user.into(),
        token,
        expires_at,
    }
}

/// Create an account and get a session token.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "accounts", request_body = SignUpBody,
    responses((status = 201, body = SessionDto, headers(("Set-Cookie" = String, description = "The session as the browser's cookie: `__Host-loop_session` (HttpOnly, SameSite=Strict, Secure, Path=/; `loop_session` without Secure in development)"))), Conflict))]
pub async fn sign_up(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<SignUpBody>,
) -> ApiResult<(
    StatusCode,
    [(http::HeaderName, http::HeaderValue); 1],
    Json<SessionDto>,
)> {
    let role = match b.role.as_str() {
        "" | "viewer" => common::Role::Viewer,
        "creator" => common::Role::Creator,
        "advertiser" => common::Role::Advertiser,
        _ => {
            return Err(ApiError::invalid(
                "role",
                "must be one of: viewer, creator, advertiser",
            ));
        }
    };
    let gender = enum_from_str(
        "gender",
        &b.gender,
        "GENDER_",
        |s| common::Gender::from_str_name(s).map(|g| g as i32),
        &["female", "male", "non_binary", "undisclosed"],
    )?;
    let request = pb::CreateUserRequest {
        handle: b.handle,
        display_name: b.display_name,
        password: b.password,
        birth_date: b.birth_date,
        country: b.country,
        language: b.language,
        gender,
        declared_interests: b.interests,
        role: role as i32,
    };
    let created = st
        .call(st.content().create_user(st.anonymous(request)))
        .await?;
    let user = created.user.ok_or_else(|| ApiError::missing("user"))?;
    let session = session(&st, user);
    Ok((
        StatusCode::CREATED,
        session_cookie(&st, &session),
        Json(session),
    ))
}

/// The session as the browser's cookie (see `crate::web`).
fn session_cookie(
    st: &AppState,
    session: &SessionDto,
) -> [(http::HeaderName, http::HeaderValue); 1] {
    [(
        http::header::SET_COOKIE,
        crate::web::session_cookie(&session.token, st.config.tokens.ttl_secs, st.secure_cookies),
    )]
}

/// Log out of the browser session: removes the session cookie. (A bearer
/// token stays valid until it expires; a client holding one drops it.)
/// Sent with the session cookie it needs the `X-Loop-Csrf` header like any
/// other change, so another site cannot sign a viewer out.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "accounts",
    responses(
        (status = 204, description = "The session cookie is removed",
            headers(("Set-Cookie" = String, description = "The session cookie, emptied and expired (`Max-Age=0`)"))),
        (status = 403, description = "`permission_denied`: the session cookie was sent without the `X-Loop-Csrf` header", body = ErrorBody)))]
pub async fn log_out(
    State(st): State<AppState>,
    headers: http::HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let by_cookie = !headers.contains_key(http::header::AUTHORIZATION)
        && crate::web::cookie_token(&headers, st.secure_cookies).is_some();
    if by_cookie {
        crate::web::check_csrf(&http::Method::POST, &headers)?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(
            http::header::SET_COOKIE,
            crate::web::cleared_cookie(st.secure_cookies),
        )],
    ))
}

/// Log in with handle and password.
#[utoipa::path(post, path = "/v1/auth/login", tag = "accounts", request_body = LoginBody,
    responses((status = 200, body = SessionDto, headers(("Set-Cookie" = String, description = "The session as the browser's cookie: `__Host-loop_session` (HttpOnly, SameSite=Strict, Secure, Path=/; `loop_session` without Secure in development)"))), (status = 401, description = "Wrong handle or password", body = ErrorBody),
        (status = 429, description = "Too many attempts from this address, or too many failed logins of this account (backs off); see Retry-After", body = ErrorBody)))]
pub async fn log_in(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<LoginBody>,
) -> ApiResult<([(http::HeaderName, http::HeaderValue); 1], Json<SessionDto>)> {
    if b.handle.trim().is_empty() {
        return Err(ApiError::invalid("handle", "is required"));
    }
    if b.password.is_empty() {
        return Err(ApiError::invalid("password", "is required"));
    }
    // Per-account throttle: guessing one account's password from many
    // addresses still backs off.
    let handle = b.handle.trim().to_lowercase();
    let throttled = st.limiter.config().enabled;
    if throttled {
        st.limiter.login_allowed(&handle).await?;
    }
    let auth = st
        .call(
            st.content()
                .authenticate(st.anonymous(pb::AuthenticateRequest {
                    handle: b.handle,
                    password: b.password,
                })),
        )
        .await;
    match auth {
        Ok(auth) => {
            if throttled {
                st.limiter.login_succeeded(&handle).await;
            }
            let session = session(&st, auth.user.ok_or_else(|| ApiError::missing("user"))?);
            Ok((session_cookie(&st, &session), Json(session)))
        }
        Err(err) => {
            if throttled && err.status == StatusCode::UNAUTHORIZED {
                st.limiter.login_failed(&handle).await;
            }
            Err(err)
        }
    }
}

/// Your own profile.
#[utoipa::path(get, path = "/v1/users/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserDto)))]
pub async fn me(State(st): State<AppState>, user: AuthUser) -> ApiResult<Json<UserDto>> {
    let key = Some(pb::get_user_request::Key::UserId(user.user_id.clone()));
    let got = st
        .call(
            st.content()
                .get_user(st.req(&user, pb::GetUserRequest { key })),
        )
        .await?;
    Ok(Json(
        got.user.ok_or_else(|| ApiError::missing("user"))?.into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeBody {
    /// 1..50 characters.
    #[schema(min_length = 1, max_length = 50, pattern = r"\S")]
    pub display_name: Option<String>,
    #[schema(schema_with = crate::constraints::language_tag)]
    pub language: Option<String>,
    /// At most 20 (replaces your interests).
    #[schema(schema_with = crate::constraints::interests)]
    pub interests: Option<Vec<String>>,
}

/// Change your display name, language or interests (only the fields given).
#[utoipa::path(patch, path = "/v1/users/me", tag = "accounts", security(("bearer" = [])), request_body = UpdateMeBody,
    responses((status = 200, body = UserDto)))]
pub async fn update_me(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<UpdateMeBody>,
) -> ApiResult<Json<UserDto>> {
    let mut mask = Vec::new();
    let mut request = pb::UpdateProfileRequest::default();
    if let Some(v) = b.display_name {
        mask.push("display_name".to_owned());
        request.display_name = v;
    }
    if let Some(v) = b.language {
        mask.push("language".to_owned());
        request.language = v;
    }
    if let Some(v) = b.interests {
        mask.push("declared_interests".to_owned());
        request.declared_interests = v;
    }
    if mask.is_empty() {
        return Err(ApiError::invalid(
            "body",
            "give at least one of display_name, language, interests",
        ));
    }
    request.update_mask = mask;
    let updated = st
        .call(st.content().update_profile(st.req(&user, request)))
        .await?;
    Ok(Json(
        updated
            .user
            .ok_or_else(|| ApiError::missing("user"))?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatorProfileBody {
    /// At most 500 characters.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub bio: String,
    #[serde(default)]
    #[schema(schema_with = crate::constraints::category)]
    pub category: String,
}

/// Become a creator (or edit your creator profile). Returns a fresh token
/// carrying the creator role.
#[utoipa::path(put, path = "/v1/users/me/creator-profile", tag = "accounts", security(("bearer" = [])), request_body = CreatorProfileBody,
    responses((status = 200, body = SessionDto), Unprocessable))]
pub async fn become_creator(
    State(st): State<AppState>,
    user: AuthUser,
    ApiJson(b): ApiJson<CreatorProfileBody>,
) -> ApiResult<Json<SessionDto>> {
    let updated = st
        .call(st.content().upsert_creator_profile(st.req(
            &user,
            pb::UpsertCreatorProfileRequest {
                bio: b.bio,
                category: b.category,
            },
        )))
        .await?;
    Ok(Json(session(
        &st,
        updated.user.ok_or_else(|| ApiError::missing("user"))?,
    )))
}

/// A user's public profile.
#[utoipa::path(get, path = "/v1/users/{user_id}", tag = "accounts", security(("bearer" = [])),
    params(("user_id" = uuid::Uuid, Path)), responses((status = 200, body = UserDto), NotFound))]
pub async fn get_user(
    State(st): State<AppState>,
    user: AuthUser,
    Path(user_id): Path<String>,
) -> ApiResult<Json<UserDto>> {
    let key = Some(pb::get_user_request::Key::UserId(user_id));
    let got = st
        .call(
            st.content()
                .get_user(st.req(&user, pb::GetUserRequest { key })),
        )
        .await?;
    Ok(Json(
        got.user.ok_or_else(|| ApiError::missing("user"))?.into(),
    ))
}

/// A user's public profile by handle.
#[utoipa::path(get, path = "/v1/users/by-handle/{handle}", tag = "accounts", security(("bearer" = [])),
    params(("handle" = String, Path, pattern = "^[A-Za-z0-9_.]{3,24}$")), responses((status = 200, body = UserDto), NotFound))]
pub async fn get_user_by_handle(
    State(st): State<AppState>,
    user: AuthUser,
    Path(handle): Path<String>,
) -> ApiResult<Json<UserDto>> {
    let valid = (3..=24).contains(&handle.len())
        && handle
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !valid {
        return Err(ApiError::invalid(
            "handle",
            "must be 3 to 24 of a-z, 0-9, '_' and '.'",
        ));
    }
    let key = Some(pb::get_user_request::Key::Handle(handle));
    let got = st
        .call(
            st.content()
                .get_user(st.req(&user, pb::GetUserRequest { key })),
        )
        .await?;
    Ok(Json(
        got.user.ok_or_else(|| ApiError::missing("user"))?.into(),
    ))
}
