//! Background steps: forgetting consumed event ids, returning stranded holds.

use super::*;

#[tokio::test]
async fn the_sweeper_forgets_consumed_event_ids_past_the_retention() {
    let p = Platform::start().await;
    let (old, recent) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO processed_events (event_id, processed_at) \
         VALUES ($1, now() - interval '8 days'), ($2, now() - interval '6 days')",
    )
    .bind(old)
    .bind(recent)
    .execute(&p.pool)
    .await
    .expect("insert");
    // Whichever sweep (this one or the service's own) got there first, the
    // id past the 7-day retention is gone and the newer one is kept.
    p.sweep().await;
    let left: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM processed_events WHERE event_id = ANY($1)")
            .bind(vec![old, recent])
            .fetch_all(&p.pool)
            .await
            .expect("select");
    assert_eq!(left, vec![recent]);
}

#[tokio::test]
async fn a_hold_left_by_an_acceptance_that_never_committed_is_returned() {
    let p = Platform::start().await;
    let (advertiser, creator, _, collab) = invited(&p).await;
    let id = Uuid::parse_str(&collab.collaboration_id).expect("id");
    assert_eq!(p.cents(&advertiser).await, (100_000, 0));

    // An acceptance got as far as the wallet: it noted its intent and the
    // wallet held the money (with the acceptance's own key and body), then
    // its commit failed, so the collaboration is still INVITED, no escrow.
    sqlx::query("INSERT INTO escrow_intents (collaboration_id) VALUES ($1)")
        .bind(id)
        .execute(&p.pool)
        .await
        .expect("intent");
    let wallet = loop_creator_marketplace::escrow::Wallet::new(
        loop_platform::grpc::channel(&p.config.services.wallet_url).expect("channel"),
        loop_platform::auth::JwtKeys::development("creator-marketplace"),
        Duration::from_secs(5),
    );
    let advertiser_id = Uuid::parse_str(&advertiser).expect("advertiser id");
    let creator_id = Uuid::parse_str(&creator).expect("creator id");
    wallet
        .hold(id, advertiser_id, creator_id, BUDGET)
        .await
        .expect("hold");
    assert_eq!(p.cents(&advertiser).await, (100_000 - BUDGET, BUDGET));

    // While the invitation can still be accepted the hold stays (a retried
    // acceptance gets it back by its key).
    p.sweep().await;
    assert_eq!(p.cents(&advertiser).await, (100_000 - BUDGET, BUDGET));

    // Declined: the next sweep returns the money, once.
    p.m()
        .decline_invitation(p.req(
            &creator,
            Role::Creator,
            pb::DeclineInvitationRequest {
                collaboration_id: collab.collaboration_id.clone(),
            },
        ))
        .await
        .expect("decline");
    testing::wait_for("the hold returned", Duration::from_secs(30), || async {
        p.sweep().await;
        (p.cents(&advertiser).await == (100_000, 0)).then_some(())
    })
    .await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM escrow_intents")
        .fetch_one(&p.pool)
        .await
        .expect("count");
    assert_eq!(left, 0, "the intent is done");
    p.sweep().await;
    assert_eq!(p.cents(&advertiser).await, (100_000, 0));
    assert!(p.reconcile().await.consistent);
}
