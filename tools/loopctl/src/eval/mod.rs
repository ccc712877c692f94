//! `loopctl eval`: how well For You predicts what real viewers do next,
//! beside baselines computed in the same run on the same events.
//!
//! An interaction log (see [`data`]) is split per user in time; Loop learns
//! from the training events on its real code path (see [`ranker`]) while the
//! baselines (most-popular, item-KNN, random; [`baselines`]) count the same
//! events. `split` then asks every ranker for each user's first page of K
//! and scores it against the user's held-out liked items; `prequential`
//! walks the held-out events in time order instead: for each liked one,
//! every ranker recommends K for that user and is scored on that item, then
//! the event is applied to all of them (the standard for streaming
//! recommenders).

pub mod baselines;
pub mod data;
pub mod ranker;
pub mod report;
pub mod sample;
pub mod split;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use baselines::{History, ItemKnn, MostPopular, RandomPicks};
use data::{Dataset, Outcome, Rating};
use ranker::{LoopRanker, Weights};
use report::Results;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Each user's first page against their held-out liked items.
    Split,
    /// Each held-out liked event in time order: recommend, score, then apply it.
    Prequential,
}

#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Directory holding ratings.tsv and movies.tsv.
    #[arg(long, required_unless_present = "write_sample")]
    pub data: Option<PathBuf>,
    /// Page size scored (HitRate@K, Recall@K, NDCG@K).
    #[arg(long, default_value_t = 20)]
    pub k: usize,
    #[arg(long, value_enum, default_value = "split")]
    pub mode: Mode,
    /// Share of each user's latest events held out.
    #[arg(long, default_value_t = 0.2)]
    pub holdout: f64,
    /// Prequential: score at most this many held-out liked events (0: all).
    #[arg(long, default_value_t = 0)]
    pub max_events: usize,
    /// Training is applied in rounds of this many ratings; before each,
    /// every user who rates in it is served a page of K, reported back as
    /// impressions, so the ranking weights learn from served-then-engaged
    /// labels (0: no pages during training).
    #[arg(long, default_value_t = 500)]
    pub serve_every: usize,
    /// Seed of the random baseline.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also write the results as a benchmark report (JSON) here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// The targets the report judges: issue (the real log's: 1.5x
    /// most-popular, at least item-KNN) or ordering (the sample's: Loop
    /// above most-popular above random).
    #[arg(long, value_enum, default_value = "issue")]
    pub targets: report::Targets,
    #[arg(long, env = "LOOP_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Override a ranker setting for this run (repeatable): a dotted path
    /// under learning or feed and a JSON value, e.g.
    /// learning.co_window=20 or feed.scoring.popularity=0.3.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Write the synthetic CI sample (seeded) into this directory and exit.
    #[arg(long, conflicts_with = "data")]
    pub write_sample: Option<PathBuf>,
}

impl Args {
    fn validate(&self) -> anyhow::Result<()> {
        if !(1..=200).contains(&self.k) {
            anyhow::bail!(
                "--k must be 1..=200 (the For You page limit), got {}",
                self.k
            );
        }
        if !(self.holdout > 0.0 && self.holdout < 1.0) {
            anyhow::bail!("--holdout must be between 0 and 1, got {}", self.holdout);
        }
        Ok(())
    }
}

/// Runs the evaluation `args` asks for; `None` when it only wrote the sample.
pub async fn run(args: &Args) -> anyhow::Result<Option<Results>> {
    if let Some(dir) = &args.write_sample {
        sample::write(dir, sample::SEED)?;
        return Ok(None);
    }
    args.validate()?;
    let dir = args
        .data
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("--data is required"))?;
    let data = Dataset::load(dir)?;
    let results = evaluate(&data, args, &dir.display().to_string()).await?;
    if let Some(path) = &args.json {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, serde_json::to_vec_pretty(&results.to_json())?)?;
    }
    Ok(Some(results))
}

/// Everything a run keeps: the baselines' state and Loop's.
struct Rankers {
    history: History,
    popular: MostPopular,
    knn: ItemKnn,
    random: RandomPicks,
    loop_ranker: LoopRanker,
}

impl Rankers {
    /// Applies ratings (indexes into `data.ratings`, in time order) to every ranker.
    async fn apply(&mut self, data: &Dataset, indexes: &[usize]) -> anyhow::Result<()> {
        let mut events = Vec::with_capacity(indexes.len() * 3);
        for &i in indexes {
            let r = &data.ratings[i];
            events.extend(self.loop_ranker.events(i, r));
            self.apply_baselines(r);
        }
        self.loop_ranker.apply(&events).await?;
        self.loop_ranker.refresh().await
    }

    /// Applies training ratings in rounds of `serve_every` (in time order):
    /// before each round, every user who rates in it is served a page of
    /// `k` and it is reported as shown a second before their first rating
    /// of the round; what they rate next labels it. What they rated is
    /// recorded as shown, as the feed would have.
    async fn train(
        &mut self,
        data: &Dataset,
        indexes: &[usize],
        k: usize,
        serve_every: usize,
    ) -> anyhow::Result<()> {
        let rounds = if serve_every == 0 {
            indexes.chunks(indexes.len().max(1))
        } else {
            indexes.chunks(serve_every)
        };
        for round in rounds {
            let mut first: std::collections::BTreeMap<u32, i64> = Default::default();
            let mut rated: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
            for &i in round {
                let r = &data.ratings[i];
                first.entry(r.user).or_insert(r.at_s);
                rated.entry(r.user).or_default().push(r.item);
            }
            if serve_every > 0 {
                for (&user, &at_s) in &first {
                    let page = self
                        .loop_ranker
                        .recommend(user, k, true, Weights::Learned)
                        .await?;
                    self.loop_ranker.report_shown(user, &page, at_s - 1).await?;
                }
            }
            self.apply(data, round).await?;
            for (user, items) in rated {
                self.loop_ranker.mark_seen(user, &items).await?;
            }
        }
        Ok(())
    }

    fn apply_baselines(&mut self, r: &Rating) {
        if Outcome::of(r.stars).engaged() {
            let before = &self.history.engaged[r.user as usize];
            if !before.contains(&r.item) {
                self.knn.engage(before, r.item);
                self.popular.engage(r.item);
            }
            self.history.engage(r.user, r.item);
        } else {
            self.history.see(r.user, r.item);
        }
    }

    /// Every ranker's list for `user`, scored against `relevant`; returns
    /// Loop's page (the one a client would have been served).
    async fn score(
        &mut self,
        user: u32,
        relevant: &HashSet<u32>,
        k: usize,
        results: &mut Results,
    ) -> anyhow::Result<ranker::Page> {
        let seen = &self.history.seen[user as usize];
        let ranker = &self.loop_ranker;
        let page = ranker.recommend(user, k, true, Weights::Learned).await?;
        let plain = ranker.recommend(user, k, false, Weights::Learned).await?;
        // Exploration's share: the items it put on the page in place of
        // what the page without it shows.
        let unexplored: HashSet<u32> = plain.items.iter().copied().collect();
        results.explored += page
            .items
            .iter()
            .filter(|i| !unexplored.contains(i))
            .count();
        results.items += page.items.len();
        let hand_set = ranker.recommend(user, k, true, Weights::HandSet).await?;
        let lists = [
            (report::LOOP, page.items.clone()),
            (report::LOOP_NO_EXPLORATION, plain.items),
            (report::LOOP_HAND_SET, hand_set.items),
            (report::POPULAR, self.popular.recommend(seen, k)),
            (
                report::KNN,
                self.knn
                    .recommend(&self.history.engaged[user as usize], seen, k),
            ),
            (report::RANDOM, self.random.recommend(seen, k)),
        ];
        for (name, list) in lists {
            results
                .scores
                .entry(name.to_owned())
                .or_default()
                .add(&list, relevant, k);
        }
        for source in &page.sources {
            *results.sources.entry(source.clone()).or_default() += 1;
        }
        Ok(page)
    }
}

async fn evaluate(data: &Dataset, args: &Args, name: &str) -> anyhow::Result<Results> {
    let started = Instant::now();
    let split = split::temporal_split(&data.ratings, args.holdout);
    let items = data.items.len();
    let mut rankers = Rankers {
        history: History::new(data.users()),
        popular: MostPopular::new(items),
        knn: ItemKnn::new(items)?,
        random: RandomPicks::new(items, args.seed),
        loop_ranker: LoopRanker::start(&args.redis_url, data, &args.set).await?,
    };
    let outcome = run_mode(&mut rankers, data, &split, args).await;
    // The evaluation's keys go whether it succeeded or not.
    rankers.loop_ranker.clear().await?;
    let mut results = outcome?;
    results.setup = format!(
        "{name}: {} users, {} items, {} ratings ({} training, {} held out: each user's last {:.0}%); K = {}",
        data.users(),
        items,
        data.ratings.len(),
        split.train.len(),
        split.test.len(),
        args.holdout * 100.0,
        args.k
    );
    results.seconds = started.elapsed().as_secs_f64();
    Ok(results)
}

async fn run_mode(
    rankers: &mut Rankers,
    data: &Dataset,
    split: &split::Split,
    args: &Args,
) -> anyhow::Result<Results> {
    let mut results = Results {
        k: args.k,
        targets: args.targets,
        ..Default::default()
    };
    rankers
        .train(data, &split.train, args.k, args.serve_every)
        .await?;
    match args.mode {
        Mode::Split => {
            results.mode = "split".into();
            let mut users: Vec<&u32> = split.liked.keys().collect();
            users.sort_unstable();
            for user in users {
                rankers
                    .score(*user, &split.liked[user], args.k, &mut results)
                    .await?;
            }
        }
        Mode::Prequential => {
            results.mode = "prequential".into();
            let mut scored = 0usize;
            for &i in &split.test {
                let r = data.ratings[i];
                let budget = args.max_events == 0 || scored < args.max_events;
                if budget && Outcome::of(r.stars) == Outcome::Liked {
                    let relevant = HashSet::from([r.item]);
                    let page = rankers
                        .score(r.user, &relevant, args.k, &mut results)
                        .await?;
                    // Served, then what the user did labels it.
                    rankers
                        .loop_ranker
                        .report_shown(r.user, &page, r.at_s - 1)
                        .await?;
                    scored += 1;
                }
                rankers.apply(data, &[i]).await?;
                rankers.loop_ranker.mark_seen(r.user, &[r.item]).await?;
            }
        }
    }
    results.learned = Some(rankers.loop_ranker.learned().await?);
    Ok(results)
}
