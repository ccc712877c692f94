//! Layered configuration: defaults in code, then an optional TOML file, then
//! environment variables `LOOP_<SVC>__<KEY>` (nested keys joined by `__`, e.g.
//! `LOOP_CONTENT__DATABASE__URL`). Unknown keys and invalid values refuse
//! start-up with a message naming the key.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A configuration value that must never be printed (passwords, signing keys).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub const fn new(value: T) -> Self {
        Self(value)
    }
    /// The secret itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Checks a loaded configuration; returns every problem found, each naming its key.
pub trait Validate {
    fn validate(&self) -> Vec<String>;

    /// The keys (`auth.signing_key`, `payments.test_provider_enabled`, ...)
    /// still at a development convenience: a well-known key or password,
    /// test receipts, raised limits. [`load`] refuses each of them unless the
    /// environment says development.
    fn development_only(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Where a service runs, from `LOOP_ENV`. Only the exact value
/// `development` turns development conveniences on; unset, `production` or
/// anything else is production, so a deployment that forgets the variable is
/// safe rather than open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub const VAR: &'static str = "LOOP_ENV";

    pub fn current() -> Self {
        match std::env::var(Self::VAR).as_deref() {
            Ok("development") => Self::Development,
            _ => Self::Production,
        }
    }

    pub fn is_development(self) -> bool {
        self == Self::Development
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Parse(String),
    #[error("invalid configuration:\n  - {}", .0.join("\n  - "))]
    Invalid(Vec<String>),
}

/// The env prefix of a service: `feed-ranking` -> `LOOP_FEED_RANKING__`.
pub fn env_prefix(service: &str) -> String {
    format!("LOOP_{}__", service.to_uppercase().replace('-', "_"))
}

/// Loads `T` for `service`: defaults, then `file` (when given), then the
/// environment. Fails on unknown keys (structs use `deny_unknown_fields`),
/// on values of the wrong type, and on anything [`Validate`] reports.
pub fn load<T>(service: &str, file: Option<&Path>) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned + Validate,
{
    load_from(
        service,
        file,
        Env::prefixed(&env_prefix(service)).split("__"),
        Environment::current(),
    )
}

/// Like [`load`] but with an explicit environment provider (tests use
/// `figment::Jail` or a custom `Env`) and environment.
pub fn load_from<T>(
    service: &str,
    file: Option<&Path>,
    env: Env,
    environment: Environment,
) -> Result<T, ConfigError>
where
    T: Default + Serialize + DeserializeOwned + Validate,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::Parse(format!(
                "config file {} does not exist",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    let value: T = figment
        .merge(env)
        .extract()
        .map_err(|e| ConfigError::Parse(describe_figment_error(service, e)))?;
    let mut problems = value.validate();
    if !environment.is_development() {
        let prefix = env_prefix(service);
        problems.extend(value.development_only().into_iter().map(|key| {
            let env_key = format!("{prefix}{}", key.replace('.', "__").to_uppercase());
            format!(
                "{key} (env {env_key}): still the development default, accepted only when \
                 LOOP_ENV=development; set a real value (docs/security.md)"
            )
        }));
    }
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

fn describe_figment_error(service: &str, err: figment::Error) -> String {
    let prefix = env_prefix(service);
    err.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let env_key = format!("{prefix}{}", e.path.join("__").to_uppercase());
            if key.is_empty() {
                e.kind.to_string()
            } else {
                format!("{key} (env {env_key}): {}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Checks that `url` (config key `key`) is an http(s):// URL of a service.
pub fn validate_service_url(key: &str, url: &str, problems: &mut Vec<String>) {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    if rest.is_none_or(str::is_empty) {
        problems.push(format!("{key}: must be an http(s):// URL"));
    }
}

/// Where a gRPC server listens.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GrpcServerConfig {
    pub listen_addr: SocketAddr,
}

/// A PostgreSQL database.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: Secret<String>,
    pub max_connections: u32,
    /// Run the service's migrations at start-up.
    pub migrate: bool,
}

impl DatabaseConfig {
    pub fn local(database: &str) -> Self {
        Self {
            url: Secret::new(format!("postgres://postgres@127.0.0.1:5432/{database}")),
            max_connections: 16,
            migrate: true,
        }
    }

    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if !self.url.expose().starts_with("postgres://")
            && !self.url.expose().starts_with("postgresql://")
        {
            problems.push("database.url: must be a postgres:// URL".into());
        }
        if self.max_connections == 0 || self.max_connections > 1000 {
            problems.push("database.max_connections: must be 1..=1000".into());
        }
    }
}

/// A Redis server and the prefix of every key this deployment writes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    pub url: Secret<String>,
    pub key_prefix: String,
    /// How long one command may take before it fails.
    pub response_timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: Secret::new("redis://127.0.0.1:6379".into()),
            key_prefix: "loop:".into(),
            response_timeout_ms: 3000,
        }
    }
}

impl RedisConfig {
    pub fn validate_into(&self, problems: &mut Vec<String>) {
        let url = self.url.expose();
        if !url.starts_with("redis://") && !url.starts_with("rediss://") {
            problems.push("redis.url: must be a redis:// URL".into());
        }
        if !(10..=60_000).contains(&self.response_timeout_ms) {
            problems.push("redis.response_timeout_ms: must be 10..=60000".into());
        }
    }
}

/// Kafka brokers and topic naming.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated host:port list.
    pub brokers: String,
    /// Prepended to every topic name (isolates test runs and environments).
    pub topic_prefix: String,
    /// Partitions for topics this service creates.
    pub partitions: i32,
    pub replication_factor: i32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: String::new(),
            partitions: 6,
            replication_factor: 1,
        }
    }
}

impl KafkaConfig {
    /// The full name of a logical topic such as `content.v1`.
    pub fn topic(&self, logical: &str) -> String {
        format!("{}{}", self.topic_prefix, logical)
    }

    pub fn validate_into(&self, problems: &mut Vec<String>) {
        if self.brokers.trim().is_empty() {
            problems.push("kafka.brokers: must not be empty".into());
        }
        if !(1..=1024).contains(&self.partitions) {
            problems.push("kafka.partitions: must be 1..=1024".into());
        }
        if !(1..=16).contains(&self.replication_factor) {
            problems.push("kafka.replication_factor: must be 1..=16".into());
        }
        if self
            .topic_prefix
            .chars()
            .any(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            problems.push("kafka.topic_prefix: only [A-Za-z0-9._-] allowed".into());
        }
    }
}

/// Logs and traces.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// OTLP/gRPC collector endpoint (`http://127.0.0.1:4317`); traces are only
    /// exported when set.
    pub otlp_endpoint: Option<String>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// Default filter when `RUST_LOG` is unset.
    pub log_filter: Option<String>,
    /// Where the binary serves Prometheus `GET /metrics` (each service has
    /// its own default, 9460 + n). Only the binary listens: services started
    /// in-process by tests do not.
    pub metrics_listen_addr: Option<SocketAddr>,
}

impl TelemetryConfig {
    /// The defaults with `/metrics` on 127.0.0.1:`port`.
    pub fn with_metrics_port(port: u16) -> Self {
        Self {
            metrics_listen_addr: Some(SocketAddr::from(([127, 0, 0, 1], port))),
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Keys of the tokens this service verifies and, when it calls other
/// services (or, for the gateway, logs users in), the key it signs with.
/// See [`crate::auth`] and docs/security.md.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// This service's private Ed25519 key as a private JWK
    /// (`{"kty":"OKP","crv":"Ed25519","kid":"<service>:<label>","x":..,"d":..}`;
    /// `loopctl keys generate <service>` makes one). Empty for a service that
    /// never signs.
    pub signing_key: Secret<String>,
    /// The public keys this service accepts, as a JWKS document
    /// (`{"keys":[...]}`): the gateway's (user tokens) and each calling
    /// service's. List old and new keys together while rotating.
    pub trusted_keys: String,
}

impl AuthConfig {
    /// The development keys, signing as `issuer`: accepted only when
    /// `LOOP_ENV=development` (see [`Validate::development_only`]).
    pub fn development(issuer: &str) -> Self {
        let key = crate::auth::SigningKey::development(issuer);
        Self {
            signing_key: Secret::new(serde_json::to_string(&key.private_jwk()).unwrap_or_default()),
            trusted_keys: serde_json::to_string(&crate::auth::development_jwks())
                .unwrap_or_default(),
        }
    }

    /// The development trusted keys and no signing key: for a service that
    /// never calls another on its own behalf.
    pub fn development_verifier() -> Self {
        Self {
            signing_key: Secret::new(String::new()),
            ..Self::development(crate::auth::USER_ISSUER)
        }
    }

    /// The keys this configuration names (checked by [`Self::validate_into`]).
    pub fn keys(&self) -> anyhow::Result<crate::auth::JwtKeys> {
        let verifier = crate::auth::Verifier::parse(&self.trusted_keys)
            .map_err(|e| anyhow::anyhow!("auth.trusted_keys: {e}"))?;
        let signer = if self.signing_key.expose().trim().is_empty() {
            None
        } else {
            Some(
                crate::auth::SigningKey::parse(self.signing_key.expose())
                    .map_err(|e| anyhow::anyhow!("auth.signing_key: {e}"))?,
            )
        };
        Ok(crate::auth::JwtKeys::new(verifier, signer))
    }

    /// `issuer` is the service's own name; `signs` whether it needs a
    /// signing key (it calls other services, or is the gateway).
    pub fn validate_into(&self, issuer: &str, signs: bool, problems: &mut Vec<String>) {
        match crate::auth::Verifier::parse(&self.trusted_keys) {
            Err(e) => problems.push(format!("auth.trusted_keys: {e}")),
            Ok(v) if v.is_empty() => {
                problems.push("auth.trusted_keys: must list at least one key".into())
            }
            Ok(_) => {}
        }
        let key = self.signing_key.expose().trim();
        if key.is_empty() {
            if signs {
                problems.push(format!(
                    "auth.signing_key: required ({issuer} signs its own service tokens; `loopctl keys generate {issuer}` makes one)"
                ));
            }
        } else {
            match crate::auth::SigningKey::parse(key) {
                Err(e) => problems.push(format!("auth.signing_key: {e}")),
                Ok(k) if k.issuer() != issuer => problems.push(format!(
                    "auth.signing_key: the key's kid names issuer {}, this service is {issuer}",
                    k.issuer()
                )),
                Ok(_) => {}
            }
        }
    }

    /// The settings still holding a development key (compared by key
    /// material, whatever the kid says).
    pub fn development_only(&self, out: &mut Vec<String>) {
        let dev = crate::auth::development_jwks();
        let is_dev = |x: &str| dev.keys.iter().any(|k| k.x == x);
        if crate::auth::SigningKey::parse(self.signing_key.expose())
            .is_ok_and(|k| is_dev(&k.public_jwk().x))
        {
            out.push("auth.signing_key".into());
        }
        let trusted: Result<crate::auth::JwkSet, _> = serde_json::from_str(&self.trusted_keys);
        if trusted.is_ok_and(|set| set.keys.iter().any(|k| is_dev(&k.x))) {
            out.push("auth.trusted_keys".into());
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Demo {
        grpc: GrpcServerConfig,
        kafka: KafkaConfig,
        auth: AuthConfig,
    }

    impl Default for Demo {
        fn default() -> Self {
            Self {
                grpc: GrpcServerConfig {
                    listen_addr: "127.0.0.1:50051".parse().expect("static addr"),
                },
                kafka: KafkaConfig::default(),
                auth: AuthConfig::development("content"),
            }
        }
    }

    impl Validate for Demo {
        fn validate(&self) -> Vec<String> {
            let mut p = Vec::new();
            self.kafka.validate_into(&mut p);
            self.auth.validate_into("content", true, &mut p);
            p
        }

        fn development_only(&self) -> Vec<String> {
            let mut out = Vec::new();
            self.auth.development_only(&mut out);
            out
        }
    }

    fn demo_env() -> Env {
        Env::prefixed("LOOP_DEMO_SVC__").split("__")
    }

    #[test]
    fn defaults_file_then_env_override_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "demo.toml",
                "[kafka]\nbrokers = \"file:9092\"\npartitions = 3\n",
            )?;
            jail.set_env("LOOP_DEMO_SVC__KAFKA__PARTITIONS", "12");
            let cfg: Demo = load_from(
                "demo-svc",
                Some(Path::new("demo.toml")),
                demo_env(),
                Environment::Development,
            )
            .expect("loads");
            assert_eq!(cfg.kafka.brokers, "file:9092");
            assert_eq!(cfg.kafka.partitions, 12);
            assert_eq!(cfg.grpc.listen_addr.port(), 50051);
            Ok(())
        });
    }

    #[test]
    fn unknown_env_key_is_refused_with_its_name() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOOP_DEMO_SVC__KAFKA__BROKERZ", "x");
            let err = load::<Demo>("demo-svc", None).expect_err("unknown key");
            assert!(err.to_string().contains("brokerz"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn invalid_values_are_listed() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOOP_DEMO_SVC__KAFKA__PARTITIONS", "0");
            jail.set_env("LOOP_DEMO_SVC__AUTH__SIGNING_KEY", "short");
            let err = load_from::<Demo>("demo-svc", None, demo_env(), Environment::Development)
                .expect_err("invalid");
            let text = err.to_string();
            assert!(text.contains("kafka.partitions"), "{text}");
            assert!(text.contains("auth.signing_key"), "{text}");
            Ok(())
        });
    }

    #[test]
    fn wrong_type_names_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOOP_DEMO_SVC__GRPC__LISTEN_ADDR", "not-an-addr");
            let err = load::<Demo>("demo-svc", None).expect_err("bad addr");
            assert!(err.to_string().contains("grpc.listen_addr"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn development_keys_are_refused_outside_development_by_name() {
        figment::Jail::expect_with(|_jail| {
            let err = load_from::<Demo>("demo-svc", None, demo_env(), Environment::Production)
                .expect_err("dev keys in production");
            let text = err.to_string();
            assert!(
                text.contains("auth.signing_key (env LOOP_DEMO_SVC__AUTH__SIGNING_KEY)"),
                "{text}"
            );
            assert!(
                text.contains("auth.trusted_keys (env LOOP_DEMO_SVC__AUTH__TRUSTED_KEYS)"),
                "{text}"
            );
            Ok(())
        });
    }

    #[test]
    fn real_keys_load_from_the_environment_as_json() {
        figment::Jail::expect_with(|jail| {
            let key = crate::auth::SigningKey::generate("content", "k1").expect("key");
            let jwks = crate::auth::JwkSet {
                keys: vec![key.public_jwk()],
            };
            jail.set_env(
                "LOOP_DEMO_SVC__AUTH__SIGNING_KEY",
                serde_json::to_string(&key.private_jwk()).expect("json"),
            );
            jail.set_env(
                "LOOP_DEMO_SVC__AUTH__TRUSTED_KEYS",
                serde_json::to_string(&jwks).expect("json"),
            );
            let cfg: Demo = load_from("demo-svc", None, demo_env(), Environment::Production)
                .expect("real keys load in production");
            let keys = cfg.auth.keys().expect("keys");
            let token = keys.service_token(std::time::Duration::from_secs(60));
            assert_eq!(
                keys.verify(&token).expect("verifies").sub,
                "service:content"
            );
            Ok(())
        });
    }

    #[test]
    fn only_the_exact_word_development_is_development() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("LOOP_ENV", "");
            assert_eq!(Environment::current(), Environment::Production);
            jail.set_env("LOOP_ENV", "dev");
            assert_eq!(Environment::current(), Environment::Production);
            jail.set_env("LOOP_ENV", "development");
            assert_eq!(Environment::current(), Environment::Development);
            Ok(())
        });
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2".to_string());
        assert_eq!(format!("{s:?}"), "Secret(***)");
    }
}
