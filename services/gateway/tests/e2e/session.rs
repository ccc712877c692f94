//! The browser session: the cookie sign-up sets, what it may do without
//! the CSRF header, logging out, and the pages' security headers.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::Platform;

/// The cookie's name here: `__Host-` and Secure unless LOOP_ENV=development
/// (which serves plain http, where a `__Host-` cookie cannot be set).
fn cookie_name() -> &'static str {
    if loop_platform::config::Environment::current().is_development() {
        "loop_session"
    } else {
        "__Host-loop_session"
    }
}

/// The session cookie's `name=value` from a response's Set-Cookie.
fn session_cookie(resp: &reqwest::Response) -> String {
    let set = resp
        .headers()
        .get(SET_COOKIE)
        .expect("Set-Cookie")
        .to_str()
        .expect("ascii");
    assert!(set.starts_with(&format!("{}=", cookie_name())), "{set}");
    for attribute in ["Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(set.contains(attribute), "{set}");
    }
    let development = cookie_name() == "loop_session";
    assert_eq!(set.contains("; Secure"), !development, "{set}");
    set.split(';').next().expect("pair").to_owned()
}

#[tokio::test]
async fn the_session_cookie_needs_the_csrf_header_for_changes_and_logout_clears_it() {
    let site = std::env::temp_dir().join(format!("loop-session-site-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&site).expect("dir");
    std::fs::write(
        site.join("index.html"),
        "<!doctype html><title>Loop</title>",
    )
    .expect("index");
    let dir = site.clone();
    let p = Platform::start_with(move |c| c.http.web_dir = Some(dir)).await;
    let (_, creator) = p.sign_up("cookiecreator", "creator").await;

    let resp = p
        .http
        .post(format!("{}/v1/auth/signup", p.base))
        .json(&json!({"handle": "cookieviewer", "password": "correct horse battery", "birth_date": "1998-02-03", "country": "US", "language": "en", "interests": ["dance"], "role": "viewer"}))
        .send()
        .await
        .expect("signup");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cookie = session_cookie(&resp);
    let viewer: Value = resp.json().await.expect("json");
    let viewer_id = viewer["user"]["user_id"].as_str().expect("id").to_owned();

    // An unprefixed cookie of the same value counts only in development
    // (elsewhere it may have been planted by a sibling subdomain or over http).
    if cookie_name() == "__Host-loop_session" {
        let planted = cookie.replacen("__Host-", "", 1);
        let resp = p
            .http
            .get(format!("{}/v1/users/me", p.base))
            .header(COOKIE, planted)
            .send()
            .await
            .expect("me");
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }

    // A read with the cookie alone.
    let me = p
        .http
        .get(format!("{}/v1/users/me", p.base))
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["user_id"], viewer_id.as_str());

    // A change with the cookie but without X-Loop-Csrf: refused, nothing changed.
    let follow = format!("{}/v1/users/{creator}/follow", p.base);
    let forged = p
        .http
        .post(&follow)
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("follow");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let err: Value = forged.json().await.expect("json");
    assert_eq!(err["error"]["code"], "permission_denied");
    let following = |p: &Platform| {
        let url = format!("{}/v1/users/{viewer_id}/following", p.base);
        let req = p.http.get(url).header(COOKIE, &cookie);
        async move {
            let body: Value = req
                .send()
                .await
                .expect("following")
                .json()
                .await
                .expect("json");
            body["items"].as_array().map_or(0, Vec::len)
        }
    };
    assert_eq!(following(&p).await, 0, "the refused follow changed nothing");
    // With the header it goes through.
    let allowed = p
        .http
        .post(&follow)
        .header(COOKIE, &cookie)
        .header("X-Loop-Csrf", "1")
        .send()
        .await
        .expect("follow");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(following(&p).await, 1);

    // Logging out with the cookie needs the header too; then the cookie is cleared.
    let logout = format!("{}/v1/auth/logout", p.base);
    let refused = p
        .http
        .post(&logout)
        .header(COOKIE, &cookie)
        .send()
        .await
        .expect("logout");
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get(SET_COOKIE).is_none());
    let out = p
        .http
        .post(&logout)
        .header(COOKIE, &cookie)
        .header("X-Loop-Csrf", "1")
        .send()
        .await
        .expect("logout");
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared = out.headers().get(SET_COOKIE).expect("Set-Cookie");
    assert!(
        cleared
            .to_str()
            .expect("ascii")
            .starts_with(&format!("{}=; Path=/; Max-Age=0", cookie_name())),
        "{cleared:?}"
    );

    // The pages carry their security headers; /v1/ paths stay JSON 404s.
    let page = p
        .http
        .get(format!("{}/studio", p.base))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page
        .headers()
        .get(CONTENT_SECURITY_POLICY)
        .expect("CSP")
        .to_str()
        .expect("ascii")
        .to_owned();
    for directive in [
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("<title>Loop</title>")
    );
    let api = p
        .http
        .get(format!("{}/v1/no-such-thing", p.base))
        .send()
        .await
        .expect("404");
    assert_eq!(api.status(), StatusCode::NOT_FOUND);
    let err: Value = api.json().await.expect("json");
    assert_eq!(err["error"]["code"], "not_found");
    let _ = std::fs::remove_dir_all(&site);
}
