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

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::Serialized;
use loop_platform::config::{Validate, env_prefix};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

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
        "gateway" => load::<loop_gateway::Config>(service, vars, development),
        other => Err(format!(
            "services/{other} has no config entry in services/gateway/tests/deploy.rs: add loop-{other} to the gateway's dev-dependencies and to config_of"
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

/// What an operator sets for each variable compose requires (`${VAR:?}`):
/// real, freshly generated keys and passwords.
fn required_values() -> BTreeMap<String, String> {
    use loop_platform::auth::{JwkSet, SigningKey};
    let mut values = BTreeMap::new();
    let mut jwks = JwkSet::default();
    for issuer in [
        "gateway",
        "feed-ranking",
        "ads-auction",
        "creator-marketplace",
    ] {
        let key = SigningKey::generate(issuer, "test").expect("key");
        jwks.keys.push(key.public_jwk());
        values.insert(
            format!(
                "LOOP_{}_SIGNING_KEY",
                issuer.to_uppercase().replace('-', "_")
            ),
            serde_json::to_string(&key.private_jwk()).expect("json"),
        );
    }
    values.insert(
        "LOOP_TRUSTED_KEYS".into(),
        serde_json::to_string(&jwks).expect("json"),
    );
    values.insert(
        "LOOP_ADS_TOKEN_KEY".into(),
        uuid::Uuid::new_v4().simple().to_string().repeat(2),
    );
    values.insert(
        "LOOP_SERVE_TOKEN_KEY".into(),
        uuid::Uuid::new_v4().simple().to_string().repeat(2),
    );
    values.insert("POSTGRES_PASSWORD".into(), "a-real-password".into());
    values.insert(
        "LOOP_ADMIN_PASSWORD".into(),
        "a-real-admin-password-7".into(),
    );
    values
}

/// `${VAR:-default}` -> default, `${VAR}` -> "", `${VAR:?message}` and
/// `${VAR?message}` -> `required[VAR]` (compose refuses to start without
/// it), `$$` -> `$`: what compose sees with only the required variables set.
fn interpolate_with(text: &str, required: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(body) = rest.strip_prefix("${") {
            let end = body.find('}').expect("closed ${");
            let expr = &body[..end];
            if let Some((_, default)) = expr.split_once(":-") {
                out.push_str(default);
            } else if let Some((name, _)) = expr.split_once('?') {
                let name = name.trim_end_matches(':');
                out.push_str(
                    required
                        .get(name)
                        .unwrap_or_else(|| panic!("the test sets no value for required {name}")),
                );
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn interpolate(text: &str) -> String {
    interpolate_with(text, &BTreeMap::new())
}

/// Variables with a default (`${VAR:-x}` / `${VAR-x}`) whose name says secret.
fn secret_defaults(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        rest = &rest[at + 2..];
        let end = rest.find('}').unwrap_or(rest.len());
        let expr = &rest[..end];
        let name_len = expr
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(expr.len());
        let (name, operator) = expr.split_at(name_len);
        if operator.starts_with(":-") || operator.starts_with('-') {
            let secret = ["SECRET", "KEY", "PASSWORD", "TOKEN"]
                .iter()
                .any(|w| name.contains(w));
            if secret {
                found.push(expr.to_owned());
            }
        }
    }
    found
}

#[test]
fn compose_dockerfile_manifests_and_prometheus_agree_with_the_services() {
    let services = services();
    assert!(services.len() >= 5, "found {services:?}");
    let mut problems = Vec::new();

    // Default listen port of every service, by host name.
    let mut hosts = BTreeMap::new();
    let mut metrics_ports = BTreeMap::new();
    for service in &services {
        match config_of(service, &dev()) {
            Ok(config) => {
                let (listen, metrics) = ports(&config);
                match listen {
                    Some(port) => hosts.insert(service.clone(), port),
                    None => {
                        problems.push(format!("{service}: no grpc/http listen_addr"));
                        None
                    }
                };
                match metrics {
                    Some(port) => metrics_ports.insert(service.clone(), port),
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
    let distinct: BTreeSet<u16> = hosts
        .values()
        .chain(metrics_ports.values())
        .copied()
        .collect();
    if distinct.len() != hosts.len() + metrics_ports.len() {
        problems.push(format!(
            "default ports collide (make up runs them side by side): {hosts:?} {metrics_ports:?}"
        ));
    }

    // --- the image: one Dockerfile, SERVICE build arg, binary loop-<name>.
    let dockerfile = read("deploy/Dockerfile");
    for needle in [
        "ARG SERVICE",
        "--bin \"loop-${SERVICE}\"",
        "USER 10001",
        "HEALTHCHECK",
    ] {
        if !dockerfile.contains(needle) {
            problems.push(format!("deploy/Dockerfile: no {needle:?}"));
        }
    }
    for service in &services {
        let manifest = read(&format!("services/{service}/Cargo.toml"));
        let binary = format!("name = \"loop-{service}\"");
        if !manifest.contains(&binary) {
            problems.push(format!(
                "services/{service}/Cargo.toml: no binary loop-{service} for the image"
            ));
        }
    }

    // --- docker-compose.yml: no secret has a default; each is required.
    let required = required_values();
    for default in secret_defaults(&read("docker-compose.yml")) {
        problems.push(format!(
            "docker-compose.yml: ${{{default}}} gives a secret a default"
        ));
    }
    let compose = yaml("docker-compose.yml");
    let compose_services = compose["services"].as_mapping().expect("compose services");
    for (name, svc) in compose_services {
        let name = s(name);
        let built = s(&svc["build"]["args"]["SERVICE"]);
        if !built.is_empty() && !services.contains(&built) {
            problems.push(format!(
                "compose {name}: builds SERVICE={built}, which is no service crate"
            ));
        }
    }
    for service in &services {
        let place = format!("docker-compose.yml {service}");
        let svc = &compose["services"][service.as_str()];
        if svc.is_null() {
            problems.push(format!("{place}: missing"));
            continue;
        }
        if s(&svc["build"]["dockerfile"]) != "deploy/Dockerfile"
            || s(&svc["build"]["args"]["SERVICE"]) != *service
        {
            problems.push(format!(
                "{place}: not built from deploy/Dockerfile with SERVICE={service}"
            ));
        }
        if !s(&svc["image"]).contains(&format!("loop-{service}:")) {
            problems.push(format!("{place}: image is not loop-{service}:<tag>"));
        }
        let health = format!("{:?}", svc["healthcheck"]["test"]);
        if !health.contains("healthcheck") {
            problems.push(format!(
                "{place}: no `loop-service healthcheck` healthcheck"
            ));
        }
        if svc["read_only"] != Yaml::Bool(true) {
            problems.push(format!("{place}: root filesystem not read-only"));
        }
        if let Some(deps) = svc["depends_on"].as_mapping() {
            for (dep, how) in deps {
                if compose["services"][s(dep).as_str()].is_null() {
                    problems.push(format!("{place}: depends on unknown {}", s(dep)));
                }
                if s(&how["condition"]).is_empty() {
                    problems.push(format!(
                        "{place}: depends_on {} without a condition",
                        s(dep)
                    ));
                }
            }
        }
        for port in svc["ports"].as_sequence().into_iter().flatten() {
            let port = s(port);
            if !port.starts_with("127.0.0.1:") {
                problems.push(format!("{place}: port {port} is not bound to 127.0.0.1"));
            }
        }
        let vars: Vec<(String, String)> = svc["environment"]
            .as_mapping()
            .into_iter()
            .flatten()
            .map(|(k, v)| (s(k), interpolate_with(&s(v), &required)))
            .collect();
        if !vars
            .iter()
            .any(|(k, v)| k == "LOOP_ENV" && v == "production")
        {
            problems.push(format!("{place}: LOOP_ENV is not production"));
        }
        check_config(&mut problems, &place, service, &vars, &hosts);
    }

    // --- deploy/k8s/base (every file kustomization.yaml lists) and the dev overlay.
    let kustomization = yaml("deploy/k8s/base/kustomization.yaml");
    let mut docs = Vec::new();
    for file in kustomization["resources"].as_sequence().expect("resources") {
        let path = format!("deploy/k8s/base/{}", s(file));
        docs.extend(yaml_docs(&read(&path), &path));
    }
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| s(&d["kind"]) == kind && s(&d["metadata"]["name"]) == name)
            .cloned()
    };
    let config_map = find("ConfigMap", "loop-config").expect("loop-config ConfigMap");
    for key in config_map["data"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(k, _)| s(k))
    {
        if key.contains("__") {
            problems.push(format!(
                "loop-config: {key} would reach every service (envFrom) as a config key"
            ));
        }
    }
    let base_secret = find("Secret", "loop-secrets").expect("loop-secrets Secret");
    if s(&config_map["data"]["LOOP_ENV"]) != "production" {
        problems.push("deploy/k8s/base loop-config: LOOP_ENV is not production".into());
    }
    // The base carries placeholders only: every key and password is
    // REPLACE-ME (or empty, where empty means "none").
    for (key, value) in base_secret["stringData"].as_mapping().into_iter().flatten() {
        let (key, value) = (s(key), s(value));
        let secret = key.contains("key") || key.contains("password");
        if secret && !matches!(value.as_str(), "REPLACE-ME" | "") {
            problems.push(format!(
                "deploy/k8s/base loop-secrets: {key} carries a value, not a placeholder"
            ));
        }
    }
    let overlay = yaml("deploy/k8s/overlays/dev/kustomization.yaml");
    let patches: Vec<Yaml> = overlay["patches"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|p| p["patch"].as_str())
        .flat_map(|text| yaml_docs(text, "a dev overlay patch"))
        .collect();
    let dev_secret = patches
        .iter()
        .find(|p| s(&p["kind"]) == "Secret")
        .expect("the dev overlay sets loop-secrets");
    let overlay_images: BTreeSet<String> = overlay["images"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|i| s(&i["name"]))
        .collect();
    for doc in &docs {
        let (kind, name) = (s(&doc["kind"]), s(&doc["metadata"]["name"]));
        if matches!(kind.as_str(), "Deployment" | "ServiceAccount") && !services.contains(&name) {
            problems.push(format!("k8s {kind} {name}: no such service crate"));
        }
    }
    for service in &services {
        let place = format!("deploy/k8s/base {service}");
        for kind in ["Service", "ServiceAccount"] {
            if find(kind, service).is_none() {
                problems.push(format!("{place}: no {kind}"));
            }
        }
        let Some(deployment) = find("Deployment", service) else {
            problems.push(format!("{place}: no Deployment"));
            continue;
        };
        let pod = &deployment["spec"]["template"]["spec"];
        if s(&pod["serviceAccountName"]) != *service {
            problems.push(format!("{place}: serviceAccountName is not {service}"));
        }
        if !overlay_images.contains(&format!("loop-{service}")) {
            problems.push(format!(
                "deploy/k8s/overlays/dev: no image entry loop-{service}"
            ));
        }
        let container = &pod["containers"][0];
        if s(&container["image"]) != format!("loop-{service}") {
            problems.push(format!("{place}: image is not loop-{service}"));
        }
        let security = &container["securityContext"];
        if security["runAsNonRoot"] != Yaml::Bool(true)
            || security["readOnlyRootFilesystem"] != Yaml::Bool(true)
        {
            problems.push(format!(
                "{place}: not non-root with a read-only root filesystem"
            ));
        }
        if container["resources"]["limits"].is_null()
            || container["resources"]["requests"].is_null()
        {
            problems.push(format!("{place}: no resource requests and limits"));
        }
        // Variables as the pod sees them: $(X) from the ConfigMap, secrets
        // from the dev overlay's values (the base's are placeholders), then
        // the dev overlay's Deployment patches.
        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |env: &mut Vec<(String, String)>, entry: &Yaml| {
            let name = s(&entry["name"]);
            let value = if let Some(key) = entry["valueFrom"]["secretKeyRef"]["key"].as_str() {
                if base_secret["stringData"][key].is_null() {
                    problems.push(format!(
                        "{place}: {name} reads secret key {key}, which loop-secrets lacks"
                    ));
                }
                let dev = &dev_secret["stringData"][key];
                if dev.is_null() {
                    problems.push(format!(
                        "{place}: the dev overlay has no value for secret key {key}"
                    ));
                }
                s(dev)
            } else {
                let raw = s(&entry["value"]);
                match raw.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
                    Some(var) => {
                        let value = &config_map["data"][var];
                        if value.is_null() {
                            problems.push(format!(
                                "{place}: {name} refers to $({var}), which loop-config lacks"
                            ));
                        }
                        s(value)
                    }
                    None => raw,
                }
            };
            env.retain(|(k, _)| *k != name);
            env.push((name, value));
        };
        // envFrom loop-config: LOOP_ENV, as the dev overlay patches it.
        let dev_env = patches
            .iter()
            .find(|p| s(&p["kind"]) == "ConfigMap")
            .map(|p| s(&p["data"]["LOOP_ENV"]))
            .unwrap_or_else(|| s(&config_map["data"]["LOOP_ENV"]));
        env.push(("LOOP_ENV".into(), dev_env));
        for entry in container["env"].as_sequence().into_iter().flatten() {
            set(&mut env, entry);
        }
        for patch in patches
            .iter()
            .filter(|p| s(&p["kind"]) == "Deployment" && s(&p["metadata"]["name"]) == *service)
        {
            for container in patch["spec"]["template"]["spec"]["containers"]
                .as_sequence()
                .into_iter()
                .flatten()
            {
                for entry in container["env"].as_sequence().into_iter().flatten() {
                    set(&mut env, entry);
                }
            }
        }
        check_config(&mut problems, &place, service, &env, &hosts);

        // Ports: the API port everywhere it is named, and the metrics port.
        let (Some(listen), Some(metrics)) = (hosts.get(service), metrics_ports.get(service)) else {
            continue;
        };
        let container_ports: BTreeMap<String, String> = container["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|p| (s(&p["name"]), s(&p["containerPort"])))
            .collect();
        let api = container_ports.get("grpc").or(container_ports.get("http"));
        if api != Some(&listen.to_string()) {
            problems.push(format!(
                "{place}: API containerPort {api:?}, the service listens on {listen}"
            ));
        }
        if container_ports.get("metrics") != Some(&metrics.to_string()) {
            problems.push(format!("{place}: no metrics containerPort {metrics}"));
        }
        if s(&deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
            != metrics.to_string()
        {
            problems.push(format!(
                "{place}: prometheus.io/port annotation is not {metrics}"
            ));
        }
        for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
            let p = &container[probe];
            let port = if p["grpc"].is_null() {
                s(&p["httpGet"]["port"])
            } else {
                s(&p["grpc"]["port"])
            };
            if port != listen.to_string() && port != "http" {
                problems.push(format!(
                    "{place}: {probe} probes port {port:?}, not {listen}"
                ));
            }
        }
        if let Some(svc) = find("Service", service) {
            let port = svc["spec"]["ports"][0]["port"].clone();
            if s(&port) != listen.to_string() {
                problems.push(format!(
                    "{place}: Service port {}, the service listens on {listen}",
                    s(&port)
                ));
            }
        }
    }

    // --- deploy/prometheus.yml: a target per service on its metrics port.
    let prometheus = yaml("deploy/prometheus.yml");
    let mut targets = BTreeSet::new();
    for job in prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape_configs")
    {
        for sc in job["static_configs"].as_sequence().into_iter().flatten() {
            targets.extend(sc["targets"].as_sequence().into_iter().flatten().map(s));
        }
        for sd in job["dns_sd_configs"].as_sequence().into_iter().flatten() {
            for name in sd["names"].as_sequence().into_iter().flatten() {
                targets.insert(format!("{}:{}", s(name), s(&sd["port"])));
            }
        }
    }
    for (service, port) in &metrics_ports {
        if !targets.contains(&format!("{service}:{port}")) {
            problems.push(format!("deploy/prometheus.yml: no target {service}:{port}"));
        }
    }

    assert!(
        problems.is_empty(),
        "the deploy files disagree with the code:\n  - {}",
        problems.join("\n  - ")
    );
}

#[test]
fn a_misnamed_variable_is_caught() {
    let hosts = BTreeMap::from([("content".to_owned(), 50061)]);
    let mut problems = Vec::new();
    check_config(
        &mut problems,
        "example",
        "content",
        &[
            ("LOOP_ENV".into(), "development".into()),
            (
                "LOOP_CONTENT__GRPC__LISTEN_ADDR".into(),
                "0.0.0.0:50061".into(),
            ),
            (
                "LOOP_CONTENT__DATABASE__URL".into(),
                "postgres://db/content".into(),
            ),
            ("LOOP_CONTENT__KAFKA__BROKERZ".into(), "kafka:9092".into()),
            ("LOOP_WALLET__KAFKA__BROKERS".into(), "kafka:9092".into()),
        ],
        &hosts,
    );
    let text = problems.join("\n");
    assert!(text.contains("brokerz"), "{text}");
    assert!(
        text.contains("LOOP_WALLET__KAFKA__BROKERS is not a LOOP_CONTENT__ variable"),
        "{text}"
    );
    // Refused before the loopback check: fix the name, then the loopback
    // defaults left (Kafka brokers, the metrics listener) are reported.
    problems.clear();
    check_config(
        &mut problems,
        "example",
        "content",
        &[
            ("LOOP_ENV".into(), "development".into()),
            (
                "LOOP_CONTENT__GRPC__LISTEN_ADDR".into(),
                "0.0.0.0:50061".into(),
            ),
            (
                "LOOP_CONTENT__DATABASE__URL".into(),
                "postgres://db/content".into(),
            ),
        ],
        &hosts,
    );
    let text = problems.join("\n");
    assert!(
        text.contains("kafka.brokers keeps its loopback default"),
        "{text}"
    );
    assert!(
        text.contains("LOOP_CONTENT__TELEMETRY__METRICS_LISTEN_ADDR"),
        "{text}"
    );
}

#[test]
fn secret_defaults_are_found_and_required_values_filled() {
    assert_eq!(
        secret_defaults("a ${LOOP_JWT_SECRET:-dev} ${LOOP_LOG_FORMAT:-json} ${LOOP_X_KEY:?set it}"),
        vec!["LOOP_JWT_SECRET:-dev".to_owned()]
    );
    let required = BTreeMap::from([("K".to_owned(), "v".to_owned())]);
    assert_eq!(interpolate_with("${K:?set K}/${K?x}", &required), "v/v");
}

#[test]
fn compose_interpolation_takes_the_defaults() {
    assert_eq!(
        interpolate("postgres://postgres:${POSTGRES_USER:-postgres}@postgres:5432/content"),
        "postgres://postgres:postgres@postgres:5432/content"
    );
    assert_eq!(interpolate("${UNSET}x$$y"), "x$y");
}

#[test]
fn every_service_refuses_development_secrets_outside_development() {
    let production = vec![("LOOP_ENV".to_owned(), "production".to_owned())];
    for service in services() {
        let err = config_of(&service, &production).expect_err("dev defaults in production");
        let mut expected = vec!["auth.trusted_keys"];
        match service.as_str() {
            "content" => expected.push("bootstrap_admin.password"),
            "wallet" => expected.push("payments.test_provider_enabled"),
            "ads-auction" => expected.extend(["auth.signing_key", "tokens.keys.k1"]),
            "gateway" | "feed-ranking" | "creator-marketplace" => expected.push("auth.signing_key"),
            _ => {}
        }
        for key in expected {
            assert!(err.contains(key), "{service}: {key} not refused: {err}");
        }
        // The same defaults load in development.
        config_of(&service, &dev()).expect("development defaults load");
    }
}

#[test]
fn the_gateway_binary_exits_naming_each_missing_secret() {
    for environment in [None, Some("production"), Some("staging")] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_loop-gateway"));
        command.env_remove("LOOP_ENV");
        if let Some(value) = environment {
            command.env("LOOP_ENV", value);
        }
        let out = command.output().expect("runs the gateway binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{environment:?}: {stderr}");
        for named in [
            "auth.signing_key (env LOOP_GATEWAY__AUTH__SIGNING_KEY)",
            "auth.trusted_keys (env LOOP_GATEWAY__AUTH__TRUSTED_KEYS)",
        ] {
            assert!(stderr.contains(named), "{environment:?}: {stderr}");
        }
    }
}

/// The README's service table names only what the code has: every service
/// crate has a row, each row's port is the service's default listen port,
/// each topic it names exists, and each linked contract or design exists.
#[test]
fn the_readme_service_table_agrees_with_the_code() {
    let readme = read("README.md");
    let topics = loop_platform::kafka::topics::ALL;
    let mut problems = Vec::new();
    let mut rows = BTreeMap::new();
    for line in readme.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "", service, what, port, store, topics, contract, ""
        if cells.len() >= 8 && services().contains(&cells[1].to_owned()) {
            rows.insert(cells[1].to_owned(), cells);
        }
    }
    for service in services() {
        let Some(cells) = rows.get(&service) else {
            problems.push(format!("README: no row for services/{service}"));
            continue;
        };
        let config = config_of(&service, &dev()).expect("defaults load");
        let (listen, _) = ports(&config);
        let port: Option<u16> = cells[3]
            .split(|c: char| !c.is_ascii_digit())
            .find(|s| !s.is_empty())
            .and_then(|s| s.parse().ok());
        if port != listen {
            problems.push(format!(
                "README {service}: port {port:?}, the service listens on {listen:?}"
            ));
        }
        // Topic names look like `name.v1` (event types such as `AdBilled` are not topics).
        let topic_like = |s: &&str| {
            s.rsplit_once(".v")
                .is_some_and(|(n, v)| !n.is_empty() && v.parse::<u32>().is_ok())
        };
        for named in cells[5].split('`').skip(1).step_by(2).filter(topic_like) {
            if !topics.contains(&named) {
                problems.push(format!("README {service}: topic {named} does not exist"));
            }
        }
        for link in cells[6].split("](").skip(1) {
            let target = link.split(')').next().unwrap_or_default();
            if !target.starts_with('/') && !root().join(target).exists() {
                problems.push(format!("README {service}: {target} does not exist"));
            }
        }
    }
    // Every Markdown link in the README and docs/ points inside the repository.
    for doc in ["README.md", "docs/architecture.md", "docs/security.md"] {
        if read(doc).contains("../shared/") {
            problems.push(format!("{doc} points outside the repository (../shared/)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
