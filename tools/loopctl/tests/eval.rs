//! The evaluation on the committed sample log (real-shaped, synthetic):
//! a change that breaks what the ranker learns from behaviour fails here.

use std::path::PathBuf;

use loopctl::eval::{self, Args, Mode, report};

fn args(mode: Mode) -> Args {
    Args {
        data: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/eval-sample")),
        k: 20,
        mode,
        holdout: 0.2,
        max_events: 0,
        serve_every: 500,
        seed: 1,
        json: None,
        targets: report::Targets::Ordering,
        redis_url: loop_platform::testing::redis_config("eval")
            .url
            .expose()
            .clone(),
        write_sample: None,
        set: Vec::new(),
    }
}

#[tokio::test]
async fn on_the_sample_loop_recalls_more_than_most_popular_which_recalls_more_than_random() {
    let results = eval::run(&args(Mode::Split))
        .await
        .expect("eval")
        .expect("results");
    let recall = |name: &str| results.mean(name).recall;
    let (ours, popular, random) = (
        recall(report::LOOP),
        recall(report::POPULAR),
        recall(report::RANDOM),
    );
    assert!(
        ours > popular && popular > random,
        "Recall@20: Loop {ours:.4}, most-popular {popular:.4}, random {random:.4}\n{}",
        results.render()
    );
    // Every held-out user was scored by every ranker.
    let n = results.mean(report::LOOP).n;
    assert!(n > 50, "{n} users scored");
    for name in report::RANKERS {
        assert_eq!(results.mean(name).n, n, "{name}");
    }
    // The served pages came back as labelled impressions: the scoring
    // weights learned from them.
    let learned = results.learned.as_ref().expect("learned weights");
    assert!(
        learned.examples > 1000 && learned.positives > 0,
        "{}",
        results.render()
    );
    // Co-engagement is where Loop's page comes from.
    let collaborative = results
        .source_shares()
        .into_iter()
        .find(|(s, _)| s == "collaborative")
        .map_or(0.0, |(_, share)| share);
    assert!(collaborative > 0.5, "{}", results.render());
}

#[tokio::test]
async fn prequentially_loop_hits_more_than_random() {
    let mut a = args(Mode::Prequential);
    a.max_events = 120;
    let results = eval::run(&a).await.expect("eval").expect("results");
    let (ours, random) = (results.mean(report::LOOP), results.mean(report::RANDOM));
    assert_eq!(ours.n, 120, "one list per held-out liked event");
    // One relevant item per list: recall is the hit rate.
    assert_eq!(ours.recall, ours.hit_rate);
    assert!(
        ours.hit_rate > random.hit_rate,
        "HitRate@20: Loop {:.3}, random {:.3}\n{}",
        ours.hit_rate,
        random.hit_rate,
        results.render()
    );
}

#[tokio::test]
async fn bad_options_name_the_option() {
    let mut a = args(Mode::Split);
    a.k = 0;
    let err = eval::run(&a).await.expect_err("k = 0");
    assert!(err.to_string().starts_with("--k must be"), "{err}");
    let mut a = args(Mode::Split);
    a.data = Some(PathBuf::from("/nonexistent"));
    let err = eval::run(&a).await.expect_err("no data");
    assert!(err.to_string().starts_with("--data: cannot read"), "{err}");
}
