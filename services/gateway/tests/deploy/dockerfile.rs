//! deploy/Dockerfile: one image recipe for every service.

use super::*;

#[test]
fn one_dockerfile_builds_every_service_binary_as_a_non_root_user() {
    let mut problems = Vec::new();
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
    for service in &services() {
        let manifest = read(&format!("services/{service}/Cargo.toml"));
        let binary = format!("name = \"loop-{service}\"");
        if !manifest.contains(&binary) {
            problems.push(format!(
                "services/{service}/Cargo.toml: no binary loop-{service} for the image"
            ));
        }
    }

    assert_agree(&problems);
}
