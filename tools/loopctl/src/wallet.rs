//! `loopctl wallet`: prove the ledger balances (`reconcile`), write it as an
//! accounting journal (`export`), and rebuild the gift leaderboards.
//! Reads the wallet database directly (read only, one consistent snapshot).

use std::io::Write;

use loop_proto::wallet::v1 as pb;

/// Database options of the wallet commands.
#[derive(clap::Args, Debug, Clone)]
pub struct DbArgs {
    /// The wallet's PostgreSQL database.
    #[arg(
        long,
        env = "LOOP_WALLET__DATABASE__URL",
        default_value = "postgres://postgres@127.0.0.1:5432/wallet"
    )]
    pub database_url: String,
}

impl DbArgs {
    pub async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.database_url)
            .await?)
    }
}

fn asset_name(asset: i32) -> &'static str {
    match pb::Asset::try_from(asset) {
        Ok(pb::Asset::Coins) => "coins",
        Ok(pb::Asset::Diamonds) => "diamonds",
        Ok(pb::Asset::Cents) => "cents",
        _ => "?",
    }
}

/// Prints the reconciliation report; returns whether the ledger is consistent.
pub async fn reconcile(db: &DbArgs, limit: u32) -> anyhow::Result<bool> {
    let pool = db.pool().await?;
    let report = loop_wallet::reconcile::reconcile(&pool, limit).await?;
    println!(
        "{:<10} {:>16} {:>18} {:>18}",
        "asset", "entries sum", "user balances", "system balances"
    );
    for a in &report.assets {
        println!(
            "{:<10} {:>16} {:>18} {:>18}",
            asset_name(a.asset),
            a.entries_sum,
            a.user_balances,
            a.system_balances
        );
    }
    for m in &report.mismatched_accounts {
        println!(
            "MISMATCH {} {}: stored {} but entries add up to {}",
            m.account,
            asset_name(m.asset),
            m.stored_balance,
            m.entries_sum
        );
    }
    for t in &report.unbalanced_transaction_ids {
        println!("UNBALANCED transaction {t}");
    }
    for a in &report.negative_user_accounts {
        println!("NEGATIVE {a}");
    }
    println!(
        "{}",
        if report.consistent {
            "consistent: every asset sums to zero, every cached balance equals its entries, every transaction balances, no user account is negative"
        } else {
            "INCONSISTENT"
        }
    );
    Ok(report.consistent)
}

/// Writes the journal to `out` (`-` for stdout) with a progress bar.
pub async fn export(
    db: &DbArgs,
    out: &str,
) -> anyhow::Result<loop_wallet::reconcile::ExportSummary> {
    let pool = db.pool().await?;
    let mut writer: Box<dyn Write + Send> = if out == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        Box::new(std::io::BufWriter::new(std::fs::File::create(out)?))
    };
    let bar = crate::progress(0, "exporting transactions");
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    let summary = loop_wallet::reconcile::export_journal(&pool, writer.as_mut(), &progress).await?;
    bar.finish_and_clear();
    Ok(summary)
}

/// Deletes the boards and their cursor; the running wallet rebuilds them from the ledger.
pub async fn rebuild_leaderboards(redis_url: &str, prefix: &str) -> anyhow::Result<u64> {
    let config = loop_platform::config::RedisConfig {
        url: loop_platform::config::Secret::new(redis_url.to_owned()),
        key_prefix: prefix.to_owned(),
        ..loop_platform::config::RedisConfig::default()
    };
    let redis = loop_platform::cache::Redis::connect(&config).await?;
    loop_wallet::leaderboard::reset(&redis).await
}
