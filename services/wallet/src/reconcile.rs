//! Proving the books: [`reconcile`] (the admin rpc and `loopctl wallet
//! reconcile`) and [`export_journal`] (`loopctl wallet export`: the ledger
//! as an hledger/ledger journal with balance assertions, so an auditor can
//! check it with standard tools).
//!
//! Both read one consistent snapshot (REPEATABLE READ, read only).

use std::collections::HashMap;
use std::io::Write;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use loop_platform::auth::Caller;
use loop_proto::wallet::v1 as pb;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::WalletResult;
use crate::ledger::Asset;
use crate::service::WalletService;

async fn snapshot(pool: &PgPool) -> sqlx::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Checks the whole ledger: per-asset entry sums are zero, every cached
/// balance equals its entries, every transaction balances, no user account
/// is negative. `limit` caps each list (0 means 100).
pub async fn reconcile(pool: &PgPool, limit: u32) -> anyhow::Result<pb::ReconcileResponse> {
    let limit = i64::from(if limit == 0 { 100 } else { limit.min(10_000) });
    let mut tx = snapshot(pool).await?;
    let sums: Vec<(i16, i64)> = sqlx::query_as(
        "SELECT asset, coalesce(sum(amount), 0)::BIGINT FROM entries GROUP BY asset",
    )
    .fetch_all(&mut *tx)
    .await?;
    let balances: Vec<(i16, bool, i64)> = sqlx::query_as(
        "SELECT asset, owner_id IS NOT NULL, coalesce(sum(balance), 0)::BIGINT FROM accounts GROUP BY 1, 2",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mismatched: Vec<(String, i16, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT coalesce(a.account, e.account), coalesce(a.asset, e.asset), a.balance, e.total \
         FROM accounts a FULL JOIN (SELECT account, asset, sum(amount)::BIGINT AS total FROM entries GROUP BY 1, 2) e \
         ON a.account = e.account AND a.asset = e.asset \
         WHERE a.balance IS DISTINCT FROM e.total AND NOT (a.balance = 0 AND e.total IS NULL) \
         ORDER BY 1, 2 LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let unbalanced: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT transaction_id FROM (SELECT transaction_id FROM entries GROUP BY transaction_id, asset \
         HAVING sum(amount) <> 0) t ORDER BY 1 LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let negative: Vec<String> = sqlx::query_scalar(
        "SELECT account || ' (' || asset || ')' FROM accounts WHERE NOT may_go_negative AND balance < 0 ORDER BY 1 LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let checked_at: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;

    let assets: Vec<pb::AssetTotals> = Asset::ALL
        .iter()
        .map(|asset| {
            let of = |user: bool| {
                balances
                    .iter()
                    .filter(|(a, u, _)| *a == asset.id() && *u == user)
                    .map(|(_, _, b)| *b)
                    .sum::<i64>()
            };
            pb::AssetTotals {
                asset: asset.to_proto() as i32,
                entries_sum: sums
                    .iter()
                    .filter(|(a, _)| *a == asset.id())
                    .map(|(_, s)| *s)
                    .sum(),
                user_balances: of(true),
                system_balances: of(false),
            }
        })
        .collect();
    let consistent = assets
        .iter()
        .all(|a| a.entries_sum == 0 && a.user_balances + a.system_balances == 0)
        && mismatched.is_empty()
        && unbalanced.is_empty()
        && negative.is_empty();
    Ok(pb::ReconcileResponse {
        consistent,
        assets,
        mismatched_accounts: mismatched
            .into_iter()
            .map(|(account, asset, stored, entries)| pb::AccountMismatch {
                account,
                asset: Asset::from_id(asset).map_or(0, |a| a.to_proto() as i32),
                stored_balance: stored.unwrap_or(0),
                entries_sum: entries.unwrap_or(0),
            })
            .collect(),
        unbalanced_transaction_ids: unbalanced.iter().map(Uuid::to_string).collect(),
        negative_user_accounts: negative,
        checked_at: Some(loop_platform::time::to_timestamp(checked_at)),
    })
}

impl WalletService {
    pub(crate) async fn reconcile(
        &self,
        caller: &Caller,
        req: pb::ReconcileRequest,
    ) -> WalletResult<pb::ReconcileResponse> {
        caller.require_admin()?;
        reconcile(&self.pool, req.limit)
            .await
            .map_err(crate::error::WalletError::internal)
    }
}

/// The journal commodity of an asset.
pub fn commodity(asset: Asset) -> &'static str {
    match asset {
        Asset::Coins => "COIN",
        Asset::Diamonds => "DIAMOND",
        Asset::Cents => "USDCENT",
    }
}

fn kind_name(kind: i16) -> String {
    pb::TransactionKind::try_from(i32::from(kind))
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("TRANSACTION_KIND_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| format!("kind {kind}"))
}

/// What an export wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    pub transactions: u64,
    pub postings: u64,
    pub accounts: u64,
}

/// Writes the whole ledger as a plain-text journal (hledger and ledger both
/// read it): one transaction per ledger transaction in (time, id) order, each
/// posting with a balance assertion of its account's running balance, and a
/// closing check asserting every account's stored (cached) balance, so a
/// journal that parses proves each transaction balances per commodity and
/// each cached balance equals its entries. Shards are written as their own
/// accounts (`user:<id>#3` is `user:<id>:shard3`) so every assertion matches
/// a stored row. `progress` is called with the transactions written so far.
pub async fn export_journal(
    pool: &PgPool,
    out: &mut (dyn Write + Send),
    progress: &(dyn Fn(u64, u64) + Sync),
) -> anyhow::Result<ExportSummary> {
    let mut tx = snapshot(pool).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM transactions")
        .fetch_one(&mut *tx)
        .await?;
    let total = u64::try_from(total).unwrap_or(0);
    writeln!(
        out,
        "; Loop wallet ledger export, {} transactions. Commodities: COIN (coins), DIAMOND (diamonds), USDCENT (US cents).\n; Check with: hledger -f <file> check   (parses, balances every transaction, checks every assertion)\n",
        total
    )?;
    let mut running: HashMap<(String, i16), i64> = HashMap::new();
    let mut summary = ExportSummary::default();
    {
        let mut rows = sqlx::query_as::<_, (Uuid, i16, String, DateTime<Utc>, String, i16, i64)>(
            "SELECT t.transaction_id, t.kind, t.reference, t.created_at, e.account, e.asset, e.amount \
             FROM transactions t JOIN entries e USING (transaction_id) ORDER BY t.created_at, t.transaction_id, e.idx",
        )
        .fetch(&mut *tx);
        let mut current: Option<Uuid> = None;
        while let Some((id, kind, reference, at, account, asset, amount)) = rows.try_next().await? {
            if current != Some(id) {
                if current.is_some() {
                    writeln!(out)?;
                }
                current = Some(id);
                summary.transactions += 1;
                if summary.transactions.is_multiple_of(10_000) {
                    progress(summary.transactions, total);
                }
                writeln!(
                    out,
                    "{} * {} {}  ; txid:{id}",
                    at.format("%Y-%m-%d"),
                    kind_name(kind),
                    reference.replace(['\n', ';'], " ")
                )?;
            }
            let Some(a) = Asset::from_id(asset) else {
                anyhow::bail!("entry of transaction {id} has unknown asset {asset}");
            };
            let balance = running.entry((account.clone(), asset)).or_insert(0);
            *balance += amount;
            writeln!(
                out,
                "    {:<60}  {} {} = {} {}",
                journal_account(&account),
                amount,
                commodity(a),
                balance,
                commodity(a)
            )?;
            summary.postings += 1;
        }
        if current.is_some() {
            writeln!(out)?;
        }
    }
    // The stored balances must equal what the postings add up to.
    let stored: Vec<(String, i16, i64)> =
        sqlx::query_as("SELECT account, asset, balance FROM accounts ORDER BY account, asset")
            .fetch_all(&mut *tx)
            .await?;
    let now = Utc::now().format("%Y-%m-%d");
    writeln!(
        out,
        "; Stored balances (the wallet's cached balance of every account)."
    )?;
    writeln!(out, "{now} * stored balances")?;
    for (account, asset, balance) in &stored {
        let Some(a) = Asset::from_id(*asset) else {
            continue;
        };
        writeln!(
            out,
            "    {:<60}  0 {} = {} {}",
            journal_account(account),
            commodity(a),
            balance,
            commodity(a)
        )?;
        summary.accounts += 1;
    }
    tx.commit().await?;
    progress(summary.transactions, total);
    out.flush()?;
    Ok(summary)
}

/// Journal account names: `:` separates levels, `#<n>` shards become `:shard<n>`.
pub fn journal_account(account: &str) -> String {
    match account.split_once('#') {
        Some((base, shard)) => format!("{base}:shard{shard}"),
        None => account.to_owned(),
    }
}
