//! The error statuses the document promises, declared once.
//!
//! What the gateway answers before a handler runs, or for any route, is
//! added to every operation by [`document_common`], from the facts of the
//! operation's own declaration: 400 when it takes parameters or a body, 401
//! when it needs a bearer token, 413 and 415 when it takes a JSON body, and
//! everywhere 429 (rate limits), 503 and 504 (a service unavailable or too
//! slow). What depends on the route (403, 404, 409, 422) each route lists
//! with the marker types here:
//! `responses((status = 200, body = VideoDto), NotFound, Forbidden)`.
//! A route's own description of a status wins over the common one.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{OpenApi, Ref, RefOr};

/// An error answer: `{"error": {...}}` with `description`.
fn error(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    )
}

macro_rules! error_responses {
    ($($(#[$doc:meta])* $name:ident => $status:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([($status.to_owned(), error($description).build().into())])
            }
        }
    )*};
}

error_responses! {
    /// The caller's role, or their relation to the object, does not allow the call.
    Forbidden => "403", "`permission_denied`: the caller's role, or their relation to the object, does not allow this";
    /// The object named in the path or body does not exist (or is not visible to the caller).
    NotFound => "404", "`not_found`: no such object, or not visible to the caller";
    /// The request collides with what exists (a duplicate, a reused idempotency key, a concurrent change).
    Conflict => "409", "`already_exists` or `aborted`: it collides with what exists (`reason` names it, e.g. `IDEMPOTENCY_KEY_REUSED`); a concurrent change may be retried";
    /// A business rule about the current state refused it.
    Unprocessable => "422", "`failed_precondition`: a business rule about the current state refused it; `reason` names the rule (e.g. `INSUFFICIENT_FUNDS`)";
}

fn operations(openapi: &mut OpenApi) -> impl Iterator<Item = (&String, &mut Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ]
        .into_iter()
        .filter_map(Option::as_mut)
        .map(move |op| (path, op))
    })
}

fn too_many() -> ResponseBuilder {
    error("`rate_limited`: too many requests from this caller (per user, or per address for sign-up and login); retry after `Retry-After` seconds")
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
                .description(Some("Seconds to wait before retrying"))
                .build(),
        )
}

/// Operations that call no service (so never answer 503 or 504).
const LOCAL_ONLY: &[&str] = &["/v1/auth/logout"];

/// Adds the statuses every operation can answer (see the module docs).
pub fn document_common(openapi: &mut OpenApi) {
    for (path, op) in operations(openapi) {
        if !path.starts_with("/v1/") {
            continue;
        }
        let local = LOCAL_ONLY.contains(&path.as_str());
        let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
        let has_body = op.request_body.is_some();
        let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
        let mut add = |status: &str, response: ResponseBuilder| {
            op.responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| response.build().into());
        };
        if has_params || has_body {
            add(
                "400",
                error(
                    "`invalid_argument` (the `field` at fault is named) or `invalid_json`: the request breaks a documented constraint",
                ),
            );
        }
        if secured {
            add(
                "401",
                error("`unauthenticated`: no valid `Authorization: Bearer <token>`"),
            );
        }
        if has_body {
            add(
                "413",
                error(
                    "`invalid_body`: the body is larger than the gateway accepts (`http.max_body_bytes`, 256 KiB by default)",
                ),
            );
            add(
                "415",
                error("`unsupported_media_type`: the body is not `application/json`"),
            );
        }
        add("429", too_many());
        if local {
            continue;
        }
        add(
            "503",
            error("`unavailable`: a service is unavailable; retry later"),
        );
        add(
            "504",
            error("`deadline_exceeded`: a service did not answer in time"),
        );
    }
}

/// The browser's session cookie (`crate::web`) as the document states it:
/// a second security scheme every secured operation accepts, and on every
/// secured operation that changes something the 403 a cookie-authenticated
/// request without the `X-Loop-Csrf` header gets (added to the route's own
/// 403 when it has one).
pub fn document_session_cookie(openapi: &mut OpenApi) {
    use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
    const CSRF: &str =
        "a request authenticated by the session cookie without the `X-Loop-Csrf` header";
    openapi
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::web::SESSION_COOKIE,
                "The browser session (HttpOnly, SameSite=Strict, Secure; `loop_session` without the prefix in development), set by sign-up and login. Counts only when no Authorization header is sent; then every method but GET and HEAD must carry the `X-Loop-Csrf` header (any value), or it is refused with 403.",
            ))),
        );
    for item in openapi.paths.paths.values_mut() {
        let unsafe_methods = [
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
        ];
        for op in unsafe_methods.into_iter().filter_map(Option::as_mut) {
            if op.security.as_ref().is_none_or(|s| s.is_empty()) {
                continue;
            }
            match op.responses.responses.get_mut("403") {
                Some(RefOr::T(own)) if !own.description.contains("X-Loop-Csrf") => {
                    own.description = format!("{}; or {CSRF}", own.description);
                }
                Some(_) => {}
                None => {
                    op.responses.responses.insert(
                        "403".to_owned(),
                        error(&format!("`permission_denied`: {CSRF}"))
                            .build()
                            .into(),
                    );
                }
            }
        }
        let all = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.patch,
            &mut item.delete,
            &mut item.head,
        ];
        for op in all.into_iter().filter_map(Option::as_mut) {
            if let Some(security) = op.security.as_mut().filter(|s| !s.is_empty()) {
                security.push(SecurityRequirement::new(
                    "session_cookie",
                    Vec::<String>::new(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi as _;
    use utoipa_axum::router::OpenApiRouter;

    use super::*;

    /// Statuses are listed one by one (a range such as `4XX` tells a client
    /// nothing it can act on), and what every route can answer is there.
    #[test]
    fn every_operation_lists_its_statuses_one_by_one() {
        let (_, mut doc) = OpenApiRouter::<crate::AppState>::with_openapi(crate::ApiDoc::openapi())
            .merge(crate::routes::router())
            .split_for_parts();
        document_common(&mut doc);
        for (path, op) in operations(&mut doc) {
            let statuses: Vec<&String> = op.responses.responses.keys().collect();
            assert!(
                statuses.iter().all(|s| s.parse::<u16>().is_ok()),
                "{path}: {statuses:?}"
            );
            let common: &[&str] = if LOCAL_ONLY.contains(&path.as_str()) {
                &["429"]
            } else {
                &["429", "503", "504"]
            };
            for common in common {
                assert!(statuses.iter().any(|s| s == common), "{path}: {statuses:?}");
            }
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                assert!(statuses.iter().any(|s| *s == "401"), "{path}: {statuses:?}");
            }
        }
    }

    /// Every secured operation accepts the session cookie too, and every
    /// secured one that changes something lists the CSRF refusal.
    #[test]
    fn the_session_cookie_and_its_csrf_refusal_are_documented() {
        let mut doc = crate::openapi();
        let schemes = &doc
            .components
            .as_ref()
            .expect("components")
            .security_schemes;
        assert!(schemes.contains_key("bearer") && schemes.contains_key("session_cookie"));
        let mut unsafe_secured = 0;
        for item in doc.paths.paths.values_mut() {
            let methods = [
                (false, &item.get),
                (true, &item.put),
                (true, &item.post),
                (true, &item.patch),
                (true, &item.delete),
            ];
            for (changes, op) in methods {
                let Some(op) = op else { continue };
                let Some(security) = op.security.as_ref().filter(|s| !s.is_empty()) else {
                    continue;
                };
                let names = serde_json::to_string(security).expect("json");
                assert!(
                    names.contains("session_cookie") && names.contains("bearer"),
                    "{names}"
                );
                if changes {
                    unsafe_secured += 1;
                    let Some(RefOr::T(forbidden)) = op.responses.responses.get("403") else {
                        panic!("{:?} lists no 403", op.operation_id);
                    };
                    assert!(
                        forbidden.description.contains("X-Loop-Csrf"),
                        "{:?}",
                        op.operation_id
                    );
                }
            }
        }
        assert!(unsafe_secured > 50, "{unsafe_secured}");
    }
}
