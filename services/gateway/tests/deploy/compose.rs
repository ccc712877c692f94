//! docker-compose.yml: every service built from the image, hardened, in
//! production mode, with variables its service loads; no secret defaults.

use super::*;

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
        "commerce",
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
    values.insert(
        "LOOP_PLAYBACK_URL_KEY".into(),
        uuid::Uuid::new_v4().simple().to_string().repeat(2),
    );
    values.insert("MINIO_ROOT_PASSWORD".into(), "a-real-minio-password".into());
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
fn compose_runs_every_service_from_the_image_in_production() {
    let services = services();
    let hosts = default_ports(&mut Vec::new()).listen;
    let mut problems = Vec::new();
    // No secret has a default; each is required.
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

    assert_agree(&problems);
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
