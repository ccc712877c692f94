//! The OpenAPI document is the contract a client is generated from; this
//! test holds the running platform to it. It reads `/openapi.json` and, for
//! every operation, sends schema-valid requests (built from the document
//! alone, with a seeded generator; ids of objects the test created first)
//! and requests that each break one documented constraint. It fails on any
//! server error, any schema-valid request refused, any violating request
//! accepted, and any status the operation does not document, listing every
//! finding at once. Rate limits are raised so the fuzzing is not throttled.

mod doc;
mod generate;
mod pattern;
mod rng;
mod run;
mod world;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::doc::{Doc, Operation};
use crate::generate::Gen;
use crate::run::{Finding, finding, judge_invalid, judge_valid};
use crate::world::World;

/// Valid requests per operation.
const VALID_PER_OP: usize = 4;
/// Most constraint-breaking requests per operation (a deterministic sample beyond).
const INVALID_PER_OP: usize = 60;
const SEED: u64 = 0x100F_C0DE;

#[derive(Default)]
struct Tally {
    operations: usize,
    valid: usize,
    valid_2xx: usize,
    invalid: usize,
    inconclusive: usize,
    statuses: BTreeMap<String, BTreeSet<u16>>,
}

/// GETs first, deletions last: the objects the others need still exist.
fn order(op: &Operation) -> u8 {
    match op.method {
        Method::GET => 0,
        Method::DELETE => 2,
        _ => 1,
    }
}

async fn fuzz(world: &World, doc: &Doc, op: &Operation, tally: &mut Tally) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut g = Gen::new(doc, SEED ^ fxhash(&op.name()));
    let mut seen = BTreeSet::new();
    let mut base = None;
    for _ in 0..VALID_PER_OP {
        let req = run::valid(&mut g, world, op);
        let answer = req.send(world, op).await;
        tally.valid += 1;
        tally.valid_2xx += usize::from(answer.status.is_success());
        seen.insert(answer.status.as_u16());
        if let Some(why) = judge_valid(op, &answer) {
            findings.push(finding(op, &req, &answer, why));
        }
        base.get_or_insert(req);
    }
    let base = base.expect("one valid request");
    let mut invalid = run::invalid(&mut g, world, op, &base);
    while invalid.len() > INVALID_PER_OP {
        let drop = g.rng.below(invalid.len());
        invalid.remove(drop);
    }
    // Without credentials, and with a body over the size limit.
    if op.secured {
        let mut anonymous = base.clone();
        anonymous.token = None;
        anonymous.what = "no bearer token".into();
        let answer = anonymous.send(world, op).await;
        if answer.status != StatusCode::UNAUTHORIZED || !op.documents(401) {
            findings.push(finding(
                op,
                &anonymous,
                &answer,
                "expected a documented 401",
            ));
        }
    }
    if op.body.is_some() {
        let mut huge = base.clone();
        huge.body = Some(json!({"padding": "x".repeat(300 * 1024)}));
        huge.what = "a body over the size limit".into();
        let answer = huge.send(world, op).await;
        if answer.status != StatusCode::PAYLOAD_TOO_LARGE || !op.documents(413) {
            findings.push(finding(op, &huge, &answer, "expected a documented 413"));
        }
    }
    for req in invalid {
        let answer = req.send(world, op).await;
        tally.invalid += 1;
        match judge_invalid(op, &answer, &seen) {
            Ok(()) => {}
            Err(None) => tally.inconclusive += 1,
            Err(Some(why)) => {
                findings.push(finding(op, &req, &answer, format!("{}: {why}", req.what)))
            }
        }
    }
    tally.statuses.insert(op.name(), seen);
    findings
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[tokio::test]
async fn every_operation_keeps_the_documented_contract() {
    let platform = loop_testkit::Platform::start_with(|cfg| {
        let limits = &mut cfg.rate_limit;
        limits.per_user_per_minute = 1_000_000;
        limits.auth_per_ip_per_minute = 1_000_000;
        limits.events_per_user_per_minute = 1_000_000;
        limits.login_free_attempts = 1_000_000;
    })
    .await;
    let root: Value = reqwest::get(format!("{}/openapi.json", platform.base))
        .await
        .expect("document")
        .json()
        .await
        .expect("JSON document");
    if let Ok(path) = std::env::var("CONTRACT_DUMP_DOC") {
        std::fs::write(&path, serde_json::to_vec_pretty(&root).expect("JSON")).expect("dump");
    }
    let doc = Doc { root };
    let world = World::build(&platform.base).await;
    let mut ops = doc.operations();
    ops.sort_by_key(order);
    assert!(
        ops.len() > 100,
        "only {} operations in the document",
        ops.len()
    );

    let mut tally = Tally::default();
    let mut findings = Vec::new();
    for op in &ops {
        tally.operations += 1;
        findings.extend(fuzz(&world, &doc, op, &mut tally).await);
    }
    eprintln!(
        "contract: {} operations, {} valid requests ({} answered 2xx), {} violating requests ({} refused for another reason the valid ones met too), {} findings",
        tally.operations,
        tally.valid,
        tally.valid_2xx,
        tally.invalid,
        tally.inconclusive,
        findings.len()
    );
    for (op, statuses) in &tally.statuses {
        eprintln!("  {op}: valid requests answered {statuses:?}");
    }
    let report: Vec<String> = findings.iter().map(ToString::to_string).collect();
    assert!(
        findings.is_empty(),
        "{} contract findings:\n{}",
        findings.len(),
        report.join("\n")
    );
}
