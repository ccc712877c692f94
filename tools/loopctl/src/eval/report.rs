//! The evaluation's results as text and as a benchmark report
//! (`{bench, setup, finished_at, figures, details}`, the format
//! `scripts/bench-summary.py` gathers), every Loop figure beside the
//! baseline measured in the same run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use loop_platform::bench::Figure;
use serde_json::{Value, json};

use super::split::Scores;

/// The rankers compared, in the order they are printed.
pub const LOOP: &str = "Loop";
pub const LOOP_NO_EXPLORATION: &str = "Loop without exploration";
pub const LOOP_HAND_SET: &str = "Loop, hand-set weights";
pub const POPULAR: &str = "most-popular";
pub const KNN: &str = "item-KNN (cosine)";
pub const RANDOM: &str = "random";
pub const RANKERS: [&str; 6] = [
    LOOP,
    LOOP_NO_EXPLORATION,
    LOOP_HAND_SET,
    POPULAR,
    KNN,
    RANDOM,
];

/// Which targets the figures are judged against.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Targets {
    /// Issue 15's, for the real log: Loop at least 1.5x most-popular and
    /// at least item-KNN, on Recall and NDCG.
    #[default]
    Issue,
    /// What CI holds on the synthetic sample: Loop above most-popular above
    /// random (item-KNN shown, not judged).
    Ordering,
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub targets: Targets,
    /// `split` or `prequential`.
    pub mode: String,
    pub k: usize,
    pub setup: String,
    /// Summed scores per ranker.
    pub scores: BTreeMap<String, Scores>,
    /// How many of Loop's items came from each source.
    pub sources: BTreeMap<String, usize>,
    /// Loop's items scored, and how many of them exploration put there
    /// (not on the same page without exploration).
    pub items: usize,
    pub explored: usize,
    /// What the ranking weights learned from the impressions served.
    pub learned: Option<super::ranker::Learned>,
    pub seconds: f64,
}

impl Results {
    pub fn mean(&self, ranker: &str) -> Scores {
        self.scores.get(ranker).copied().unwrap_or_default().mean()
    }

    /// Each source's share of Loop's items.
    pub fn source_shares(&self) -> Vec<(String, f64)> {
        let total = self.sources.values().sum::<usize>().max(1) as f64;
        let mut shares: Vec<(String, f64)> = self
            .sources
            .iter()
            .map(|(s, n)| (s.clone(), *n as f64 / total))
            .collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        shares
    }

    /// Exploration's share of Loop's items, and what it costs: the share
    /// of Recall@K the page without exploration has and Loop's lacks.
    pub fn exploration(&self) -> (f64, f64) {
        let share = self.explored as f64 / self.items.max(1) as f64;
        let (with, without) = (
            self.mean(LOOP).recall,
            self.mean(LOOP_NO_EXPLORATION).recall,
        );
        let cost = if without > 0.0 {
            1.0 - with / without
        } else {
            0.0
        };
        (share, cost)
    }

    /// Loop against its baselines, judged by `self.targets`.
    pub fn figures(&self) -> Vec<Figure> {
        let k = self.k;
        let (over_popular, over_knn) = match self.targets {
            Targets::Issue => (1.5, Some(1.0)),
            Targets::Ordering => (1.0, None),
        };
        let judged = |f: Figure, target: Option<f64>| match target {
            Some(t) => f.at_least(t),
            None => f,
        };
        let (l, p, knn, r) = (
            self.mean(LOOP),
            self.mean(POPULAR),
            self.mean(KNN),
            self.mean(RANDOM),
        );
        let no_explore = self.mean(LOOP_NO_EXPLORATION);
        let hand_set = self.mean(LOOP_HAND_SET);
        vec![
            Figure::new(format!("Loop Recall@{k}"), l.recall, "")
                .against(format!("most-popular Recall@{k}"), p.recall)
                .at_least(over_popular),
            judged(
                Figure::new(format!("Loop Recall@{k} (vs item-KNN)"), l.recall, "")
                    .against(format!("item-KNN Recall@{k}"), knn.recall),
                over_knn,
            ),
            Figure::new(format!("Loop NDCG@{k}"), l.ndcg, "")
                .against(format!("most-popular NDCG@{k}"), p.ndcg)
                .at_least(over_popular),
            judged(
                Figure::new(format!("Loop NDCG@{k} (vs item-KNN)"), l.ndcg, "")
                    .against(format!("item-KNN NDCG@{k}"), knn.ndcg),
                over_knn,
            ),
            Figure::new(format!("Loop HitRate@{k}"), l.hit_rate, "")
                .against(format!("most-popular HitRate@{k}"), p.hit_rate),
            Figure::new(format!("most-popular Recall@{k}"), p.recall, "")
                .against(format!("random Recall@{k}"), r.recall)
                .at_least(1.0),
            Figure::new(format!("Loop Recall@{k} with exploration"), l.recall, "")
                .against("the same without exploration", no_explore.recall),
            Figure::new(
                format!("Loop Recall@{k} with learned weights"),
                l.recall,
                "",
            )
            .against("the same with the hand-set weights", hand_set.recall),
            Figure::new(format!("Loop NDCG@{k} with learned weights"), l.ndcg, "")
                .against("the same with the hand-set weights", hand_set.ndcg),
        ]
    }

    /// The text report: a table of every ranker, the ratios, Loop's sources.
    pub fn render(&self) -> String {
        let k = self.k;
        let mut out = String::new();
        let _ = writeln!(out, "loopctl eval ({}): {}", self.mode, self.setup);
        let _ = writeln!(out, "Loop's path: {}\n", super::ranker::PATH);
        let _ = writeln!(
            out,
            "| ranker | HitRate@{k} | Recall@{k} | NDCG@{k} | lists scored |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for name in RANKERS {
            let s = self.mean(name);
            let _ = writeln!(
                out,
                "| {name} | {:.4} | {:.4} | {:.4} | {} |",
                s.hit_rate, s.recall, s.ndcg, s.n
            );
        }
        let (l, p, knn) = (self.mean(LOOP), self.mean(POPULAR), self.mean(KNN));
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let _ = writeln!(
            out,
            "\nLoop / most-popular: Recall@{k} {:.2}x, NDCG@{k} {:.2}x (target >= 1.5x)",
            ratio(l.recall, p.recall),
            ratio(l.ndcg, p.ndcg)
        );
        let _ = writeln!(
            out,
            "Loop / item-KNN: Recall@{k} {:.2}x, NDCG@{k} {:.2}x (target >= 1x)",
            ratio(l.recall, knn.recall),
            ratio(l.ndcg, knn.ndcg)
        );
        let shares: Vec<String> = self
            .source_shares()
            .iter()
            .map(|(s, f)| format!("{s} {:.0}%", f * 100.0))
            .collect();
        let _ = writeln!(out, "Loop's items by source: {}", shares.join(", "));
        let (share, cost) = self.exploration();
        let _ = writeln!(
            out,
            "Exploration: {:.1}% of Loop's items (not on the page without it), costing {:.1}% of Recall@{k}",
            share * 100.0,
            cost * 100.0
        );
        if let Some(l) = &self.learned {
            let weights: Vec<String> = l
                .weights
                .iter()
                .map(|(name, prior, w)| format!("{name} {prior:.2} -> {w:.3}"))
                .collect();
            let _ = writeln!(
                out,
                "Scoring weights learned from {} labelled impressions ({} engaged): {}",
                l.examples,
                l.positives,
                weights.join(", ")
            );
        }
        let _ = writeln!(out, "({:.1} s)", self.seconds);
        out
    }

    /// The benchmark report document.
    pub fn to_json(&self) -> Value {
        let scores: BTreeMap<&str, Value> = RANKERS
            .iter()
            .map(|name| {
                let s = self.mean(name);
                (
                    *name,
                    json!({"hit_rate": s.hit_rate, "recall": s.recall, "ndcg": s.ndcg, "lists": s.n}),
                )
            })
            .collect();
        json!({
            "bench": format!("eval-{}", self.mode),
            "setup": self.setup,
            "finished_at": chrono::Utc::now().to_rfc3339(),
            "figures": self.figures().iter().map(Figure::to_json).collect::<Vec<_>>(),
            "details": {
                "mode": self.mode,
                "k": self.k,
                "path": super::ranker::PATH,
                "scores": scores,
                "loop_sources": self.source_shares().into_iter().collect::<BTreeMap<_, _>>(),
                "exploration": {"share": self.exploration().0, "recall_cost": self.exploration().1},
                "learned_weights": self.learned.as_ref().map(|l| json!({
                    "examples": l.examples,
                    "positives": l.positives,
                    "weights": l.weights.iter().map(|(n, prior, w)| (n.clone(), json!({"hand_set": prior, "served": w}))).collect::<BTreeMap<_, _>>(),
                })),
                "seconds": self.seconds,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_put_loop_beside_its_baselines_with_the_issues_targets() {
        let mut r = Results {
            mode: "split".into(),
            k: 20,
            ..Default::default()
        };
        let at = |recall: f64, ndcg: f64| Scores {
            hit_rate: 1.0,
            recall,
            ndcg,
            n: 1,
        };
        r.scores.insert(LOOP.into(), at(0.3, 0.2));
        r.scores.insert(POPULAR.into(), at(0.1, 0.1));
        r.scores.insert(KNN.into(), at(0.25, 0.25));
        r.scores.insert(RANDOM.into(), at(0.01, 0.01));
        r.sources.insert("collaborative".into(), 3);
        r.sources.insert("trending".into(), 1);
        r.scores.insert(LOOP_NO_EXPLORATION.into(), at(0.4, 0.2));
        (r.items, r.explored) = (20, 2);
        let f = r.figures();
        assert_eq!(f[0].met(), Some(true), "3x most-popular");
        assert_eq!(f[1].met(), Some(true), "1.2x item-KNN");
        assert_eq!(f[3].met(), Some(false), "NDCG below item-KNN");
        // On the sample, CI's ordering: item-KNN is shown, not judged.
        r.targets = Targets::Ordering;
        let f = r.figures();
        assert_eq!(f[0].met(), Some(true));
        assert_eq!(f[3].met(), None);
        let doc = r.to_json();
        assert_eq!(doc["bench"], "eval-split");
        assert_eq!(doc["details"]["loop_sources"]["collaborative"], 0.75);
        let text = r.render();
        assert!(
            text.contains("| Loop | 1.0000 | 0.3000 | 0.2000 | 1 |"),
            "{text}"
        );
        assert!(text.contains("collaborative 75%, trending 25%"), "{text}");
        assert!(
            text.contains("Exploration: 10.0% of Loop's items (not on the page without it), costing 25.0% of Recall@20"),
            "{text}"
        );
        assert_eq!(doc["details"]["exploration"]["share"], 0.1);
    }
}
