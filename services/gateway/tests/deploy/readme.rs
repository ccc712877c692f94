//! The README's service table against the code.

use super::*;

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
