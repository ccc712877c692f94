//! Accounts: sign-up rules.

use super::*;

#[tokio::test]
async fn a_taken_handle_is_refused() {
    let h = Harness::start().await;
    h.sign_up("carol", R::Creator).await;
    let mut c = h.client.clone();
    let err = c
        .create_user(pb::CreateUserRequest {
            handle: "carol".into(),
            password: "long enough pw".into(),
            birth_date: "1990-01-01".into(),
            country: "US".into(),
            language: "en".into(),
            ..Default::default()
        })
        .await
        .expect_err("taken");
    assert_eq!(err.code(), Code::AlreadyExists);
}
