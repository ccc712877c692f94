//! deploy/prometheus.yml: a scrape target per service on its metrics port.

use super::*;

#[test]
fn prometheus_scrapes_every_service_on_its_metrics_port() {
    let metrics_ports = default_ports(&mut Vec::new()).metrics;
    let mut problems = Vec::new();
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

    assert_agree(&problems);
}
