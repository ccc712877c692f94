//! Redis: one multiplexed, auto-reconnecting connection per service, and the
//! key prefix that isolates deployments and tests.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::config::RedisConfig;

/// A Redis connection and the prefix every key must carry.
#[derive(Clone)]
pub struct Redis {
    pub conn: ConnectionManager,
    pub prefix: String,
}

impl Redis {
    pub async fn connect(config: &RedisConfig) -> anyhow::Result<Self> {
        let client = redis::Client::open(config.url.expose().as_str())?;
        let manager = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_millis(config.response_timeout_ms)))
            .set_connection_timeout(Some(Duration::from_secs(3)));
        let conn = ConnectionManager::new_with_config(client, manager).await?;
        Ok(Self {
            conn,
            prefix: config.key_prefix.clone(),
        })
    }

    /// `prefix` + `key`.
    pub fn key(&self, key: &str) -> String {
        self.key_of(&[key])
    }

    /// `prefix` + the parts joined, in one allocation (hot paths build
    /// thousands of keys a second; `format!` costs several times more).
    pub fn key_of(&self, parts: &[&str]) -> String {
        let len = self.prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut key = String::with_capacity(len);
        key.push_str(&self.prefix);
        for part in parts {
            key.push_str(part);
        }
        key
    }

    /// A handle on the same connection with another prefix (replay into a fresh prefix).
    pub fn with_prefix(&self, prefix: &str) -> Self {
        Self {
            conn: self.conn.clone(),
            prefix: prefix.to_owned(),
        }
    }
}
