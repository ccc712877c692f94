//! deploy/k8s: the kustomize base (every file its kustomization lists) and
//! the dev overlay deploy every service, hardened, with variables its
//! service loads and its own ports.

use super::*;

/// The base's documents and the dev overlay's patches and images.
struct Kustomize {
    docs: Vec<Yaml>,
    config_map: Yaml,
    base_secret: Yaml,
    patches: Vec<Yaml>,
    dev_secret: Yaml,
    overlay_images: BTreeSet<String>,
}

impl Kustomize {
    fn load() -> Self {
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
        let base_secret = find("Secret", "loop-secrets").expect("loop-secrets Secret");
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
            .expect("the dev overlay sets loop-secrets")
            .clone();
        let overlay_images = overlay["images"]
            .as_sequence()
            .into_iter()
            .flatten()
            .map(|i| s(&i["name"]))
            .collect();
        Self {
            docs,
            config_map,
            base_secret,
            patches,
            dev_secret,
            overlay_images,
        }
    }

    fn find(&self, kind: &str, name: &str) -> Option<Yaml> {
        self.docs
            .iter()
            .find(|d| s(&d["kind"]) == kind && s(&d["metadata"]["name"]) == name)
            .cloned()
    }

    /// Variables as `service`'s pod sees them: LOOP_ENV from loop-config as
    /// the dev overlay patches it, then the container's `env` ($(X) from the
    /// ConfigMap, secrets from the dev overlay's values: the base's are
    /// placeholders), then the dev overlay's Deployment patches.
    fn pod_env(
        &self,
        problems: &mut Vec<String>,
        place: &str,
        service: &str,
        container: &Yaml,
    ) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = Vec::new();
        let dev_env = self
            .patches
            .iter()
            .find(|p| s(&p["kind"]) == "ConfigMap")
            .map(|p| s(&p["data"]["LOOP_ENV"]))
            .unwrap_or_else(|| s(&self.config_map["data"]["LOOP_ENV"]));
        env.push(("LOOP_ENV".into(), dev_env));
        for entry in container["env"].as_sequence().into_iter().flatten() {
            self.set(problems, place, &mut env, entry);
        }
        for patch in self
            .patches
            .iter()
            .filter(|p| s(&p["kind"]) == "Deployment" && s(&p["metadata"]["name"]) == *service)
        {
            for container in patch["spec"]["template"]["spec"]["containers"]
                .as_sequence()
                .into_iter()
                .flatten()
            {
                for entry in container["env"].as_sequence().into_iter().flatten() {
                    self.set(problems, place, &mut env, entry);
                }
            }
        }
        env
    }

    /// Sets (or replaces) one `env` entry's variable, resolving its source.
    fn set(
        &self,
        problems: &mut Vec<String>,
        place: &str,
        env: &mut Vec<(String, String)>,
        entry: &Yaml,
    ) {
        let name = s(&entry["name"]);
        let value = if let Some(key) = entry["valueFrom"]["secretKeyRef"]["key"].as_str() {
            if self.base_secret["stringData"][key].is_null() {
                problems.push(format!(
                    "{place}: {name} reads secret key {key}, which loop-secrets lacks"
                ));
            }
            let dev = &self.dev_secret["stringData"][key];
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
                    let value = &self.config_map["data"][var];
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
    }
}

#[test]
fn the_base_config_is_production_and_its_secrets_are_placeholders() {
    let k = Kustomize::load();
    let mut problems = Vec::new();
    for key in k.config_map["data"]
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
    if s(&k.config_map["data"]["LOOP_ENV"]) != "production" {
        problems.push("deploy/k8s/base loop-config: LOOP_ENV is not production".into());
    }
    // The base carries placeholders only: every key and password is
    // REPLACE-ME (or empty, where empty means "none").
    for (key, value) in k.base_secret["stringData"]
        .as_mapping()
        .into_iter()
        .flatten()
    {
        let (key, value) = (s(key), s(value));
        let secret = key.contains("key") || key.contains("password");
        if secret && !matches!(value.as_str(), "REPLACE-ME" | "") {
            problems.push(format!(
                "deploy/k8s/base loop-secrets: {key} carries a value, not a placeholder"
            ));
        }
    }
    assert_agree(&problems);
}

#[test]
fn every_service_has_a_hardened_deployment_a_service_and_an_account() {
    let services = services();
    let k = Kustomize::load();
    let mut problems = Vec::new();
    for doc in &k.docs {
        let (kind, name) = (s(&doc["kind"]), s(&doc["metadata"]["name"]));
        if matches!(kind.as_str(), "Deployment" | "ServiceAccount") && !services.contains(&name) {
            problems.push(format!("k8s {kind} {name}: no such service crate"));
        }
    }
    for service in &services {
        let place = format!("deploy/k8s/base {service}");
        for kind in ["Service", "ServiceAccount"] {
            if k.find(kind, service).is_none() {
                problems.push(format!("{place}: no {kind}"));
            }
        }
        let Some(deployment) = k.find("Deployment", service) else {
            problems.push(format!("{place}: no Deployment"));
            continue;
        };
        let pod = &deployment["spec"]["template"]["spec"];
        if s(&pod["serviceAccountName"]) != *service {
            problems.push(format!("{place}: serviceAccountName is not {service}"));
        }
        if !k.overlay_images.contains(&format!("loop-{service}")) {
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
    }
    assert_agree(&problems);
}

#[test]
fn every_deployment_sets_variables_its_service_loads() {
    let hosts = default_ports(&mut Vec::new()).listen;
    let k = Kustomize::load();
    let mut problems = Vec::new();
    for service in &services() {
        let place = format!("deploy/k8s/base {service}");
        let Some(deployment) = k.find("Deployment", service) else {
            continue; // reported by the test above
        };
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let env = k.pod_env(&mut problems, &place, service, container);
        check_config(&mut problems, &place, service, &env, &hosts);
    }
    assert_agree(&problems);
}

#[test]
fn deployments_ports_probes_and_services_use_the_service_ports() {
    let Ports { listen, metrics } = default_ports(&mut Vec::new());
    let k = Kustomize::load();
    let mut problems = Vec::new();
    for service in &services() {
        let place = format!("deploy/k8s/base {service}");
        let (Some(deployment), Some(listen), Some(metrics)) = (
            k.find("Deployment", service),
            listen.get(service),
            metrics.get(service),
        ) else {
            continue; // reported by the tests above
        };
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        // The API port everywhere it is named, and the metrics port.
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
        if let Some(svc) = k.find("Service", service) {
            let port = svc["spec"]["ports"][0]["port"].clone();
            if s(&port) != listen.to_string() {
                problems.push(format!(
                    "{place}: Service port {}, the service listens on {listen}",
                    s(&port)
                ));
            }
        }
    }
    assert_agree(&problems);
}
