//! The simulator's HTTP client: every call goes through the gateway's public
//! API, waits for the global rate limiter, and is recorded per endpoint
//! (route template, not the concrete path) with its latency and status.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reqwest::Method;
use serde_json::Value;

/// Latencies (ms) and statuses of one endpoint.
#[derive(Default, Clone)]
pub struct EndpointStats {
    pub latencies_ms: Vec<f64>,
    pub statuses: BTreeMap<u16, u64>,
    /// Transport failures (no HTTP status).
    pub failures: u64,
}

#[derive(Default)]
pub struct Recorder {
    pub endpoints: Mutex<BTreeMap<String, EndpointStats>>,
}

impl Recorder {
    fn record(&self, endpoint: &str, elapsed: Duration, status: Option<u16>) {
        let mut endpoints = self.endpoints.lock();
        let stats = endpoints.entry(endpoint.to_owned()).or_default();
        stats.latencies_ms.push(elapsed.as_secs_f64() * 1000.0);
        match status {
            Some(s) => *stats.statuses.entry(s).or_default() += 1,
            None => stats.failures += 1,
        }
    }

    /// (requests, errors: 4xx/5xx/transport) so far.
    pub fn totals(&self) -> (u64, u64) {
        let endpoints = self.endpoints.lock();
        let mut requests = 0;
        let mut errors = 0;
        for s in endpoints.values() {
            requests += s.latencies_ms.len() as u64;
            errors += s.failures
                + s.statuses
                    .iter()
                    .filter(|(code, _)| **code >= 400)
                    .map(|(_, n)| n)
                    .sum::<u64>();
        }
        (requests, errors)
    }
}

/// A token bucket shared by every simulated client: at most `rate` requests
/// per second overall (bursts up to one second's worth).
pub struct RateLimiter {
    rate: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            state: Mutex::new((rate, Instant::now())),
        }
    }

    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut state = self.state.lock();
                let (tokens, last) = *state;
                let now = Instant::now();
                let tokens =
                    (tokens + now.duration_since(last).as_secs_f64() * self.rate).min(self.rate);
                if tokens >= 1.0 {
                    *state = (tokens - 1.0, now);
                    return;
                }
                *state = (tokens, now);
                Duration::from_secs_f64((1.0 - tokens) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    pub recorder: Arc<Recorder>,
    limiter: Arc<RateLimiter>,
}

/// A response: status (0 when the request failed in transport) and JSON body.
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Api {
    pub fn new(base: &str, rate: f64) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .pool_max_idle_per_host(256)
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            recorder: Arc::default(),
            limiter: Arc::new(RateLimiter::new(rate)),
        })
    }

    /// Calls `path` (recorded as `endpoint`, e.g. `POST /v1/videos/{id}/like`).
    pub async fn call(
        &self,
        endpoint: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Reply {
        self.limiter.acquire().await;
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = idempotency_key {
            req = req.header("idempotency-key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let started = Instant::now();
        let reply = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                Reply {
                    status,
                    body: serde_json::from_str(&text).unwrap_or(Value::Null),
                }
            }
            Err(_) => {
                // Counted as a transport failure of the endpoint.
                Reply {
                    status: 0,
                    body: Value::Null,
                }
            }
        };
        self.recorder.record(
            endpoint,
            started.elapsed(),
            (reply.status != 0).then_some(reply.status),
        );
        reply
    }

    /// A tus PATCH: `bytes` appended at `offset` of the upload at `path`
    /// (rate-limited and recorded like `call`).
    pub async fn patch_bytes(
        &self,
        endpoint: &str,
        path: &str,
        token: &str,
        offset: u64,
        bytes: Vec<u8>,
    ) -> Reply {
        self.limiter.acquire().await;
        let started = Instant::now();
        let sent = self
            .http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(bytes)
            .send()
            .await;
        let reply = match sent {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                Reply {
                    status,
                    body: serde_json::from_str(&text).unwrap_or(Value::Null),
                }
            }
            Err(_) => Reply {
                status: 0,
                body: Value::Null,
            },
        };
        self.recorder.record(
            endpoint,
            started.elapsed(),
            (reply.status != 0).then_some(reply.status),
        );
        reply
    }

    /// The body of a signed media URL (no token: the signature is the
    /// credential); not recorded (playback checks after traffic).
    pub async fn fetch_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await?;
        if !resp.status().is_success() {
            anyhow::bail!("GET {path}: HTTP {}", resp.status());
        }
        Ok(resp.bytes().await?.to_vec())
    }

    pub async fn fetch_text(&self, path: &str) -> anyhow::Result<String> {
        Ok(String::from_utf8(self.fetch_bytes(path).await?)?)
    }

    pub async fn get(&self, endpoint: &str, path: &str, token: &str) -> Reply {
        self.call(endpoint, Method::GET, path, Some(token), None, None)
            .await
    }

    pub async fn post(
        &self,
        endpoint: &str,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> Reply {
        self.call(endpoint, Method::POST, path, token, Some(body), None)
            .await
    }
}
