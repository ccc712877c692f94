//! Typed business-rule reasons: the `google.rpc.ErrorInfo.reason` a service
//! puts on its FAILED_PRECONDITION / ALREADY_EXISTS statuses. Each service
//! declares its reasons once (with [`error_reasons!`](crate::error_reasons))
//! beside its generated contract, so the service raises and its callers match
//! the same typed values, never string literals.

/// A service's business-rule reason.
pub trait ErrorReason: Copy + Eq + std::fmt::Debug + Send + Sync + 'static {
    /// The `ErrorInfo.domain` of the service that raises it.
    const DOMAIN: &'static str;
    /// Every reason, for parsing and for tests.
    const ALL: &'static [Self];
    /// The UPPER_SNAKE name on the wire.
    fn as_str(self) -> &'static str;
    /// The gRPC code a refusal with this reason carries.
    fn code(self) -> tonic::Code;
    /// The reason named `wire`, if this service has one.
    fn parse(wire: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == wire)
    }
}

/// Declares a service's reason enum: `Variant = "WIRE_NAME"`, optionally
/// `=> AlreadyExists` (or any `tonic::Code` variant); the default code is
/// FAILED_PRECONDITION.
#[macro_export]
macro_rules! error_reasons {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $domain:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal $(=> $code:ident)? ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// The UPPER_SNAKE name on the wire.
            pub fn as_str(self) -> &'static str {
                <Self as $crate::ErrorReason>::as_str(self)
            }

            /// The reason named `wire`, if any.
            pub fn parse(wire: &str) -> Option<Self> {
                <Self as $crate::ErrorReason>::parse(wire)
            }
        }

        impl $crate::ErrorReason for $name {
            const DOMAIN: &'static str = $domain;
            const ALL: &'static [Self] = &[ $( Self::$variant ),+ ];

            fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $wire, )+
                }
            }

            fn code(self) -> ::tonic::Code {
                match self {
                    $( Self::$variant => $crate::error_reasons!(@code $($code)?), )+
                }
            }
        }
    };
    (@code) => { ::tonic::Code::FailedPrecondition };
    (@code $code:ident) => { ::tonic::Code::$code };
}

#[cfg(test)]
mod tests {
    use super::ErrorReason;

    fn distinct_and_round_trip<R: ErrorReason>() {
        for (i, r) in R::ALL.iter().enumerate() {
            assert_eq!(R::parse(r.as_str()), Some(*r));
            let wire = r.as_str();
            assert!(
                wire.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{wire}"
            );
            assert!(
                R::ALL[i + 1..].iter().all(|o| o.as_str() != wire),
                "{wire} named twice in {}",
                R::DOMAIN
            );
        }
        assert_eq!(R::parse("NO_SUCH_REASON"), None);
    }

    #[test]
    fn every_service_names_each_reason_once_and_parses_it_back() {
        distinct_and_round_trip::<crate::wallet::Reason>();
        distinct_and_round_trip::<crate::ads_auction::Reason>();
        distinct_and_round_trip::<crate::creator_marketplace::Reason>();
        distinct_and_round_trip::<crate::commerce::Reason>();
    }

    #[test]
    fn conflicts_are_already_exists_and_rules_failed_precondition() {
        use crate::ads_auction::Reason as Ads;
        use crate::wallet::Reason as Wallet;
        assert_eq!(
            Wallet::IdempotencyKeyReused.code(),
            tonic::Code::AlreadyExists
        );
        assert_eq!(
            Wallet::InsufficientFunds.code(),
            tonic::Code::FailedPrecondition
        );
        assert_eq!(Ads::ChallengeOverlap.code(), tonic::Code::AlreadyExists);
        assert_eq!(Ads::SoldOut.code(), tonic::Code::FailedPrecondition);
    }
}
