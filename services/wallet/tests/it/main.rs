//! Wallet integration tests against real PostgreSQL, Redis and the broker,
//! with the real content service: money flows, idempotency, bad input,
//! escrow and ad budgets, leaderboards, the journal export.

#![allow(clippy::field_reassign_with_default)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Platform, field, reason};
use loop_platform::auth::Role;
use loop_platform::testing;
use loop_proto::events::v1::{WalletEvent, wallet_event::Payload};
use loop_proto::wallet::v1 as pb;
use prost::Message;
use tonic::Code;
use uuid::Uuid;

fn key() -> String {
    format!("k-{}", Uuid::now_v7())
}

fn gift_req(key: &str, gift: &str, to: &str, room: &str, count: u32) -> pb::SendGiftRequest {
    pb::SendGiftRequest {
        idempotency_key: key.into(),
        gift_id: gift.into(),
        recipient_id: to.into(),
        target: Some(pb::send_gift_request::Target::LiveRoomId(room.into())),
        count,
    }
}

async fn wallet_events(p: &Platform) -> Vec<WalletEvent> {
    p.wait_outbox_drained().await;
    testing::read_all(&p.config.kafka, &p.topic())
        .await
        .iter()
        .map(|d| WalletEvent::decode(d.payload.as_slice()).expect("WalletEvent"))
        .collect()
}

mod books;
mod commerce;
mod internal;
mod money;
mod rules;
