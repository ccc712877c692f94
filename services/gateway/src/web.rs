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
/// `SameSite=Strict` (no other site's page sends it), `Secure` outside
/// development, `Path=/`.
pub const SESSION_COOKIE: &str = "loop_session";

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
    let secure = if secure { "; Secure" } else { "" };
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    );
    // A JWT is base64url and dots: always a valid header value.
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session token in the request's `Cookie` headers, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
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

/// What the built client's pages may load: scripts and styles of their own
/// origin only, API calls to the gateway, and videos from the media origin
/// (any http(s) origin, as `media_url` names it; `blob:` for hls.js).
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; connect-src 'self' http: https:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Serves `request` from the built client in `dir`: the file when it exists,
/// else `index.html` (the app routes its own paths), with the page's
/// security headers. API paths never reach here.
pub async fn serve(dir: &Path, request: Request) -> Response {
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
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
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
    fn the_cookie_is_http_only_strict_and_secure_outside_development() {
        let production = session_cookie("a.b.c", 60, true);
        let production = production.to_str().expect("ascii");
        assert_eq!(
            production,
            "loop_session=a.b.c; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let development = session_cookie("a.b.c", 60, false);
        assert!(!development.to_str().expect("ascii").contains("Secure"));
        let cleared = cleared_cookie(true);
        assert!(
            cleared
                .to_str()
                .expect("ascii")
                .starts_with("loop_session=; Path=/; Max-Age=0")
        );
    }

    #[test]
    fn the_token_is_found_among_other_cookies_and_an_empty_one_is_none() {
        let h = headers(&[("cookie", "theme=dark; loop_session=t.o.k; x=1")]);
        assert_eq!(cookie_token(&h), Some("t.o.k"));
        let h = headers(&[("cookie", "theme=dark"), ("cookie", "loop_session=abc")]);
        assert_eq!(cookie_token(&h), Some("abc"));
        assert_eq!(cookie_token(&headers(&[("cookie", "loop_session=")])), None);
        assert_eq!(
            cookie_token(&headers(&[("cookie", "xloop_session=abc")])),
            None
        );
        assert_eq!(cookie_token(&HeaderMap::new()), None);
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
