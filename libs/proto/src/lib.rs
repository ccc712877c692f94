//! Generated code for the Loop contracts in `proto/loop/**`.
//!
//! Modules mirror the protobuf packages without the leading `loop` (a Rust
//! keyword): `loop.content.v1` is [`content::v1`].

#![allow(clippy::all, clippy::pedantic, missing_docs)]

/// The encoded `FileDescriptorSet` of every Loop proto (with imports), for gRPC reflection.
/// prost escapes the `loop` keyword in generated file names (`r#loop.x.v1.rs`).
macro_rules! include_loop_proto {
    ($package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/r#loop.", $package, ".rs"));
    };
}

mod reasons;
pub use reasons::ErrorReason;

pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/loop_descriptor.bin"));

pub mod common {
    pub mod v1 {
        include_loop_proto!("common.v1");
    }
}

pub mod content {
    pub mod v1 {
        include_loop_proto!("content.v1");
    }
}

pub mod feed_ranking {
    pub mod v1 {
        include_loop_proto!("feed_ranking.v1");
    }
}

pub mod ads_auction {
    pub mod v1 {
        include_loop_proto!("ads_auction.v1");
    }

    crate::error_reasons! {
        /// The rules ads-auction refuses a call with (`ErrorInfo.reason`,
        /// named in each rpc's comment in `ads_auction.proto`).
        pub enum Reason in "ads-auction.loop" {
            InsufficientBudget = "INSUFFICIENT_BUDGET",
            InsufficientFunds = "INSUFFICIENT_FUNDS",
            BudgetBelowSpend = "BUDGET_BELOW_SPEND",
            PriceChanged = "PRICE_CHANGED",
            SoldOut = "SOLD_OUT",
            AlreadyStarted = "ALREADY_STARTED",
            CreativeTerminal = "CREATIVE_TERMINAL",
            SparkAdGroup = "SPARK_AD_GROUP",
            NotSparkAdGroup = "NOT_SPARK_AD_GROUP",
            NotTopviewAdGroup = "NOT_TOPVIEW_AD_GROUP",
            SparkCodeExpired = "SPARK_CODE_EXPIRED",
            SparkCodeRevoked = "SPARK_CODE_REVOKED",
            ChallengeOverlap = "CHALLENGE_OVERLAP" => AlreadyExists,
            IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED" => AlreadyExists,
        }
    }
}

pub mod wallet {
    pub mod v1 {
        include_loop_proto!("wallet.v1");
    }

    crate::error_reasons! {
        /// The business rules the wallet refuses a call with: the
        /// `google.rpc.ErrorInfo.reason` of its FAILED_PRECONDITION and
        /// ALREADY_EXISTS statuses. Declared once here so the wallet raises and
        /// its callers (ads-auction, creator-marketplace, the gateway) match
        /// the same typed values, never string literals.
        pub enum Reason in "wallet.loop" {
            InsufficientFunds = "INSUFFICIENT_FUNDS",
            AgeRestricted = "AGE_RESTRICTED",
            ReceiptAlreadyRedeemed = "RECEIPT_ALREADY_REDEEMED" => AlreadyExists,
            RecipientMismatch = "RECIPIENT_MISMATCH",
            RoomNotLive = "ROOM_NOT_LIVE",
            BelowMinimumPayout = "BELOW_MINIMUM_PAYOUT",
            DailyPayoutCap = "DAILY_PAYOUT_CAP",
            PayoutNotPending = "PAYOUT_NOT_PENDING",
            EscrowNotHeld = "ESCROW_NOT_HELD",
            IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED" => AlreadyExists,
        }
    }
}

pub mod creator_marketplace {
    pub mod v1 {
        include_loop_proto!("creator_marketplace.v1");
    }

    crate::error_reasons! {
        /// The rules the creator marketplace refuses a call with
        /// (`ErrorInfo.reason`, named in `creator_marketplace.proto`).
        pub enum Reason in "creator-marketplace.loop" {
            /// The state machine forbids the call in the current state.
            InvalidState = "INVALID_STATE",
            CampaignFull = "CAMPAIGN_FULL",
            DeadlinePassed = "DEADLINE_PASSED",
            InviteOnly = "INVITE_ONLY",
            MissingRequiredHashtag = "MISSING_REQUIRED_HASHTAG",
            NotEligibleAge = "NOT_ELIGIBLE_AGE",
            NotEligibleFollowers = "NOT_ELIGIBLE_FOLLOWERS",
            NotListed = "NOT_LISTED",
            ReapplyTooSoon = "REAPPLY_TOO_SOON",
            VideoNotPublic = "VIDEO_NOT_PUBLIC",
            VideoTooOld = "VIDEO_TOO_OLD",
            /// The advertiser's wallet cannot cover an invitation's hold.
            AdvertiserInsufficientFunds = "ADVERTISER_INSUFFICIENT_FUNDS",
            /// The caller's (advertiser's) wallet cannot cover the hold.
            InsufficientFunds = "INSUFFICIENT_FUNDS",
            AlreadyApproved = "ALREADY_APPROVED" => AlreadyExists,
            ApplicationPending = "APPLICATION_PENDING" => AlreadyExists,
            CollaborationExists = "COLLABORATION_EXISTS" => AlreadyExists,
            IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED" => AlreadyExists,
        }
    }
}

pub mod events {
    pub mod v1 {
        include_loop_proto!("events.v1");
    }
}
