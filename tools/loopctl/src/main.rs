//! loopctl: operations CLI for Loop.

use clap::{Parser, Subcommand};
use loop_platform::config::KafkaConfig;
use loopctl::{BrokerArgs, dlq, eval, offsets, parse_start, replay, seed, simulate, wallet};

#[derive(Parser)]
#[command(
    name = "loopctl",
    version,
    about = "Operate a Loop deployment",
    after_help = "Examples:\n  loopctl seed\n  loopctl simulate --viewers 2000 --creators 200 --duration 60s\n  loopctl replay --topic engagement.v1 --from time:2026-11-23T10:00:00Z --dry-run\n  loopctl replay --rebuild --target-prefix loop:ranker:v2: --swap\n  loopctl eval --data ~/.cache/loop/data/ml-latest-small\n  loopctl offsets show --group feed-ranking --topic engagement.v1\n  loopctl dlq list --topic engagement.v1\n  loopctl wallet reconcile\n  loopctl wallet export --out wallet.journal"
)]
struct Cli {
    #[command(flatten)]
    broker: BrokerArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create demo creators, sounds, videos, viewers, follows and likes through the gateway's public API.
    #[command(
        after_help = "Idempotent: existing demo accounts log in instead of signing up again.\n\nExample:\n  loopctl seed --gateway http://127.0.0.1:8080"
    )]
    Seed(seed::Args),
    /// Drive the running platform through the gateway's public API with simulated viewers, creators and advertisers, and report what clients saw.
    #[command(
        after_help = "Set-up (accounts, videos, campaigns) comes first and is not measured; then traffic runs for\n--duration at up to --rate requests/s, then shopping (showcase, video and LIVE-bag purchases, a\nflash sale and an auction: about 30 s more) and the ledger's reconciliation. Prints a report\nand writes it as JSON (--json).\nAccounts are named after --seed, so a rerun with the same seed logs them in again.\n\nExamples:\n  make up && loopctl simulate --viewers 2000 --creators 200 --duration 60s\n  loopctl simulate --viewers 200 --creators 40 --duration 20s --rate 80 --seed 7 --json sim.json"
    )]
    Simulate(simulate::Args),
    /// Re-read a topic over a range: count it (--dry-run), republish it (--republish-to), or rebuild the ranker's state (--rebuild).
    #[command(
        after_help = "Examples:\n  loopctl replay --topic engagement.v1 --from beginning --dry-run\n  loopctl replay --topic engagement.v1 --from offset:1000 --republish-to engagement.replay.v1\n  loopctl replay --rebuild --target-prefix loop:ranker:v2: --swap\n\nA rebuild replays content.v1 and engagement.v1 into a fresh Redis prefix; --swap then points the\nranker at it (replicas use it from their next restart). Run the same rebuild again after the\nrestart to pick up events that arrived in between: replays are idempotent."
    )]
    Replay(ReplayArgs),
    /// Measure For You on a real interaction log (HitRate@K, Recall@K, NDCG@K) beside most-popular, item-KNN and random baselines from the same events.
    #[command(
        after_help = "The log is a directory with ratings.tsv (user_id, movie_id, rating, timestamp) and movies.tsv\n(movie_id, title, year, genres): a movie is a video, its genres its hashtags; a rating >= 4 is an\nimpression, a complete view and a like, 3 an impression and a partial view, below 3 an impression\nand a quick skip. Each user's last --holdout of ratings is held out. Loop runs in-process on its\nreal code path (both consumers' batch handlers and the For You function) against Redis under\na fresh key prefix, deleted afterwards; no broker or running platform is needed.\n\nExamples:\n  ../shared/data/movielens-small.sh && loopctl eval --data ~/.cache/loop/data/ml-latest-small\n  loopctl eval --data tools/loopctl/data/eval-sample --targets ordering --json target/bench/eval.json\n  loopctl eval --data ~/.cache/loop/data/ml-latest-small --mode prequential --max-events 2000\n  loopctl eval --write-sample tools/loopctl/data/eval-sample"
    )]
    Eval(eval::Args),
    /// Show or reset a consumer group's offsets.
    #[command(subcommand)]
    Offsets(OffsetsCommand),
    /// List and re-drive dead-lettered messages.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Check the wallet's ledger, export it as a journal, rebuild leaderboards.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Make the Ed25519 keys services sign and verify tokens with (docs/security.md).
    #[command(subcommand)]
    Keys(KeysCommand),
}

// `loopctl replay`'s options, a struct of their own so the command is a
// function of them (no doc comment: clap would take it for the about text).
#[derive(clap::Args)]
struct ReplayArgs {
    /// Logical topic (content.v1, engagement.v1, wallet.v1, ads.v1).
    #[arg(long, default_value = "engagement.v1")]
    topic: String,
    /// beginning, offset:<n> or time:<RFC 3339>.
    #[arg(long, default_value = "beginning")]
    from: String,
    /// Only print what would be read.
    #[arg(long)]
    dry_run: bool,
    /// Copy the range into this logical topic.
    #[arg(long, conflicts_with = "rebuild")]
    republish_to: Option<String>,
    /// Rebuild the ranker's state into --target-prefix.
    #[arg(long)]
    rebuild: bool,
    #[arg(long, env = "LOOP_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// The ranker's configured (live) key prefix.
    #[arg(long, default_value = "loop:ranker:")]
    live_prefix: String,
    /// Fresh prefix to rebuild into.
    #[arg(long, required_if_eq("rebuild", "true"))]
    target_prefix: Option<String>,
    /// After the rebuild, make the ranker use the new prefix.
    #[arg(long, requires = "rebuild")]
    swap: bool,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Print a new private signing key (a JWK) for one issuer: the gateway (user tokens) or a service (its own calls).
    #[command(
        after_help = "The key id is <issuer>:<label>. Give the private key to that service alone\n(LOOP_<SVC>__AUTH__SIGNING_KEY) and its public half to every service (`loopctl keys jwks`).\n\nExamples:\n  loopctl keys generate gateway --label 2026-12 > gateway.jwk\n  loopctl keys generate ads-auction > ads-auction.jwk"
    )]
    Generate {
        /// gateway, feed-ranking, ads-auction, creator-marketplace, content or wallet.
        issuer: String,
        /// Distinguishes this key from the issuer's others while rotating.
        #[arg(long, default_value_t = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string())]
        label: String,
    },
    /// Print the JWKS of the public halves of private keys (files, or - for stdin), for LOOP_<SVC>__AUTH__TRUSTED_KEYS.
    #[command(
        after_help = "List old and new keys together while rotating; drop the old one once tokens it\nsigned have expired.\n\nExample:\n  loopctl keys jwks gateway.jwk ads-auction.jwk feed-ranking.jwk creator-marketplace.jwk"
    )]
    Jwks {
        /// Private or public JWK files.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print the well-known development keys (accepted only when LOOP_ENV=development).
    #[command(after_help = "Example:\n  loopctl keys development")]
    Development,
}

#[derive(Subcommand)]
enum WalletCommand {
    /// Prove the ledger balances: per-asset entry sums are zero, every cached balance equals its entries, every transaction balances, no user account is negative. Exits 1 when not.
    #[command(
        after_help = "Reads one consistent snapshot of the wallet database (read only).\n\nExamples:\n  loopctl wallet reconcile\n  loopctl wallet reconcile --database-url postgres://postgres@db:5432/wallet --limit 20"
    )]
    Reconcile {
        #[command(flatten)]
        db: wallet::DbArgs,
        /// Most mismatches / unbalanced transactions to list.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Write the ledger as an hledger/ledger journal, one transaction per ledger transaction, with balance assertions.
    #[command(
        after_help = "Every posting asserts its account's running balance, and a closing entry asserts every\nstored (cached) balance, so `hledger -f wallet.journal check` proves the books.\n\nExamples:\n  loopctl wallet export --out wallet.journal && hledger -f wallet.journal check\n  loopctl wallet export --out - | less"
    )]
    Export {
        #[command(flatten)]
        db: wallet::DbArgs,
        /// File to write, or - for stdout.
        #[arg(long, default_value = "wallet.journal")]
        out: String,
    },
    /// Delete the gift leaderboards in Redis; the running wallet rebuilds them from the ledger.
    #[command(after_help = "Example:\n  loopctl wallet rebuild-leaderboards --yes")]
    RebuildLeaderboards {
        #[arg(long, env = "LOOP_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
        redis_url: String,
        /// The wallet's configured Redis key prefix.
        #[arg(long, default_value = "loop:wallet:")]
        prefix: String,
        /// Confirm: boards are empty until the wallet has rebuilt them.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum OffsetsCommand {
    /// Committed offset, high watermark and lag per partition.
    #[command(
        after_help = "Example:\n  loopctl offsets show --group feed-ranking --topic engagement.v1"
    )]
    Show {
        #[arg(long)]
        group: String,
        #[arg(long)]
        topic: String,
    },
    /// Move a group (its consumers must be stopped) to earliest, latest or a time.
    #[command(
        after_help = "Examples:\n  loopctl offsets reset --group feed-ranking --topic engagement.v1 --to earliest --yes\n  loopctl offsets reset --group feed-ranking --topic engagement.v1 --to time:2026-11-23T10:00:00Z --yes"
    )]
    Reset {
        #[arg(long)]
        group: String,
        #[arg(long)]
        topic: String,
        /// earliest, latest or time:<RFC 3339>.
        #[arg(long)]
        to: String,
        /// Confirm: consumers of the group are stopped.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Dead letters of a topic with their errors.
    #[command(after_help = "Example:\n  loopctl dlq list --topic engagement.v1")]
    List {
        #[arg(long)]
        topic: String,
    },
    /// Re-publish dead letters not yet re-driven to their original topic.
    #[command(after_help = "Example:\n  loopctl dlq redrive --topic engagement.v1 --yes")]
    Redrive {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        yes: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("loopctl: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let kafka = cli.broker.kafka();
    match cli.command {
        Command::Keys(command) => keys(command),
        Command::Seed(args) => seed::run(args).await,
        Command::Simulate(args) => run_simulate(args).await,
        Command::Replay(args) => run_replay(&kafka, args).await,
        Command::Eval(args) => run_eval(args).await,
        Command::Offsets(command) => run_offsets(&kafka, command),
        Command::Dlq(command) => run_dlq(&kafka, command).await,
        Command::Wallet(command) => run_wallet(command).await,
    }
}

/// Runs the simulation and prints its report (also written as JSON).
async fn run_simulate(args: simulate::Args) -> anyhow::Result<()> {
    let report = simulate::run(args.clone()).await?;
    println!("{}", simulate::render(&report));
    eprintln!("report written to {}", args.json);
    Ok(())
}

/// Runs the evaluation and prints its report (or writes the sample).
async fn run_eval(args: eval::Args) -> anyhow::Result<()> {
    match eval::run(&args).await? {
        Some(results) => {
            println!("{}", results.render());
            if let Some(path) = &args.json {
                eprintln!("report written to {}", path.display());
            }
        }
        None => {
            if let Some(dir) = &args.write_sample {
                eprintln!("sample written to {}", dir.display());
            }
        }
    }
    Ok(())
}

/// A dry run (also when nothing else is asked) prints the ranges;
/// otherwise the range is republished or the ranker's state rebuilt.
async fn run_replay(kafka: &KafkaConfig, args: ReplayArgs) -> anyhow::Result<()> {
    let ReplayArgs {
        topic,
        from,
        dry_run,
        republish_to,
        rebuild,
        redis_url,
        live_prefix,
        target_prefix,
        swap,
    } = args;
    let start = parse_start(&from)?;
    if dry_run || (republish_to.is_none() && !rebuild) {
        let ranges = replay::plan(kafka, &topic, start).await?;
        let total: i64 = ranges.iter().map(|r| r.end - r.start).sum();
        for r in &ranges {
            println!(
                "{topic} partition {:>3}: offsets {}..{} ({} messages)",
                r.partition,
                r.start,
                r.end,
                r.end - r.start
            );
        }
        println!("total: {total} messages (dry run: nothing written)");
        return Ok(());
    }
    if let Some(target) = republish_to {
        let outcome = replay::republish(kafka, &topic, &target, start, true).await?;
        println!(
            "republished {} messages from {topic} to {target}",
            outcome.messages
        );
        return Ok(());
    }
    let target_prefix =
        target_prefix.ok_or_else(|| anyhow::anyhow!("--rebuild needs --target-prefix"))?;
    let report = replay::rebuild(
        kafka,
        &redis_url,
        &live_prefix,
        &target_prefix,
        start,
        swap,
        true,
    )
    .await?;
    println!(
        "rebuilt into {target_prefix}: {} content events, {} engagement events, {} wallet events, {} commerce events, {} poison skipped{}",
        report.content_events,
        report.engagement_events,
        report.wallet_events,
        report.commerce_events,
        report.poison,
        if swap {
            "; swapped: restart the ranker replicas to use it"
        } else {
            ""
        }
    );
    Ok(())
}

fn run_offsets(kafka: &KafkaConfig, command: OffsetsCommand) -> anyhow::Result<()> {
    match command {
        OffsetsCommand::Show { group, topic } => {
            print_positions(&offsets::show(kafka, &group, &topic)?);
        }
        OffsetsCommand::Reset {
            group,
            topic,
            to,
            yes,
        } => {
            if !yes {
                anyhow::bail!("resetting moves group {group}; stop its consumers and pass --yes");
            }
            print_positions(&offsets::reset(
                kafka,
                &group,
                &topic,
                offsets::parse_reset(&to)?,
            )?);
        }
    }
    Ok(())
}

async fn run_dlq(kafka: &KafkaConfig, command: DlqCommand) -> anyhow::Result<()> {
    match command {
        DlqCommand::List { topic } => {
            let letters = dlq::list(kafka, &topic).await?;
            for l in &letters {
                println!(
                    "{}/{} {} from {}[{}]@{} key={} bytes={}: {}",
                    l.partition,
                    l.offset,
                    if l.redriven { "re-driven" } else { "PENDING  " },
                    l.original_topic,
                    l.original_partition,
                    l.original_offset,
                    l.key,
                    l.payload_bytes,
                    l.error
                );
            }
            println!(
                "{} dead letters, {} pending",
                letters.len(),
                letters.iter().filter(|l| !l.redriven).count()
            );
        }
        DlqCommand::Redrive { topic, yes } => {
            if !yes {
                anyhow::bail!(
                    "re-driving republishes dead letters to {topic}; pass --yes once the consumer is fixed"
                );
            }
            let n = dlq::redrive(kafka, &topic).await?;
            println!("re-drove {n} dead letters to {topic}");
        }
    }
    Ok(())
}

async fn run_wallet(command: WalletCommand) -> anyhow::Result<()> {
    match command {
        WalletCommand::Reconcile { db, limit } => {
            if !wallet::reconcile(&db, limit).await? {
                anyhow::bail!("the wallet ledger is inconsistent")
            }
        }
        WalletCommand::Export { db, out } => {
            let summary = wallet::export(&db, &out).await?;
            eprintln!(
                "wrote {} transactions, {} postings and {} stored balances to {out}",
                summary.transactions, summary.postings, summary.accounts
            );
        }
        WalletCommand::RebuildLeaderboards {
            redis_url,
            prefix,
            yes,
        } => {
            if !yes {
                anyhow::bail!("boards are empty until the wallet rebuilds them; pass --yes");
            }
            let n = wallet::rebuild_leaderboards(&redis_url, &prefix).await?;
            println!("deleted {n} leaderboard keys; the wallet rebuilds them from the ledger");
        }
    }
    Ok(())
}

fn print_positions(positions: &[offsets::Position]) {
    println!(
        "{:<40} {:>9} {:>12} {:>12} {:>8}",
        "topic", "partition", "committed", "high", "lag"
    );
    for p in positions {
        let committed = p
            .committed
            .map_or_else(|| "-".to_owned(), |c| c.to_string());
        println!(
            "{:<40} {:>9} {:>12} {:>12} {:>8}",
            p.topic, p.partition, committed, p.high_watermark, p.lag
        );
    }
}

fn keys(command: KeysCommand) -> anyhow::Result<()> {
    use loop_platform::auth::{Jwk, JwkSet, SigningKey};
    match command {
        KeysCommand::Generate { issuer, label } => {
            let key = SigningKey::generate(&issuer, &label)
                .map_err(|e| anyhow::anyhow!("{issuer}:{label}: {e}"))?;
            println!("{}", serde_json::to_string(&key.private_jwk())?);
        }
        KeysCommand::Jwks { files } => {
            let mut set = JwkSet::default();
            for file in files {
                let text = if file == "-" {
                    std::io::read_to_string(std::io::stdin())?
                } else {
                    std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("{file}: {e}"))?
                };
                let jwk: Jwk = serde_json::from_str(text.trim())
                    .map_err(|e| anyhow::anyhow!("{file}: not a JWK: {e}"))?;
                set.keys.push(Jwk { d: None, ..jwk });
            }
            // Checks every key the way the services will.
            loop_platform::auth::Verifier::from_set(&set).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", serde_json::to_string(&set)?);
        }
        KeysCommand::Development => {
            println!("# accepted only when LOOP_ENV=development");
            println!(
                "trusted_keys: {}",
                serde_json::to_string(&loop_platform::auth::development_jwks())?
            );
            for issuer in loop_platform::auth::ISSUERS {
                let key = SigningKey::development(issuer);
                println!("{issuer}: {}", serde_json::to_string(&key.private_jwk())?);
            }
        }
    }
    Ok(())
}
