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

pub mod media {
    pub mod v1 {
        include_loop_proto!("media.v1");
    }

    crate::error_reasons! {
        /// The rules the media service refuses a call with (`ErrorInfo.reason`,
        /// named in `media.proto`).
        pub enum Reason in "media.loop" {
            /// The chunk's offset is not the session's current offset (a
            /// chunk out of order, or a retry of one already stored).
            OffsetMismatch = "OFFSET_MISMATCH" => Aborted,
            /// The declared size, or a chunk past it, exceeds the limit.
            UploadTooLarge = "UPLOAD_TOO_LARGE",
            /// The session no longer takes bytes: it is complete (processing
            /// or later).
            UploadNotActive = "UPLOAD_NOT_ACTIVE",
            /// The session expired or was cancelled: its bytes are gone
            /// (tus: 410 Gone); start a new one.
            UploadGone = "UPLOAD_GONE",
            /// The upload has not been processed (yet, or it failed).
            MediaNotReady = "MEDIA_NOT_READY",
            /// The caller has as many unfinished upload sessions as allowed.
            TooManyUploads = "TOO_MANY_UPLOADS" => ResourceExhausted,
        }
    }
}

pub mod commerce {
    pub mod v1 {
        include_loop_proto!("commerce.v1");
    }

    crate::error_reasons! {
        /// The rules the commerce service refuses a call with
        /// (`ErrorInfo.reason`, named in `commerce.proto`).
        pub enum Reason in "commerce.loop" {
            /// The order's state machine forbids the step now.
            InvalidTransition = "INVALID_TRANSITION",
            /// The caller has no shop yet.
            NoShop = "NO_SHOP",
            /// The SKU is not on sale (not approved, retired, another shop's).
            NotForSale = "NOT_FOR_SALE",
            /// Fewer units are available than asked for.
            OutOfStock = "OUT_OF_STOCK",
            /// A seller buying from their own shop.
            SelfPurchase = "SELF_PURCHASE",
            /// The product was edited since the version the caller names.
            VersionConflict = "VERSION_CONFLICT",
            /// Review of a product that is not waiting for review.
            NotPendingReview = "NOT_PENDING_REVIEW",
            /// A refund after the window following delivery.
            RefundWindowClosed = "REFUND_WINDOW_CLOSED",
            /// A refund of more than is left to refund.
            RefundTooLarge = "REFUND_TOO_LARGE",
            /// The card payment was declined (the receipt did not verify,
            /// or is for another order or amount).
            PaymentDeclined = "PAYMENT_DECLINED",
            /// The payment service refused the charge for a reason that is
            /// not the receipt's (the order is unpaid again; try later).
            PaymentFailed = "PAYMENT_FAILED",
            /// The buyer already has the most unpaid orders allowed at once.
            TooManyUnpaidOrders = "TOO_MANY_UNPAID_ORDERS",
            /// The product is not approved or not open to affiliates.
            NotOpenToAffiliates = "NOT_OPEN_TO_AFFILIATES",
            /// The creator does not feature the product where the visit says.
            NotFeatured = "NOT_FEATURED",
            /// The LIVE room has ended.
            RoomNotLive = "ROOM_NOT_LIVE",
            /// A bid below the starting bid or the current price plus the increment.
            BidTooLow = "BID_TOO_LOW",
            /// A bid or authorisation after the auction closed.
            AuctionClosed = "AUCTION_CLOSED",
            /// The seller bidding on their own auction.
            SelfBid = "SELF_BID",
            /// A bid without a payment authorisation, or above it.
            PaymentNotAuthorized = "PAYMENT_NOT_AUTHORIZED",
            /// The room already has an auction running.
            AuctionRunning = "AUCTION_RUNNING",
            /// The order already has an open return request.
            ReturnPending = "RETURN_PENDING",
            /// An answer to a return request when none is open.
            NoReturnPending = "NO_RETURN_PENDING",
            /// A retry of a wallet step for an order without a wallet problem.
            NothingToRetry = "NOTHING_TO_RETRY",
            /// The product is not the one pinned in the LIVE room.
            NotPinned = "NOT_PINNED",
            /// The room already has a flash sale that has not closed.
            FlashSaleRunning = "FLASH_SALE_RUNNING",
            /// The flash sale's countdown has not ended yet.
            FlashSaleNotStarted = "FLASH_SALE_NOT_STARTED",
            /// The flash sale is over.
            FlashSaleEnded = "FLASH_SALE_ENDED",
            /// Fewer of the sale's units are left than asked for.
            FlashSaleSoldOut = "FLASH_SALE_SOLD_OUT",
            /// The buyer would hold more of the sale's units than its limit.
            FlashSaleLimit = "FLASH_SALE_LIMIT",
            /// The sale's terms do not fit together or with the SKU (a sale
            /// price not below the SKU's, a limit above the units).
            FlashSaleTerms = "FLASH_SALE_TERMS",
            /// The store receipt paid something else before.
            ReceiptAlreadyRedeemed = "RECEIPT_ALREADY_REDEEMED" => AlreadyExists,
            ShopExists = "SHOP_EXISTS" => AlreadyExists,
            IdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED" => AlreadyExists,
        }
    }
}

pub mod events {
    pub mod v1 {
        include_loop_proto!("events.v1");
    }
}
