//! Balances and history.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use loop_platform::auth::Caller;
use loop_platform::pagination;
use loop_proto::common::v1::PageResponse;
use loop_proto::wallet::v1 as pb;
use uuid::Uuid;

use crate::error::{WalletError, WalletResult};
use crate::ledger::{self, Asset, Posting, display_account};
use crate::service::WalletService;

/// A history row: transaction columns and one entry.
type HistoryRow = (Uuid, i16, String, DateTime<Utc>, String, i16, i64);

/// Entries as listings show them: shards merged into their account.
pub fn merged_entries(rows: impl IntoIterator<Item = (String, Asset, i64)>) -> Vec<pb::Entry> {
    let mut order: Vec<(String, Asset)> = Vec::new();
    let mut sums: BTreeMap<(String, Asset), i64> = BTreeMap::new();
    for (account, asset, amount) in rows {
        let key = (display_account(&account).to_owned(), asset);
        if !sums.contains_key(&key) {
            order.push(key.clone());
        }
        *sums.entry(key).or_insert(0) += amount;
    }
    order
        .into_iter()
        .filter_map(|key| {
            let amount = sums.get(&key).copied().unwrap_or(0);
            (amount != 0).then(|| pb::Entry {
                account: key.0,
                asset: key.1.to_proto() as i32,
                amount,
            })
        })
        .collect()
}

/// The proto of a posting just written.
pub fn transaction_proto(posting: &Posting, created_at: DateTime<Utc>) -> pb::Transaction {
    pb::Transaction {
        transaction_id: posting.transaction_id.to_string(),
        kind: posting.kind as i32,
        entries: merged_entries(
            posting
                .legs
                .iter()
                .map(|(a, s, m)| (a.name.clone(), *s, *m)),
        ),
        reference: posting.reference.clone(),
        created_at: Some(loop_platform::time::to_timestamp(created_at)),
    }
}

impl WalletService {
    /// The user whose data the caller reads: themself, or anyone for admins.
    pub(crate) fn readable_user(&self, caller: &Caller, requested: &str) -> WalletResult<Uuid> {
        if requested.is_empty() {
            return Ok(caller.user_id()?);
        }
        let id = loop_platform::ids::parse_id("user_id", requested)?;
        if caller.is_admin() || caller.subject == id.to_string() {
            Ok(id)
        } else {
            Err(WalletError::App(loop_platform::AppError::PermissionDenied(
                "only admins may read another user's wallet".into(),
            )))
        }
    }

    pub(crate) async fn get_balance(
        &self,
        caller: &Caller,
        req: pb::GetBalanceRequest,
    ) -> WalletResult<pb::GetBalanceResponse> {
        let user = self.readable_user(caller, &req.user_id)?;
        let mut conn = self.pool.acquire().await?;
        let balances = ledger::balances(&mut conn, user).await?;
        let diamonds = balances
            .iter()
            .find(|(a, _, _)| *a == Asset::Diamonds)
            .map_or(0, |(_, available, _)| *available);
        Ok(pb::GetBalanceResponse {
            balances: balances
                .into_iter()
                .map(|(asset, available, held)| pb::Balance {
                    asset: asset.to_proto() as i32,
                    available,
                    held,
                })
                .collect(),
            diamonds_cash_value_cents: self.config.diamonds_cash_cents(diamonds),
        })
    }

    pub(crate) async fn list_transactions(
        &self,
        caller: &Caller,
        req: pb::ListTransactionsRequest,
    ) -> WalletResult<pb::ListTransactionsResponse> {
        let user = self.readable_user(caller, &req.user_id)?;
        let asset = match req.asset {
            0 => None,
            v => Some(
                Asset::from_proto(v)
                    .ok_or_else(|| WalletError::invalid("asset", "unknown asset"))?
                    .id(),
            ),
        };
        let page = req.page.unwrap_or_default();
        let limit = pagination::page_size(page.page_size);
        let cursor: Option<Uuid> = pagination::decode(&page.page_token)?;
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "SELECT DISTINCT transaction_id FROM entries \
             WHERE owner_id = $1 AND ($2::SMALLINT IS NULL OR asset = $2) \
             AND ($3::UUID IS NULL OR transaction_id < $3) \
             ORDER BY transaction_id DESC LIMIT $4",
        )
        .bind(user)
        .bind(asset)
        .bind(cursor)
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let (ids, next) = pagination::finish(ids, limit, |id| *id);
        let rows: Vec<HistoryRow> = sqlx::query_as(
            "SELECT t.transaction_id, t.kind, t.reference, t.created_at, e.account, e.asset, e.amount \
             FROM transactions t JOIN entries e USING (transaction_id) \
             WHERE t.transaction_id = ANY($1) ORDER BY t.transaction_id DESC, e.idx",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await?;
        let mut transactions: Vec<pb::Transaction> = Vec::with_capacity(ids.len());
        let mut pending: Vec<(String, Asset, i64)> = Vec::new();
        let mut current: Option<(Uuid, i16, String, DateTime<Utc>)> = None;
        let flush = |current: &Option<(Uuid, i16, String, DateTime<Utc>)>,
                     pending: &mut Vec<(String, Asset, i64)>,
                     out: &mut Vec<pb::Transaction>| {
            if let Some((id, kind, reference, created_at)) = current {
                out.push(pb::Transaction {
                    transaction_id: id.to_string(),
                    kind: i32::from(*kind),
                    entries: merged_entries(pending.drain(..)),
                    reference: reference.clone(),
                    created_at: Some(loop_platform::time::to_timestamp(*created_at)),
                });
            }
        };
        for (id, kind, reference, created_at, account, asset, amount) in rows {
            if current.as_ref().is_none_or(|c| c.0 != id) {
                flush(&current, &mut pending, &mut transactions);
                current = Some((id, kind, reference, created_at));
            }
            if let Some(asset) = Asset::from_id(asset) {
                pending.push((account, asset, amount));
            }
        }
        flush(&current, &mut pending, &mut transactions);
        Ok(pb::ListTransactionsResponse {
            transactions,
            page: Some(PageResponse {
                next_page_token: next,
            }),
        })
    }
}
