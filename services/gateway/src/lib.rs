//! Loop API gateway: HTTP/JSON under `/v1` for clients, OpenAPI at
//! `/openapi.json`. Issues JWTs at sign-up/login, authenticates every call,
//! rate-limits per user (Redis), and calls the services over gRPC with a
//! deadline, forwarding the caller's token and trace context.

mod constraints;
mod credit;
mod dto;
mod error;
mod extract;
mod limits;
mod playback;
mod responses;
mod routes;
mod serve;
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use loop_platform::auth::JwtKeys;
use loop_platform::cache::Redis;
use loop_platform::config::{
    AuthConfig, KafkaConfig, RedisConfig, TelemetryConfig, Validate, validate_service_url,
};
use loop_platform::kafka::{Producer, topics};
use loop_proto::ads_auction::v1::ads_auction_service_client::AdsAuctionServiceClient;
use loop_proto::commerce::v1::commerce_service_client::CommerceServiceClient;
use loop_proto::content::v1::content_service_client::ContentServiceClient;
use loop_proto::creator_marketplace::v1::creator_marketplace_service_client::CreatorMarketplaceServiceClient;
use loop_proto::feed_ranking::v1::feed_ranking_service_client::FeedRankingServiceClient;
use loop_proto::media::v1::media_service_client::MediaServiceClient;
use loop_proto::wallet::v1::wallet_service_client::WalletServiceClient;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use error::{ApiError, ErrorBody};
use extract::AuthUser;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub services: ServicesConfig,
    pub redis: RedisConfig,
    /// Where client engagement events (`POST /v1/events`) are published.
    pub kafka: KafkaConfig,
    pub auth: AuthConfig,
    pub tokens: TokenConfig,
    /// Keys of the serve tokens on feed items (see `serve`).
    pub serve_tokens: ServeTokenConfig,
    /// Uploads and signed playback URLs (see `playback`).
    pub media: playback::MediaEdgeConfig,
    pub telemetry: TelemetryConfig,
    pub rate_limit: RateLimitConfig,
    /// Deadline of every downstream gRPC call.
    pub downstream_timeout_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen_addr: SocketAddr,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// The built web client (`web/dist`), served at every path the API does
    /// not own, `index.html` for the app's own paths; none when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_dir: Option<std::path::PathBuf>,
}

/// Where the services are (gRPC URLs).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServicesConfig {
    pub content_url: String,
    pub feed_ranking_url: String,
    pub wallet_url: String,
    pub ads_auction_url: String,
    pub creator_marketplace_url: String,
    pub commerce_url: String,
    pub media_url: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Lifetime of the JWTs issued at login.
    pub ttl_secs: u64,
}

pub use limits::RateLimitConfig;
pub use serve::ServeTokenConfig;

impl Default for Config {
    fn default() -> Self {
        Self {
            http: HttpConfig {
                listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
                max_body_bytes: 256 * 1024,
                web_dir: None,
            },
            services: ServicesConfig {
                content_url: "http://127.0.0.1:50061".into(),
                feed_ranking_url: "http://127.0.0.1:50062".into(),
                wallet_url: "http://127.0.0.1:50064".into(),
                ads_auction_url: "http://127.0.0.1:50063".into(),
                creator_marketplace_url: "http://127.0.0.1:50065".into(),
                commerce_url: "http://127.0.0.1:50066".into(),
                media_url: "http://127.0.0.1:50067".into(),
            },
            redis: RedisConfig::default(),
            kafka: KafkaConfig::default(),
            auth: AuthConfig::development("gateway"),
            tokens: TokenConfig {
                ttl_secs: 24 * 3600,
            },
            serve_tokens: ServeTokenConfig::default(),
            telemetry: TelemetryConfig::with_metrics_port(9460),
            rate_limit: RateLimitConfig::default(),
            downstream_timeout_ms: 5000,
            media: playback::MediaEdgeConfig::default(),
        }
    }
}

impl Validate for Config {
    fn development_only(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.auth.development_only(&mut out);
        self.serve_tokens.development_only(&mut out);
        self.media.development_only(&mut out);
        out
    }

    fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        self.serve_tokens.validate_into(&mut problems);
        self.media.validate_into(&mut problems);
        validate_service_url(
            "services.media_url",
            &self.services.media_url,
            &mut problems,
        );
        self.redis.validate_into(&mut problems);
        self.kafka.validate_into(&mut problems);
        self.auth.validate_into("gateway", true, &mut problems);
        validate_service_url(
            "services.content_url",
            &self.services.content_url,
            &mut problems,
        );
        validate_service_url(
            "services.feed_ranking_url",
            &self.services.feed_ranking_url,
            &mut problems,
        );
        validate_service_url(
            "services.wallet_url",
            &self.services.wallet_url,
            &mut problems,
        );
        validate_service_url(
            "services.ads_auction_url",
            &self.services.ads_auction_url,
            &mut problems,
        );
        validate_service_url(
            "services.creator_marketplace_url",
            &self.services.creator_marketplace_url,
            &mut problems,
        );
        validate_service_url(
            "services.commerce_url",
            &self.services.commerce_url,
            &mut problems,
        );
        if !(60..=30 * 24 * 3600).contains(&self.tokens.ttl_secs) {
            problems.push("tokens.ttl_secs: must be 60..=2592000".into());
        }
        if !(50..=60_000).contains(&self.downstream_timeout_ms) {
            problems.push("downstream_timeout_ms: must be 50..=60000".into());
        }
        self.rate_limit.validate_into(&mut problems);
        if !(1024..=16 * 1024 * 1024).contains(&self.http.max_body_bytes) {
            problems.push("http.max_body_bytes: must be 1024..=16777216".into());
        }
        problems
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub(crate) content: ContentServiceClient<Channel>,
    pub(crate) content_channel: Channel,
    pub(crate) ranker: FeedRankingServiceClient<Channel>,
    pub(crate) ranker_channel: Channel,
    pub(crate) wallet: WalletServiceClient<Channel>,
    pub(crate) wallet_channel: Channel,
    pub(crate) ads: AdsAuctionServiceClient<Channel>,
    pub(crate) ads_channel: Channel,
    pub(crate) market: CreatorMarketplaceServiceClient<Channel>,
    pub(crate) market_channel: Channel,
    pub(crate) commerce: CommerceServiceClient<Channel>,
    pub(crate) commerce_channel: Channel,
    pub(crate) media: MediaServiceClient<Channel>,
    pub(crate) media_channel: Channel,
    pub(crate) playback: Arc<playback::Signer>,
    pub(crate) keys: JwtKeys,
    pub(crate) redis: Redis,
    pub(crate) limiter: Arc<limits::Limiter>,
    pub(crate) serve_tokens: Arc<serve::ServeTokens>,
    /// Skips engagement dedupe (crediting nothing) for a second after Redis failed.
    pub(crate) credit_breaker: Arc<limits::Breaker>,
    pub(crate) producer: Producer,
    pub(crate) config: Arc<Config>,
    /// The session cookie says `Secure` (everywhere but LOOP_ENV=development).
    pub(crate) secure_cookies: bool,
}

impl AppState {
    pub(crate) fn content(&self) -> ContentServiceClient<Channel> {
        self.content.clone()
    }

    pub(crate) fn ranker(&self) -> FeedRankingServiceClient<Channel> {
        self.ranker.clone()
    }

    pub(crate) fn wallet(&self) -> WalletServiceClient<Channel> {
        self.wallet.clone()
    }

    pub(crate) fn ads(&self) -> AdsAuctionServiceClient<Channel> {
        self.ads.clone()
    }

    pub(crate) fn media(&self) -> MediaServiceClient<Channel> {
        self.media.clone()
    }

    pub(crate) fn market(&self) -> CreatorMarketplaceServiceClient<Channel> {
        self.market.clone()
    }

    pub(crate) fn commerce(&self) -> CommerceServiceClient<Channel> {
        self.commerce.clone()
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.config.downstream_timeout_ms)
    }

    /// A downstream request carrying the caller's token, trace context and deadline.
    pub(crate) fn req<T>(&self, user: &AuthUser, message: T) -> tonic::Request<T> {
        loop_platform::grpc::request(message, Some(&user.token), self.timeout())
    }

    pub(crate) fn anonymous<T>(&self, message: T) -> tonic::Request<T> {
        loop_platform::grpc::request(message, None, self.timeout())
    }

    /// Publishes client-reported `events` to `topic`, in order, keyed by
    /// `key` (one partition, so their order is kept), and returns once the
    /// broker acknowledged every one: an accepted event is never lost.
    pub(crate) async fn publish_all<M: prost::Message>(
        &self,
        topic: &str,
        key: &str,
        event_type: &str,
        events: &[M],
    ) -> Result<(), ApiError> {
        let sends = events
            .iter()
            .map(|event| self.producer.publish(topic, key, event_type, event));
        for result in futures::future::join_all(sends).await {
            if let Err(err) = result {
                tracing::error!(error = ?err, topic, "publishing client events failed");
                return Err(ApiError::new(
                    http::StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "events could not be recorded; retry",
                ));
            }
        }
        Ok(())
    }

    /// Awaits a downstream call, enforcing the deadline here too.
    pub(crate) async fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, ApiError> {
        match tokio::time::timeout(self.timeout(), fut).await {
            Ok(Ok(response)) => Ok(response.into_inner()),
            Ok(Err(status)) => Err(status.into()),
            Err(_) => Err(tonic::Status::deadline_exceeded("downstream deadline").into()),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Loop API", version = "1", description = "The client API of Loop, a short-video platform. Authenticate with `Authorization: Bearer <token>` from /v1/auth/login (browsers: the HttpOnly `__Host-loop_session` cookie the same call sets (`loop_session` in development), with an `X-Loop-Csrf` header on every method but GET and HEAD; security scheme `session_cookie`)."),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(paths(playback::serve))]
struct MediaEdgeDoc;

/// The routes and the OpenAPI document served at `/openapi.json`, built from
/// the same handlers.
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::router())
        .split_for_parts();
    // The media edge is routed on its own (its last segment is a wildcard
    // path); its document is merged here.
    openapi.merge(MediaEdgeDoc::openapi());
    responses::document_common(&mut openapi);
    responses::document_session_cookie(&mut openapi);
    constraints::document_cross_field_rules(&mut openapi);
    openapi.info.version = env!("CARGO_PKG_VERSION").into();
    (api, openapi)
}

/// The OpenAPI document the gateway serves at `/openapi.json` (the web
/// client's types are generated from it: `scripts/web-api.sh`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// The router with every route and the OpenAPI document built from the same handlers.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = api();
    let openapi = Arc::new(openapi);
    let max_body = state.config.http.max_body_bytes;
    Router::new()
        .merge(api)
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .route(
            "/media/{upload_id}/{expires}/{sig}/{*path}",
            axum::routing::get(playback::serve),
        )
        .route("/readyz", axum::routing::get(readyz))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            playback::with_signer,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(request_span))
        .with_state(state)
}

/// Paths no route owns: the web client's files when `http.web_dir` is set
/// (never under `/v1/`), else a JSON 404.
async fn fallback(State(state): State<AppState>, request: Request) -> Response {
    match &state.config.http.web_dir {
        Some(dir) if !request.uri().path().starts_with("/v1/") => {
            // Cookies are Secure everywhere but development.
            web::serve(dir, !state.secure_cookies, request).await
        }
        _ => {
            ApiError::new(http::StatusCode::NOT_FOUND, "not_found", "no such route").into_response()
        }
    }
}

async fn serving(channel: Channel, service: &str) -> bool {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let check = health.check(tonic_health::pb::HealthCheckRequest {
        service: service.to_owned(),
    });
    matches!(
        tokio::time::timeout(Duration::from_secs(2), check).await,
        Ok(Ok(r)) if r.get_ref().status == tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    )
}

/// Ready when every downstream service reports SERVING and Redis answers PING.
async fn readyz(State(state): State<AppState>) -> Response {
    let (content_ok, ranker_ok, wallet_ok, ads_ok, market_ok, commerce_ok, media_ok) = tokio::join!(
        serving(
            state.content_channel.clone(),
            "loop.content.v1.ContentService"
        ),
        serving(
            state.ranker_channel.clone(),
            "loop.feed_ranking.v1.FeedRankingService"
        ),
        serving(state.wallet_channel.clone(), "loop.wallet.v1.WalletService"),
        serving(
            state.ads_channel.clone(),
            "loop.ads_auction.v1.AdsAuctionService"
        ),
        serving(
            state.market_channel.clone(),
            "loop.creator_marketplace.v1.CreatorMarketplaceService"
        ),
        serving(
            state.commerce_channel.clone(),
            "loop.commerce.v1.CommerceService"
        ),
        async {
            serving(state.media_channel.clone(), "loop.media.v1.MediaService").await
                && playback::key_matches(&state).await
        },
    );
    let redis_ok = {
        let mut conn = state.redis.conn.clone();
        matches!(
            tokio::time::timeout(
                Duration::from_secs(2),
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        )
    };
    let body = serde_json::json!({"content": content_ok, "feed_ranking": ranker_ok, "wallet": wallet_ok, "ads_auction": ads_ok, "creator_marketplace": market_ok, "commerce": commerce_ok, "media": media_ok, "redis": redis_ok});
    let all = [
        content_ok,
        ranker_ok,
        wallet_ok,
        ads_ok,
        market_ok,
        commerce_ok,
        media_ok,
        redis_ok,
    ];
    let status = if all.iter().all(|ok| *ok) {
        http::StatusCode::OK
    } else {
        http::StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// HTTP requests served, by method, route template and status.
static HTTP_REQUESTS: std::sync::LazyLock<prometheus::IntCounterVec> =
    std::sync::LazyLock::new(|| {
        loop_platform::metrics::counter_vec(
            "loop_http_requests_total",
            "HTTP requests served by the gateway, by method, route template and status",
            &["method", "route", "status"],
        )
    });

/// HTTP request latency until the response head.
static HTTP_LATENCY: std::sync::LazyLock<prometheus::HistogramVec> = std::sync::LazyLock::new(
    || {
        loop_platform::metrics::latency_vec(
            "loop_http_request_duration_seconds",
            "HTTP request latency in seconds (until the response head), by method, route template and status",
            &["method", "route", "status"],
        )
    },
);

/// One span per request, child of the client's `traceparent` if any; logs
/// the outcome with latency and counts it in the metrics (by route
/// template; paths no route matched are one `unmatched` series).
async fn request_span(request: Request, next: Next) -> Response {
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let metric_route = matched.clone().unwrap_or_else(|| "unmatched".into());
    let route = matched.unwrap_or_else(|| request.uri().path().to_owned());
    let method = request.method().clone();
    let span = tracing::info_span!("http.request", otel.name = %format!("{method} {route}"), otel.kind = "server", http.method = %method, http.route = %route, http.status = tracing::field::Empty);
    let _ = span.set_parent(loop_platform::telemetry::extract_from_headers(
        request.headers(),
    ));
    let started = Instant::now();
    let response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.record("http.status", status);
    let elapsed = started.elapsed();
    let status_label = status.to_string();
    let labels = [
        method.as_str(),
        metric_route.as_str(),
        status_label.as_str(),
    ];
    HTTP_REQUESTS.with_label_values(&labels).inc();
    HTTP_LATENCY
        .with_label_values(&labels)
        .observe(elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(parent: &span, status, latency_ms, "request failed");
    } else {
        tracing::debug!(parent: &span, status, latency_ms, "request served");
    }
    response
}

/// Per user (or client IP when anonymous), and a stricter per-IP limit on
/// sign-up and login (see [`limits`]).
async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limiter = &state.limiter;
    let path = request.uri().path();
    if !limiter.config().enabled || !path.starts_with("/v1/") {
        return next.run(request).await;
    }
    let ip = limits::client_ip(&request, limiter.config());
    // Logging out is not an authentication attempt: it spends the caller's
    // ordinary budget, not the per-address sign-up/login one.
    let (class, subject, request) = if path.starts_with("/v1/auth/") && path != "/v1/auth/logout" {
        (limits::Class::Auth, format!("auth-ip:{ip}"), request)
    } else {
        let (parts, body) = request.into_parts();
        let who = match extract::authenticate(&parts, &state) {
            Ok(user) => format!("user:{}", user.user_id),
            Err(_) => format!("ip:{ip}"),
        };
        (limits::Class::Api, who, Request::from_parts(parts, body))
    };
    match limiter.check(class, &subject).await {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

/// Connects to Redis and the services, then serves HTTP until `shutdown`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let redis = Redis::connect(&config.redis).await?;
    loop_platform::kafka::ensure_topics(&config.kafka, &[topics::ENGAGEMENT, topics::ADS]).await?;
    let producer = Producer::new(&config.kafka, "loop-gateway")?;
    let content_channel = loop_platform::grpc::channel(&config.services.content_url)?;
    let ranker_channel = loop_platform::grpc::channel(&config.services.feed_ranking_url)?;
    let wallet_channel = loop_platform::grpc::channel(&config.services.wallet_url)?;
    let ads_channel = loop_platform::grpc::channel(&config.services.ads_auction_url)?;
    let market_channel = loop_platform::grpc::channel(&config.services.creator_marketplace_url)?;
    let commerce_channel = loop_platform::grpc::channel(&config.services.commerce_url)?;
    let media_channel = loop_platform::grpc::channel(&config.services.media_url)?;
    let state = AppState {
        content: ContentServiceClient::new(content_channel.clone()),
        content_channel,
        ranker: FeedRankingServiceClient::new(ranker_channel.clone()),
        ranker_channel,
        wallet: WalletServiceClient::new(wallet_channel.clone()),
        wallet_channel,
        ads: AdsAuctionServiceClient::new(ads_channel.clone()),
        ads_channel,
        market: CreatorMarketplaceServiceClient::new(market_channel.clone()),
        market_channel,
        commerce: CommerceServiceClient::new(commerce_channel.clone()),
        commerce_channel,
        keys: config.auth.keys()?,
        limiter: limits::Limiter::new(redis.clone(), config.rate_limit.clone()),
        serve_tokens: Arc::new(serve::ServeTokens::new(&config.serve_tokens)),
        media: MediaServiceClient::new(media_channel.clone()),
        media_channel,
        playback: Arc::new(playback::Signer::new(&config.media)),
        credit_breaker: Arc::default(),
        redis,
        producer: producer.clone(),
        config: Arc::new(config),
        secure_cookies: !loop_platform::config::Environment::current().is_development(),
    };
    let app = router(state);
    tracing::info!(addr = %listener.local_addr()?, "gateway listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    tracing::info!("gateway stopped");
    Ok(())
}

/// `loop-gateway healthcheck`: GET /healthz on the listen address (loopback
/// when it is a wildcard), exit 0 on 200.
pub async fn healthcheck(listen: SocketAddr) -> std::process::ExitCode {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut addr = listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let check = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        std::io::Result::Ok(head.starts_with(b"HTTP/1.1 200"))
    };
    match tokio::time::timeout(Duration::from_secs(3), check).await {
        Ok(Ok(true)) => std::process::ExitCode::SUCCESS,
        other => {
            eprintln!("gateway health check failed: {other:?}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document is built from the resource routers: every operation
    /// once, and each schema name naming one shape (a second type of the
    /// same name would silently replace the first in the document).
    #[test]
    fn the_document_lists_every_operation_and_one_shape_per_schema_name() {
        let (_, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
            .merge(routes::router())
            .split_for_parts();
        let doc = serde_json::to_value(&doc).expect("json");
        let operations: usize = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .map(|item| item.as_object().map_or(0, |m| m.len()))
            .sum();
        assert_eq!(
            operations, 179,
            "a route was added or lost: update the count"
        );
        // Operation ids name one operation each: generated clients (the web
        // client's types) key operations by id, so a repeated id gives one
        // route another's shapes.
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .expect("paths")
            .values()
            .filter_map(|item| item.as_object())
            .flat_map(|m| m.values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        ids.sort_unstable();
        let repeated: Vec<_> = ids
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        assert!(repeated.is_empty(), "repeated operation ids: {repeated:?}");
        let schemas = &doc["components"]["schemas"];
        let returns = |path: &str, method: &str, status: &str| {
            doc["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
                ["$ref"]
                .as_str()
                .unwrap_or_default()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let moderation = returns("/v1/videos/{video_id}/reports", "post", "201");
        assert!(
            schemas[&moderation]["properties"]["report_id"].is_object(),
            "{moderation}"
        );
        let ads = returns("/v1/ads/reports", "get", "200");
        assert!(schemas[&ads]["properties"]["rows"].is_object(), "{ads}");
        let share = returns("/v1/videos/{video_id}/share", "post", "200");
        assert!(
            schemas[&share]["properties"]["share_count"].is_object(),
            "{share}"
        );
    }

    #[test]
    fn every_service_url_is_validated_by_name() {
        let mut config = Config::default();
        assert!(config.validate().is_empty());
        config.services.feed_ranking_url = "feed-ranking:50062".into();
        config.services.content_url = "http://".into();
        config.services.ads_auction_url = "ads-auction:50063".into();
        let problems = config.validate();
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("services.feed_ranking_url")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("services.content_url")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("services.ads_auction_url")),
            "{problems:?}"
        );
    }
}
