//! What the gateway does for the browser client in `web/`: the session
//! cookie (the token where page scripts cannot read it) with its CSRF rule,
//! and the built client's files (`http.web_dir`) with a fallback to
//! `index.html` for the app's own paths. docs/security.md says why.

use std::path::Path;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;

/// The cookie holding the session token: `HttpOnly` (no script reads it),
/// `SameSite=Strict` (no other site's page sends it), `Path=/`, and outside
/// development `Secure` with the `__Host-` prefix (browsers then refuse the
/// cookie unless it is Secure, host-only and for `/`, so a sibling subdomain
/// or a plain-http page cannot plant or shadow it). Development serves plain
/// http, where a `__Host-` cookie cannot be set: there it is `loop_session`.
pub const SESSION_COOKIE: &str = "__Host-loop_session";
/// The session cookie's name in development (plain http).
pub const DEV_SESSION_COOKIE: &str = "loop_session";

/// The session cookie's name: [`SESSION_COOKIE`] when `secure`.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        SESSION_COOKIE
    } else {
        DEV_SESSION_COOKIE
    }
}

/// The header a cookie-authenticated request must carry on every method but
/// GET and HEAD. A page of another origin cannot add it to a form post,
/// and a cross-origin `fetch` that adds it needs a CORS preflight the
/// gateway never approves, so a forged request never reaches a handler.
pub const CSRF_HEADER: &str = "x-loop-csrf";

/// `Set-Cookie` for a new session of `ttl_secs`.
pub fn session_cookie(token: &str, ttl_secs: u64, secure: bool) -> HeaderValue {
    cookie(token, ttl_secs, secure)
}

/// `Set-Cookie` that removes the session cookie.
pub fn cleared_cookie(secure: bool) -> HeaderValue {
    cookie("", 0, secure)
}

fn cookie(value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let name = session_cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    let text =
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}");
    // A JWT is base64url and dots: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session token in the request's `Cookie` headers, if any (the cookie
/// named for `secure`: a production gateway ignores an unprefixed one).
pub fn cookie_token(headers: &HeaderMap, secure: bool) -> Option<&str> {
    let wanted = session_cookie_name(secure);
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == wanted && !value.is_empty())
        .map(|(_, value)| value)
}

/// Refuses a cookie-authenticated request that changes something without
/// the [`CSRF_HEADER`].
pub fn check_csrf(method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
    if matches!(*method, Method::GET | Method::HEAD) || headers.contains_key(CSRF_HEADER) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "permission_denied",
        "a request authenticated by the session cookie must send the X-Loop-Csrf header",
    ))
}

/// What the built client's pages may load outside development: scripts,
/// styles, API calls, images and videos of their own origin only (playback
/// and poster URLs are the gateway's own `/media/...` paths), `blob:` for
/// hls.js's media source, `data:` images.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Development also plays videos published by external `media_url`
/// (`media.allow_external_urls`, refused outside development): any http(s)
/// origin for images, media and hls.js's requests.
const DEV_CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The pages' Content-Security-Policy (`development` widens media origins).
pub fn content_security_policy(development: bool) -> &'static str {
    if development {
        DEV_CONTENT_SECURITY_POLICY
    } else {
        CONTENT_SECURITY_POLICY
    }
}

/// Serves `request` from the built client in `dir`: the file when it exists,
/// else `index.html` (the app routes its own paths), with the page's
/// security headers. API paths never reach here.
pub async fn serve(dir: &Path, development: bool, request: Request) -> Response {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response();
    }
    let files = ServeDir::new(dir).fallback(ServeFile::new(dir.join("index.html")));
    let mut response = match files.oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(never) => match never {},
    };
    let headers = response.headers_mut();
    headers.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(content_security_policy(development)),
    );
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(v).expect("value"),
            );
        }
        map
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_host_prefixed_and_secure_outside_development() {
        let production = session_cookie("a.b.c", 60, true);
        assert_eq!(
            production.to_str().expect("ascii"),
            "__Host-loop_session=a.b.c; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let development = session_cookie("a.b.c", 60, false);
        assert_eq!(
            development.to_str().expect("ascii"),
            "loop_session=a.b.c; Path=/; Max-Age=60; HttpOnly; SameSite=Strict"
        );
        let cleared = cleared_cookie(true);
        assert!(
            cleared
                .to_str()
                .expect("ascii")
                .starts_with("__Host-loop_session=; Path=/; Max-Age=0")
        );
    }

    #[test]
    fn the_token_is_found_among_other_cookies_and_an_empty_one_is_none() {
        let h = headers(&[("cookie", "theme=dark; loop_session=t.o.k; x=1")]);
        assert_eq!(cookie_token(&h, false), Some("t.o.k"));
        let h = headers(&[("cookie", "theme=dark"), ("cookie", "loop_session=abc")]);
        assert_eq!(cookie_token(&h, false), Some("abc"));
        assert_eq!(
            cookie_token(&headers(&[("cookie", "loop_session=")]), false),
            None
        );
        assert_eq!(
            cookie_token(&headers(&[("cookie", "xloop_session=abc")]), false),
            None
        );
        assert_eq!(cookie_token(&HeaderMap::new(), false), None);
        // Outside development only the prefixed cookie counts: an unprefixed
        // one may have been planted by a sibling subdomain or over http.
        let both = headers(&[("cookie", "loop_session=planted; __Host-loop_session=real")]);
        assert_eq!(cookie_token(&both, true), Some("real"));
        assert_eq!(
            cookie_token(&headers(&[("cookie", "loop_session=planted")]), true),
            None
        );
    }

    #[test]
    fn pages_load_media_from_their_own_origin_outside_development() {
        let production = content_security_policy(false);
        for directive in [
            "script-src 'self';",
            "media-src 'self' blob:;",
            "connect-src 'self';",
            "img-src 'self' data: blob:;",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(production.contains(directive), "{directive}");
        }
        assert!(!production.contains("http:") && !production.contains("https:"));
        assert!(content_security_policy(true).contains("media-src 'self' blob: http: https:"));
    }

    /// The web client's types are generated from its copy of the document
    /// (web/src/api/openapi.json -> schema.d.ts, checked by tsc when it is
    /// built), so a contract change must reach that copy: this fails until
    /// `scripts/web-api.sh` regenerated it (then commit web/src/api).
    #[test]
    fn the_web_clients_copy_of_the_document_is_current() {
        let current = serde_json::to_string_pretty(&crate::openapi()).expect("json") + "\n";
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/src/api/openapi.json");
        if std::env::var_os("LOOP_WRITE_WEB_OPENAPI").is_some() {
            std::fs::write(&path, &current).expect("write the web client's copy");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == current,
            "the gateway's OpenAPI document changed and web/src/api/openapi.json is stale: \
             run scripts/web-api.sh (regenerates the web client's copy and types) and commit web/src/api"
        );
    }

    /// The generated client names each operation by its operationId: two
    /// routes sharing one (the ads' and the marketplace's campaigns did) get
    /// one type, so one of them is typed with the other's body and answer.
    #[test]
    fn every_operation_id_is_unique() {
        let doc = serde_json::to_value(crate::openapi()).expect("json");
        let mut seen = std::collections::HashMap::new();
        for (path, ops) in doc["paths"].as_object().expect("paths") {
            for (method, op) in ops.as_object().expect("operations") {
                let Some(id) = op.get("operationId").and_then(|v| v.as_str()) else {
                    continue;
                };
                if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                    panic!("operationId {id} names both {other} and {method} {path}");
                }
            }
        }
    }

    /// `make up` points the gateway at the built client with
    /// `LOOP_GATEWAY__HTTP__WEB_DIR`; the key loads like any other.
    #[test]
    fn the_web_dir_is_a_config_key_unset_by_default() {
        let load = |file: Option<&Path>| -> crate::Config {
            loop_platform::config::load_from(
                "gateway",
                file,
                figment::providers::Env::prefixed("LOOP_WEB_DIR_TEST_UNSET__").split("__"),
                loop_platform::config::Environment::Development,
            )
            .expect("loads")
        };
        assert_eq!(load(None).http.web_dir, None);
        let file = std::env::temp_dir().join(format!("gateway-web-{}.toml", std::process::id()));
        std::fs::write(&file, "[http]\nweb_dir = \"/srv/loop/web/dist\"\n").expect("write");
        let config = load(Some(&file));
        let _ = std::fs::remove_file(&file);
        assert_eq!(
            config.http.web_dir.as_deref(),
            Some(Path::new("/srv/loop/web/dist"))
        );
    }

    #[test]
    fn only_reads_pass_without_the_csrf_header() {
        let none = HeaderMap::new();
        assert!(check_csrf(&Method::GET, &none).is_ok());
        assert!(check_csrf(&Method::HEAD, &none).is_ok());
        for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            let err = check_csrf(&method, &none).expect_err("refused");
            assert_eq!(err.status, StatusCode::FORBIDDEN);
            assert!(check_csrf(&method, &headers(&[("x-loop-csrf", "1")])).is_ok());
        }
    }
}
