//! Shared runtime for every Loop service.
//!
//! One place for the things each service must do the same way: configuration
//! ([`config`]), telemetry ([`telemetry`]), the gRPC server bootstrap with
//! health, reflection and graceful shutdown ([`grpc`]), authentication
//! ([`auth`]), the error type that maps to `tonic::Status` ([`error`]),
//! PostgreSQL ([`db`]), Redis ([`cache`]), Kafka ([`kafka`]) and the
//! transactional outbox ([`outbox`]), Prometheus metrics ([`metrics`]).

pub mod auth;
pub mod bench;
pub mod cache;
pub mod config;
pub mod db;
pub mod error;
pub mod grpc;
pub mod ids;
pub mod kafka;
pub mod metrics;
pub mod money;
pub mod outbox;
pub mod pagination;
pub mod playback;
pub mod runtime;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
pub mod validate;

pub use error::{AppError, AppResult};

/// Implements a service's tonic trait from its inherent methods: every rpc
/// listed verifies the caller's token (`self.keys.caller`, mapping the
/// error into the service's `error` type) and calls
/// `Service::rpc(&self, &caller, request)`; `@public { ... }` holds the few
/// rpcs written by hand (no token, or an optional one).
///
/// ```ignore
/// loop_platform::authenticated_api! {
///     impl WalletApi for WalletService, error WalletError;
///     get_balance(pb::GetBalanceRequest) -> pb::GetBalanceResponse;
/// }
/// ```
#[macro_export]
macro_rules! authenticated_api {
    (
        impl $api:ident for $svc:ident, error $err:ty;
        $(@public { $($public:item)* })?
        $($name:ident($req:ty) -> $resp:ty;)*
    ) => {
        #[tonic::async_trait]
        impl $api for $svc {
            $($($public)*)?
            $(
                async fn $name(
                    &self,
                    request: tonic::Request<$req>,
                ) -> Result<tonic::Response<$resp>, tonic::Status> {
                    let caller = self.keys.caller(&request).map_err(<$err>::from)?;
                    Ok(tonic::Response::new(
                        $svc::$name(self, &caller, request.into_inner()).await?,
                    ))
                }
            )*
        }
    };
}
