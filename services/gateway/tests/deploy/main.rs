//! The deploy files agree with the code (no Docker engine or cluster needed:
//! the files are parsed).
//!
//! For every crate under `services/` with a binary: `docker-compose.yml` has
//! a service built from `deploy/Dockerfile` with `SERVICE=<name>`, the
//! kustomize base a Deployment, Service and ServiceAccount, the dev overlay an
//! image, `deploy/prometheus.yml` a scrape target. Every `LOOP_<SVC>__...`
//! variable compose and the manifests set is loaded the way the service loads
//! it (defaults, then these variables; unknown keys are refused, values are
//! type-checked and validated), no `127.0.0.1` default survives in a
//! container, ports agree with the service's defaults, and every service URL
//! names a service on its port. Services are discovered from the directory:
//! a new one fails here until it is deployed and listed in [`config_of`].
//!
//! One module per deploy file (compose, dockerfile, k8s, prometheus, the
//! README's service table) plus the config loader's own checks; the
//! loader and the shared readers live here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;
use loop_platform::config::{Validate, env_prefix};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

mod compose;
mod config;
mod dockerfile;
mod k8s;
mod prometheus;
mod readme;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn yaml(path: &str) -> Yaml {
    let mut value: Yaml =
        serde_yaml_ng::from_str(&read(path)).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    value
        .apply_merge()
        .unwrap_or_else(|e| panic!("merge keys in {path}: {e}"));
    value
}

fn yaml_docs(text: &str, what: &str) -> Vec<Yaml> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| {
            <Yaml as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("parsing {what}: {e}"))
        })
        .filter(|doc| !doc.is_null())
        .collect()
}

fn s(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// Service crates with a binary (`services/<name>/src/main.rs`).
fn services() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("services"))
        .expect("services/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("src/main.rs").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Loads a service's config from its defaults and `vars`, the way the
/// binary does from its environment; returns it as JSON.
fn load<C>(service: &str, vars: &[(String, String)], development: bool) -> Result<Json, String>
where
    C: Default + Serialize + DeserializeOwned + Validate,
{
    let prefix = env_prefix(service);
    let mut figment = Figment::from(Serialized::defaults(C::default()));
    for (name, value) in vars {
        let key = name
            .strip_prefix(&prefix)
            .ok_or_else(|| format!("{name}: not a {prefix} variable"))?
            .to_lowercase()
            .replace("__", ".");
        let value: figment::value::Value = value.parse().unwrap_or_else(|e| match e {});
        figment = figment.merge(Serialized::defaults(figment::util::nest(&key, value)));
    }
    let config: C = figment.extract().map_err(|e| {
        e.into_iter()
            .map(|e| format!("{} ({})", e.path.join("."), e.kind))
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    let mut problems = config.validate();
    if !development {
        // What the binary refuses outside LOOP_ENV=development.
        problems.extend(
            config
                .development_only()
                .into_iter()
                .map(|key| format!("{key}: a development default outside development")),
        );
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    serde_json::to_value(&config).map_err(|e| e.to_string())
}

/// The config type of each service crate. A new service needs a line here
/// (and its crate in the gateway's dev-dependencies).
fn config_of(service: &str, vars: &[(String, String)]) -> Result<Json, String> {
    // LOOP_ENV as the container sees it (unset is production).
    let development = vars
        .iter()
        .any(|(k, v)| k == "LOOP_ENV" && v == "development");
    let vars: Vec<(String, String)> = vars
        .iter()
        .filter(|(k, _)| k != "LOOP_ENV")
        .cloned()
        .collect();
    let vars = vars.as_slice();
    match service {
        "content" => load::<loop_content::Config>(service, vars, development),
        "feed-ranking" => load::<loop_feed_ranking::Config>(service, vars, development),
        "wallet" => load::<loop_wallet::Config>(service, vars, development),
        "ads-auction" => load::<loop_ads_auction::Config>(service, vars, development),
        "creator-marketplace" => {
            load::<loop_creator_marketplace::Config>(service, vars, development)
        }
        "commerce" => load::<loop_commerce::Config>(service, vars, development),
        "gateway" => load::<loop_gateway::Config>(service, vars, development),
        "media" => load::<loop_media::Config>(service, vars, development),
        other => Err(format!(
            "services/{other} has no config entry in services/gateway/tests/deploy/main.rs: add loop-{other} to the gateway's dev-dependencies and to config_of"
        )),
    }
}

/// Leaf values by dotted path.
fn leaves(value: &Json, path: &str, out: &mut BTreeMap<String, Json>) {
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(v, &p, out);
            }
        }
        other => {
            out.insert(path.to_owned(), other.clone());
        }
    }
}

fn port_of(addr: &Json) -> Option<u16> {
    addr.as_str()?.rsplit_once(':')?.1.parse().ok()
}

/// The API listen port (gRPC, or HTTP for the gateway) and the metrics port.
fn ports(config: &Json) -> (Option<u16>, Option<u16>) {
    let listen = config["grpc"]["listen_addr"]
        .as_str()
        .or(config["http"]["listen_addr"].as_str())
        .and_then(|a| port_of(&Json::from(a)));
    (listen, port_of(&config["telemetry"]["metrics_listen_addr"]))
}

/// Checks one container's view of a service: its variables load, no
/// loopback default is left, the ports are the defaults, and each
/// `services.*_url` names a known service on that service's port.
fn check_config(
    problems: &mut Vec<String>,
    place: &str,
    service: &str,
    vars: &[(String, String)],
    hosts: &BTreeMap<String, u16>,
) {
    let prefix = env_prefix(service);
    let (mut ours, others): (Vec<_>, Vec<_>) = vars
        .iter()
        .filter(|(k, _)| k.starts_with("LOOP_") && k.contains("__"))
        .cloned()
        .partition(|(k, _)| k.starts_with(&prefix));
    ours.extend(vars.iter().filter(|(k, _)| k == "LOOP_ENV").cloned());
    for (k, _) in others {
        problems.push(format!("{place}: {k} is not a {prefix} variable"));
    }
    let defaults = match config_of(service, &dev()) {
        Ok(config) => config,
        Err(err) => return problems.push(format!("{place}: {err}")),
    };
    let loaded = match config_of(service, &ours) {
        Ok(config) => config,
        Err(err) => {
            return problems.push(format!("{place}: the service refuses its variables: {err}"));
        }
    };
    let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
    leaves(&defaults, "", &mut before);
    leaves(&loaded, "", &mut after);
    for (path, value) in &before {
        let loopback = |v: &Json| v.as_str().is_some_and(|s| s.contains("127.0.0.1"));
        if loopback(value) && after.get(path).is_some_and(loopback) {
            problems.push(format!(
                "{place}: {path} keeps its loopback default {value} (set {prefix}{})",
                path.to_uppercase().replace('.', "__")
            ));
        }
    }
    if ports(&defaults) != ports(&loaded) {
        problems.push(format!(
            "{place}: ports (listen, metrics) {:?} differ from the defaults {:?}",
            ports(&loaded),
            ports(&defaults)
        ));
    }
    for (path, value) in &after {
        let is_url = path.starts_with("services.") && path.ends_with("_url");
        let Some(url) = value.as_str().filter(|u| is_url && !u.is_empty()) else {
            continue;
        };
        let authority = url.split("://").nth(1).unwrap_or_default();
        let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
        match hosts.get(host) {
            Some(expected) if port == expected.to_string() => {}
            Some(expected) => problems.push(format!(
                "{place}: {path} = {url}, but {host} listens on {expected}"
            )),
            None => problems.push(format!("{place}: {path} = {url} names no Loop service")),
        }
    }
}

fn dev() -> Vec<(String, String)> {
    vec![("LOOP_ENV".into(), "development".into())]
}

/// Fails listing `problems`, if there are any.
fn assert_agree(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "the deploy files disagree with the code:\n  - {}",
        problems.join("\n  - ")
    );
}

/// Each service's default API listen port (by service name, which is its
/// host name in compose and Kubernetes) and metrics port.
struct Ports {
    listen: BTreeMap<String, u16>,
    metrics: BTreeMap<String, u16>,
}

/// The default ports of every service; a service whose defaults do not load
/// or name no port is a problem.
fn default_ports(problems: &mut Vec<String>) -> Ports {
    let mut ports = Ports {
        listen: BTreeMap::new(),
        metrics: BTreeMap::new(),
    };
    for service in &services() {
        match config_of(service, &dev()) {
            Ok(config) => {
                let (listen, metrics) = self::ports(&config);
                match listen {
                    Some(port) => ports.listen.insert(service.clone(), port),
                    None => {
                        problems.push(format!("{service}: no grpc/http listen_addr"));
                        None
                    }
                };
                match metrics {
                    Some(port) => ports.metrics.insert(service.clone(), port),
                    None => {
                        problems.push(format!(
                            "{service}: no default telemetry.metrics_listen_addr"
                        ));
                        None
                    }
                };
            }
            Err(err) => problems.push(err),
        }
    }
    ports
}

#[test]
fn every_service_has_default_ports_of_its_own() {
    let services = services();
    assert!(services.len() >= 5, "found {services:?}");
    let mut problems = Vec::new();
    let Ports { listen, metrics } = default_ports(&mut problems);
    let distinct: BTreeSet<u16> = listen.values().chain(metrics.values()).copied().collect();
    if distinct.len() != listen.len() + metrics.len() {
        problems.push(format!(
            "default ports collide (make up runs them side by side): {listen:?} {metrics:?}"
        ));
    }
    assert_agree(&problems);
}
