//! Accounts: sign-up, password check, profiles, creator profiles.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use loop_platform::auth::{Caller, Role};
use loop_platform::error::is_unique_violation;
use loop_platform::ids::{new_id, parse_id};
use loop_platform::{AppError, AppResult};
use loop_proto::common::v1::{Gender, Role as ProtoRole};
use loop_proto::content::v1 as pb;
use loop_proto::events::v1 as ev;
use sqlx::PgPool;
use uuid::Uuid;

use crate::events::emit;
use crate::model::{USER_SELECT, UserRow};
use crate::service::ContentService;
use crate::validate;

/// Argon2id (default parameters) allocates 19 MiB per hash and is pure CPU:
/// a sign-up or login storm hashing on every blocking thread at once only
/// queues for the cores anyway, and grew the process to 2 GiB (48 at once in
/// `loopctl simulate`). Two hashes per core run at once; the rest wait.
async fn hashing_permit() -> AppResult<tokio::sync::SemaphorePermit<'static>> {
    static PERMITS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    PERMITS
        .get_or_init(|| {
            let cores = std::thread::available_parallelism().map_or(2, usize::from);
            tokio::sync::Semaphore::new(2 * cores)
        })
        .acquire()
        .await
        .map_err(AppError::internal)
}

async fn hash_password(password: String) -> AppResult<String> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::internal(anyhow::anyhow!("argon2: {e}")))
    })
    .await
    .map_err(AppError::internal)?
}

/// A hash to verify against when the handle does not exist, so a login for an
/// unknown handle takes as long as one with a wrong password.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"loop-dummy-password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

async fn verify_password(password: String, hash: String) -> AppResult<bool> {
    let _permit = hashing_permit().await?;
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash)
            .map_err(|e| AppError::internal(anyhow::anyhow!("stored hash: {e}")))?;
        Ok(Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(AppError::internal)?
}

pub(crate) async fn load_user(pool: &PgPool, id: Uuid) -> AppResult<UserRow> {
    sqlx::query_as::<_, UserRow>(&format!("{USER_SELECT} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| AppError::not_found("user not found"))
}

/// Creates the configured bootstrap admin if it does not exist yet.
pub async fn ensure_bootstrap_admin(
    pool: &PgPool,
    handle: &str,
    password: &str,
) -> anyhow::Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE handle = $1)")
        .bind(handle)
        .fetch_one(pool)
        .await?;
    if exists {
        return Ok(());
    }
    let hash = hash_password(password.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    sqlx::query(
        "INSERT INTO users (id, handle, display_name, password_hash, birth_date, country, language, role) \
         VALUES ($1, $2, 'Loop Admin', $3, '1990-01-01', 'US', 'en', 'admin') ON CONFLICT (handle) DO NOTHING",
    )
    .bind(new_id())
    .bind(handle)
    .bind(hash)
    .execute(pool)
    .await?;
    tracing::info!(handle, "bootstrap admin created");
    Ok(())
}

impl ContentService {
    pub(crate) async fn create_user(
        &self,
        caller: Option<&Caller>,
        req: pb::CreateUserRequest,
    ) -> AppResult<pb::CreateUserResponse> {
        let handle = validate::handle(&req.handle)?;
        let display_name = if req.display_name.trim().is_empty() {
            handle.clone()
        } else {
            validate::text("display_name", &req.display_name, 1, 50)?
        };
        validate::password(&req.password)?;
        let birth_date = validate::birth_date(&req.birth_date)?;
        let country = validate::country(&req.country)?;
        let language = validate::language(&req.language)?;
        let gender = Gender::try_from(req.gender)
            .map_err(|_| AppError::invalid("gender", "unknown gender"))?;
        let interests = validate::interests(&req.declared_interests)?;
        let role = match ProtoRole::try_from(req.role) {
            Ok(ProtoRole::Unspecified | ProtoRole::Viewer) => Role::Viewer,
            Ok(ProtoRole::Creator) => Role::Creator,
            Ok(ProtoRole::Advertiser) => Role::Advertiser,
            Ok(ProtoRole::Admin) if caller.is_some_and(Caller::is_admin) => Role::Admin,
            Ok(ProtoRole::Admin) => {
                return Err(AppError::PermissionDenied(
                    "only an admin can create an admin".into(),
                ));
            }
            Err(_) => return Err(AppError::invalid("role", "unknown role")),
        };
        let password_hash = hash_password(req.password).await?;
        let id = new_id();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (id, handle, display_name, password_hash, birth_date, country, language, gender, role, declared_interests) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(&handle)
        .bind(&display_name)
        .bind(&password_hash)
        .bind(birth_date)
        .bind(&country)
        .bind(&language)
        .bind(gender as i16)
        .bind(role.as_str())
        .bind(&interests)
        .execute(&mut *tx)
        .await;
        if let Err(err) = inserted {
            if is_unique_violation(&err, None) {
                return Err(AppError::AlreadyExists(format!(
                    "handle \"{handle}\" is taken"
                )));
            }
            return Err(err.into());
        }
        if role == Role::Creator {
            sqlx::query("INSERT INTO creator_profiles (user_id) VALUES ($1)")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        emit(
            &mut tx,
            &id.to_string(),
            ev::content_event::Payload::UserRegistered(ev::UserRegistered {
                user_id: id.to_string(),
                role: crate::model::role_to_proto(role.as_str()) as i32,
                country,
                language,
                gender: gender as i32,
                birth_date: birth_date.format("%Y-%m-%d").to_string(),
                declared_interests: interests,
            }),
        )
        .await?;
        tx.commit().await?;
        let user = load_user(&self.pool, id).await?;
        Ok(pb::CreateUserResponse {
            user: Some(user.to_proto(true)),
        })
    }

    pub(crate) async fn authenticate(
        &self,
        req: pb::AuthenticateRequest,
    ) -> AppResult<pb::AuthenticateResponse> {
        let bad = || AppError::Unauthenticated("wrong handle or password".into());
        let handle = req.handle.trim().to_lowercase();
        let row: Option<(Uuid, String)> =
            sqlx::query_as("SELECT id, password_hash FROM users WHERE handle = $1")
                .bind(&handle)
                .fetch_optional(&self.pool)
                .await?;
        let (id, hash) = match row {
            Some((id, hash)) => (Some(id), hash),
            None => (None, dummy_hash().to_owned()),
        };
        let ok = verify_password(req.password, hash).await?;
        match id {
            Some(id) if ok => {
                let user = load_user(&self.pool, id).await?;
                Ok(pb::AuthenticateResponse {
                    user: Some(user.to_proto(true)),
                })
            }
            _ => Err(bad()),
        }
    }

    pub(crate) async fn get_user(
        &self,
        caller: &Caller,
        req: pb::GetUserRequest,
    ) -> AppResult<pb::GetUserResponse> {
        let row = match req.key {
            Some(pb::get_user_request::Key::UserId(id)) => {
                load_user(&self.pool, parse_id("user_id", &id)?).await?
            }
            Some(pb::get_user_request::Key::Handle(handle)) => {
                sqlx::query_as::<_, UserRow>(&format!("{USER_SELECT} WHERE u.handle = $1"))
                    .bind(handle.trim().to_lowercase())
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| AppError::not_found("user not found"))?
            }
            None => return Err(AppError::invalid("key", "give user_id or handle")),
        };
        let private = caller.is_privileged() || caller.subject == row.id.to_string();
        Ok(pb::GetUserResponse {
            user: Some(row.to_proto(private)),
        })
    }

    pub(crate) async fn batch_get_users(
        &self,
        caller: &Caller,
        req: pb::BatchGetUsersRequest,
    ) -> AppResult<pb::BatchGetUsersResponse> {
        if req.user_ids.len() > 500 {
            return Err(AppError::invalid("user_ids", "at most 500 ids"));
        }
        let ids = req
            .user_ids
            .iter()
            .map(|id| parse_id("user_ids", id))
            .collect::<AppResult<Vec<_>>>()?;
        let rows = sqlx::query_as::<_, UserRow>(&format!("{USER_SELECT} WHERE u.id = ANY($1)"))
            .bind(&ids)
            .fetch_all(&self.pool)
            .await?;
        Ok(pb::BatchGetUsersResponse {
            users: rows
                .iter()
                .map(|r| r.to_proto(caller.is_privileged()))
                .collect(),
        })
    }

    pub(crate) async fn update_profile(
        &self,
        caller: &Caller,
        req: pb::UpdateProfileRequest,
    ) -> AppResult<pb::UpdateProfileResponse> {
        let id = caller.user_id()?;
        if req.update_mask.is_empty() {
            return Err(AppError::invalid(
                "update_mask",
                "name at least one field to change",
            ));
        }
        let mut display_name = None;
        let mut language = None;
        let mut interests = None;
        for field in &req.update_mask {
            match field.as_str() {
                "display_name" => {
                    display_name = Some(validate::text("display_name", &req.display_name, 1, 50)?)
                }
                "language" => language = Some(validate::language(&req.language)?),
                "declared_interests" => {
                    interests = Some(validate::interests(&req.declared_interests)?)
                }
                other => {
                    return Err(AppError::invalid(
                        "update_mask",
                        format!("unknown field \"{other}\""),
                    ));
                }
            }
        }
        let updated = sqlx::query(
            "UPDATE users SET display_name = COALESCE($2, display_name), language = COALESCE($3, language), \
             declared_interests = COALESCE($4, declared_interests) WHERE id = $1",
        )
        .bind(id)
        .bind(display_name)
        .bind(language)
        .bind(interests)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(AppError::not_found("user not found"));
        }
        Ok(pb::UpdateProfileResponse {
            user: Some(load_user(&self.pool, id).await?.to_proto(true)),
        })
    }

    pub(crate) async fn upsert_creator_profile(
        &self,
        caller: &Caller,
        req: pb::UpsertCreatorProfileRequest,
    ) -> AppResult<pb::UpsertCreatorProfileResponse> {
        let id = caller.user_id()?;
        let bio = validate::text("bio", &req.bio, 0, 500)?;
        let category = validate::category(&req.category)?;
        let mut tx = self.pool.begin().await?;
        let role: Option<String> =
            sqlx::query_scalar("SELECT role FROM users WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        match role.as_deref() {
            None => return Err(AppError::not_found("user not found")),
            Some("advertiser") => {
                return Err(AppError::FailedPrecondition(
                    "advertiser accounts cannot become creators".into(),
                ));
            }
            Some("viewer") => {
                sqlx::query("UPDATE users SET role = 'creator' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            Some(_) => {}
        }
        sqlx::query(
            "INSERT INTO creator_profiles (user_id, bio, category) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET bio = EXCLUDED.bio, category = EXCLUDED.category, updated_at = now()",
        )
        .bind(id)
        .bind(bio)
        .bind(category)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(pb::UpsertCreatorProfileResponse {
            user: Some(load_user(&self.pool, id).await?.to_proto(true)),
        })
    }
}
