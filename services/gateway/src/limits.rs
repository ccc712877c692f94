//! Rate limits that hold in production.
//!
//! - **Who**: an authenticated caller by user id; anyone else by client IP,
//!   which is the TCP peer unless `rate_limit.client_ip_header` names the
//!   header a trusted load balancer sets. Then the address is the one the
//!   nearest `trusted_proxy_hops` proxies appended (the rightmost entries of
//!   `X-Forwarded-For`), never one the client wrote itself.
//! - **How**: a fixed one-minute window per subject in Redis (`INCR` then
//!   `EXPIRE`, the rate-limiter pattern of Redis' `INCR` documentation),
//!   shared by every gateway replica.
//! - **When Redis is down**: each check waits at most `redis_timeout_ms`, and
//!   after a failure Redis is skipped for a second, so no request waits on a
//!   dead Redis; meanwhile an in-process limiter (`governor`, GCRA) with the
//!   same quotas decides, per replica. Limits never fail open.
//! - **Logins** are also throttled per account: after
//!   `login_free_attempts` failures in 15 minutes the handle is locked for
//!   30 s, and each further failure doubles the lock (60 s, 120 s ... at most
//!   15 minutes); a success clears the count.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use loop_platform::cache::Redis;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Requests per minute per authenticated user (per IP when anonymous).
    pub per_user_per_minute: u32,
    /// Sign-up and login attempts per minute per client IP.
    pub auth_per_ip_per_minute: u32,
    /// Engagement events (`POST /v1/events`) per minute per user: far above
    /// what a person scrolling makes, far below a script.
    pub events_per_user_per_minute: u32,
    /// Failed logins of one handle before it is locked with backoff.
    pub login_free_attempts: u32,
    /// Header carrying the client address, set by a trusted load balancer
    /// (`x-forwarded-for`); empty: the TCP peer is the client.
    pub client_ip_header: String,
    /// How many trusted proxies append to that header: the client is the
    /// entry this far from the right.
    pub trusted_proxy_hops: u32,
    /// Longest wait for Redis per check before the in-process limiter decides.
    pub redis_timeout_ms: u64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_user_per_minute: 1200,
            auth_per_ip_per_minute: 60,
            events_per_user_per_minute: 600,
            login_free_attempts: 5,
            client_ip_header: String::new(),
            trusted_proxy_hops: 1,
            redis_timeout_ms: 250,
        }
    }
}

impl RateLimitConfig {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if self.per_user_per_minute == 0
            || self.auth_per_ip_per_minute == 0
            || self.events_per_user_per_minute == 0
            || self.login_free_attempts == 0
        {
            problems.push("rate_limit: limits must be positive (set rate_limit.enabled=false to turn limiting off)".into());
        }
        if !self.client_ip_header.is_empty()
            && http::HeaderName::from_bytes(self.client_ip_header.as_bytes()).is_err()
        {
            problems.push("rate_limit.client_ip_header: not a valid header name".into());
        }
        if !(1..=10).contains(&self.trusted_proxy_hops) {
            problems.push("rate_limit.trusted_proxy_hops: must be 1..=10".into());
        }
        if !(5..=2000).contains(&self.redis_timeout_ms) {
            problems.push("rate_limit.redis_timeout_ms: must be 5..=2000".into());
        }
    }
}

/// The client's address as this deployment can vouch for it.
pub fn client_ip(request: &Request, config: &RateLimitConfig) -> String {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    client_ip_from(request.headers(), peer, config)
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn client_ip_from(
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    config: &RateLimitConfig,
) -> Option<IpAddr> {
    if config.client_ip_header.is_empty() {
        return peer;
    }
    // Every occurrence of the header, in order, as one comma-separated list.
    let entries: Vec<&str> = headers
        .get_all(config.client_ip_header.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let hops = usize::try_from(config.trusted_proxy_hops).unwrap_or(1);
    entries
        .len()
        .checked_sub(hops)
        .and_then(|i| entries.get(i))
        .and_then(|e| e.parse().ok())
        // Not behind the proxy after all (or it misbehaved): the peer.
        .or(peer)
}

/// Which limit a check counts against.
#[derive(Clone, Copy, Debug)]
pub enum Class {
    /// Any API call, per user or anonymous IP.
    Api,
    /// Sign-up and login, per IP.
    Auth,
    /// Engagement events, per user (counted per event, not per request).
    Events,
}

pub struct Limiter {
    redis: Redis,
    config: RateLimitConfig,
    api: DefaultKeyedRateLimiter<String>,
    auth: DefaultKeyedRateLimiter<String>,
    events: DefaultKeyedRateLimiter<String>,
    /// Login attempts of one handle while Redis (which holds the locks) is down.
    login: DefaultKeyedRateLimiter<String>,
    /// Redis is not tried for a second after a failure.
    breaker: Breaker,
}

/// Skips a dependency for a second after it failed, so a dead Redis costs
/// one timeout a second, not one per request.
#[derive(Debug, Default)]
pub struct Breaker {
    /// Unix seconds until which the dependency is not tried.
    open_until: AtomicI64,
}

impl Breaker {
    pub fn is_open(&self) -> bool {
        now_secs() < self.open_until.load(Ordering::Relaxed)
    }

    pub fn trip(&self) {
        self.open_until.store(now_secs() + 1, Ordering::Relaxed);
    }
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Limiter {
    pub fn new(redis: Redis, config: RateLimitConfig) -> Arc<Self> {
        let limiter = Arc::new(Self {
            api: RateLimiter::keyed(per_minute(config.per_user_per_minute)),
            auth: RateLimiter::keyed(per_minute(config.auth_per_ip_per_minute)),
            events: RateLimiter::keyed(per_minute(config.events_per_user_per_minute)),
            login: RateLimiter::keyed(per_minute(config.login_free_attempts)),
            redis,
            config,
            breaker: Breaker::default(),
        });
        // Keys of the in-process limiters are forgotten once their quota has
        // refilled, so the maps stay as small as the last minute's callers.
        let weak = Arc::downgrade(&limiter);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(l) = weak.upgrade() else { break };
                for map in [&l.api, &l.auth, &l.events, &l.login] {
                    map.retain_recent();
                    map.shrink_to_fit();
                }
            }
        });
        limiter
    }

    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    fn quota(&self, class: Class) -> u32 {
        match class {
            Class::Api => self.config.per_user_per_minute,
            Class::Auth => self.config.auth_per_ip_per_minute,
            Class::Events => self.config.events_per_user_per_minute,
        }
    }

    fn local(&self, class: Class) -> &DefaultKeyedRateLimiter<String> {
        match class {
            Class::Api => &self.api,
            Class::Auth => &self.auth,
            Class::Events => &self.events,
        }
    }

    /// Runs a Redis command with the limiter's deadline, skipping Redis
    /// for a second after a failure; `None` means "decide without Redis".
    async fn redis<T: redis::FromRedisValue>(&self, cmd: &redis::Pipeline) -> Option<T> {
        if self.breaker.is_open() {
            return None;
        }
        let mut conn = self.redis.conn.clone();
        let timeout = Duration::from_millis(self.config.redis_timeout_ms);
        match tokio::time::timeout(timeout, cmd.query_async::<T>(&mut conn)).await {
            Ok(Ok(value)) => Some(value),
            outcome => {
                let error = match outcome {
                    Ok(Err(err)) => err.to_string(),
                    _ => "timed out".into(),
                };
                tracing::warn!(%error, "rate limiter: Redis unavailable; limiting in process");
                self.breaker.trip();
                None
            }
        }
    }

    /// Counts one request of `subject` against `class`; `Err` is the 429.
    pub async fn check(&self, class: Class, subject: &str) -> Result<(), ApiError> {
        self.check_n(class, subject, 1).await
    }

    /// Counts `n` units (events of a batch) of `subject` against `class`.
    pub async fn check_n(&self, class: Class, subject: &str, n: usize) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX).max(1);
        let now = now_secs();
        let window = now / 60;
        let key = self
            .redis
            .key_of(&["ratelimit:", subject, ":", &window.to_string()]);
        let mut pipe = redis::pipe();
        pipe.atomic().incr(&key, n).expire(&key, 120).ignore();
        let allowed = match self.redis::<(i64,)>(&pipe).await {
            Some((count,)) => count <= i64::from(self.quota(class)),
            None => NonZeroU32::new(n).is_some_and(|n| {
                matches!(
                    self.local(class).check_key_n(&subject.to_owned(), n),
                    Ok(Ok(()))
                )
            }),
        };
        if allowed {
            Ok(())
        } else {
            Err(too_many("too many requests", 60 - now % 60))
        }
    }

    /// Refuses a login of `handle` while it is locked.
    pub async fn login_allowed(&self, handle: &str) -> Result<(), ApiError> {
        let key = self.redis.key_of(&["login:lock:", handle]);
        let mut pipe = redis::pipe();
        pipe.ttl(&key);
        match self.redis::<(i64,)>(&pipe).await {
            Some((ttl,)) if ttl > 0 => {
                Err(too_many("too many failed logins for this account", ttl))
            }
            Some(_) => Ok(()),
            // Without Redis: a plain per-handle quota in this replica.
            None => self
                .login
                .check_key(&handle.to_owned())
                .map_err(|_| too_many("too many failed logins for this account", 60)),
        }
    }

    /// Records a failed login of `handle`; locks it once past the free attempts.
    pub async fn login_failed(&self, handle: &str) {
        let fails = self.redis.key_of(&["login:fails:", handle]);
        let mut pipe = redis::pipe();
        pipe.atomic().incr(&fails, 1).expire(&fails, 900).ignore();
        let Some((count,)) = self.redis::<(i64,)>(&pipe).await else {
            return;
        };
        let over = count - i64::from(self.config.login_free_attempts);
        if over >= 0 {
            let secs = 30_i64 << over.min(5);
            let lock = self.redis.key_of(&["login:lock:", handle]);
            let mut pipe = redis::pipe();
            pipe.set_ex(&lock, 1, u64::try_from(secs.min(900)).unwrap_or(900))
                .ignore();
            let _: Option<()> = self.redis(&pipe).await;
        }
    }

    /// Clears `handle`'s failures after a successful login.
    pub async fn login_succeeded(&self, handle: &str) {
        let mut pipe = redis::pipe();
        pipe.del(self.redis.key_of(&["login:fails:", handle]))
            .ignore()
            .del(self.redis.key_of(&["login:lock:", handle]))
            .ignore();
        let _: Option<()> = self.redis(&pipe).await;
    }
}

fn too_many(message: &str, retry_after_secs: i64) -> ApiError {
    let mut err = ApiError::new(
        http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("{message}; retry in {} s", retry_after_secs.max(1)),
    );
    err.retry_after = Some(u64::try_from(retry_after_secs.max(1)).unwrap_or(1));
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn the_client_is_what_the_trusted_proxies_appended() {
        let peer = Some(IpAddr::from([10, 0, 0, 9]));
        let mut config = RateLimitConfig::default();
        // No header configured: the peer, whatever the client claims.
        assert_eq!(client_ip_from(&headers(&["1.2.3.4"]), peer, &config), peer);
        config.client_ip_header = "x-forwarded-for".into();
        // The client's own (forged) entries come first; the proxy appends
        // the real address last.
        let spoofed = headers(&["6.6.6.6, 7.7.7.7", "203.0.113.5"]);
        assert_eq!(
            client_ip_from(&spoofed, peer, &config),
            Some(IpAddr::from([203, 0, 113, 5]))
        );
        config.trusted_proxy_hops = 2;
        assert_eq!(
            client_ip_from(
                &headers(&["6.6.6.6, 198.51.100.7, 10.1.1.1"]),
                peer,
                &config
            ),
            Some(IpAddr::from([198, 51, 100, 7]))
        );
        // Missing or garbage: the peer.
        assert_eq!(client_ip_from(&headers(&[]), peer, &config), peer);
        assert_eq!(
            client_ip_from(&headers(&["x, not-an-ip"]), peer, &config),
            peer
        );
    }
}
