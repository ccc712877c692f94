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
