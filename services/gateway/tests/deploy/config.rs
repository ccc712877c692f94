//! How the checks load a service's variables: a misnamed variable is caught,
//! development secrets are refused outside development, as the binary does.

use super::*;

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
fn every_service_refuses_development_secrets_outside_development() {
    let production = vec![("LOOP_ENV".to_owned(), "production".to_owned())];
    for service in services() {
        let err = config_of(&service, &production).expect_err("dev defaults in production");
        let mut expected = vec!["auth.trusted_keys"];
        match service.as_str() {
            "content" => expected.push("bootstrap_admin.password"),
            "wallet" => expected.push("payments.test_provider_enabled"),
            "ads-auction" => expected.extend(["auth.signing_key", "tokens.keys.k1"]),
            "gateway" | "feed-ranking" | "creator-marketplace" | "commerce" => {
                expected.push("auth.signing_key")
            }
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
