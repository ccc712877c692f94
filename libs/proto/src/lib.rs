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
}

pub mod wallet {
    pub mod v1 {
        include_loop_proto!("wallet.v1");
    }

    /// The business rules the wallet refuses a call with: the
    /// `google.rpc.ErrorInfo.reason` of its FAILED_PRECONDITION and
    /// ALREADY_EXISTS statuses. Declared once here so the wallet raises and
    /// its callers (ads-auction, creator-marketplace, the gateway) match
    /// the same typed values, never string literals.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Reason {
        InsufficientFunds,
        AgeRestricted,
        ReceiptAlreadyRedeemed,
        RecipientMismatch,
        RoomNotLive,
        BelowMinimumPayout,
        DailyPayoutCap,
        PayoutNotPending,
        EscrowNotHeld,
        IdempotencyKeyReused,
    }

    impl Reason {
        pub const ALL: [Reason; 10] = [
            Self::InsufficientFunds,
            Self::AgeRestricted,
            Self::ReceiptAlreadyRedeemed,
            Self::RecipientMismatch,
            Self::RoomNotLive,
            Self::BelowMinimumPayout,
            Self::DailyPayoutCap,
            Self::PayoutNotPending,
            Self::EscrowNotHeld,
            Self::IdempotencyKeyReused,
        ];

        /// The UPPER_SNAKE name on the wire.
        pub fn as_str(self) -> &'static str {
            match self {
                Self::InsufficientFunds => "INSUFFICIENT_FUNDS",
                Self::AgeRestricted => "AGE_RESTRICTED",
                Self::ReceiptAlreadyRedeemed => "RECEIPT_ALREADY_REDEEMED",
                Self::RecipientMismatch => "RECIPIENT_MISMATCH",
                Self::RoomNotLive => "ROOM_NOT_LIVE",
                Self::BelowMinimumPayout => "BELOW_MINIMUM_PAYOUT",
                Self::DailyPayoutCap => "DAILY_PAYOUT_CAP",
                Self::PayoutNotPending => "PAYOUT_NOT_PENDING",
                Self::EscrowNotHeld => "ESCROW_NOT_HELD",
                Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            }
        }

        pub fn parse(reason: &str) -> Option<Self> {
            Self::ALL.into_iter().find(|r| r.as_str() == reason)
        }
    }
}

pub mod creator_marketplace {
    pub mod v1 {
        include_loop_proto!("creator_marketplace.v1");
    }
}

pub mod events {
    pub mod v1 {
        include_loop_proto!("events.v1");
    }
}
