//! The marketplace against real content, wallet, Postgres and broker:
//! applications, the escrow flow, deadline refunds, and every bad input
//! (clear error, nothing changes).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use loop_platform::auth::Role;
use loop_platform::testing;
use loop_proto::creator_marketplace::v1 as pb;
use tonic::Code;
use uuid::Uuid;

#[path = "../common/mod.rs"]
mod common;
use common::{Platform, field, reason};

const BUDGET: i64 = 20_000;

fn key() -> String {
    format!("key-{}", Uuid::now_v7())
}

/// Advertiser funded, campaign published, listed creator invited.
async fn invited(p: &Platform) -> (String, String, pb::Campaign, pb::Collaboration) {
    let advertiser = p
        .seed_users(1, "1980-01-01", Role::Advertiser)
        .await
        .remove(0);
    p.fund(&advertiser, 100_000).await;
    let creator = p.listed_creator().await;
    let campaign = p
        .campaign(&advertiser, BUDGET, pb::CampaignVisibility::InviteOnly)
        .await;
    let collab = p
        .m()
        .invite_creator(p.req(
            &advertiser,
            Role::Advertiser,
            pb::InviteCreatorRequest {
                campaign_id: campaign.campaign_id.clone(),
                creator_id: creator.clone(),
                pitch: "we love your videos".into(),
            },
        ))
        .await
        .expect("invite")
        .into_inner()
        .collaboration
        .expect("collaboration");
    (advertiser, creator, campaign, collab)
}

async fn accept(
    p: &Platform,
    creator: &str,
    collab: &str,
    key: &str,
) -> Result<pb::Collaboration, tonic::Status> {
    p.m()
        .accept_invitation(p.req(
            creator,
            Role::Creator,
            pb::AcceptInvitationRequest {
                idempotency_key: key.into(),
                collaboration_id: collab.into(),
            },
        ))
        .await
        .map(|r| r.into_inner().collaboration.expect("collaboration"))
}

async fn approve(
    p: &Platform,
    advertiser: &str,
    collab: &str,
    key: &str,
) -> Result<pb::Collaboration, tonic::Status> {
    p.m()
        .approve_deliverable(p.req(
            advertiser,
            Role::Advertiser,
            pb::ApproveDeliverableRequest {
                idempotency_key: key.into(),
                collaboration_id: collab.into(),
            },
        ))
        .await
        .map(|r| r.into_inner().collaboration.expect("collaboration"))
}

async fn submit(
    p: &Platform,
    creator: &str,
    collab: &str,
    videos: Vec<String>,
) -> Result<pb::Collaboration, tonic::Status> {
    p.m()
        .submit_deliverable(p.req(
            creator,
            Role::Creator,
            pb::SubmitDeliverableRequest {
                collaboration_id: collab.into(),
                video_ids: videos,
            },
        ))
        .await
        .map(|r| r.into_inner().collaboration.expect("collaboration"))
}

async fn history_len(p: &Platform, collab: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM collaboration_history WHERE collaboration_id = $1")
        .bind(Uuid::parse_str(collab).unwrap())
        .fetch_one(&p.pool)
        .await
        .unwrap()
}

mod applications;
mod escrow;
mod rules;
mod search;
mod sweeper;
