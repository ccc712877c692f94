//! Balances, history, coin purchases, top-ups, gifts, payouts, leaderboards and the admin reconcile.

use super::*;

// --- Handlers ----------------------------------------------------------------------

/// Your balances (admins: anyone's with `user_id`).
#[utoipa::path(get, path = "/v1/wallet/balance", tag = "wallet", security(("bearer" = [])),
    params(WhoQuery), responses((status = 200, body = WalletBalanceDto), Forbidden, NotFound))]
pub async fn balance(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<WhoQuery>,
) -> ApiResult<Json<WalletBalanceDto>> {
    let r = st
        .call(st.wallet().get_balance(st.req(
            &user,
            pb::GetBalanceRequest {
                user_id: q.user_id.unwrap_or_default(),
            },
        )))
        .await?;
    let of = |asset: pb::Asset| {
        r.balances.iter().find(|b| b.asset == asset as i32).map_or(
            BalanceDto {
                available: 0,
                held: 0,
            },
            |b| BalanceDto {
                available: b.available,
                held: b.held,
            },
        )
    };
    Ok(Json(WalletBalanceDto {
        coins: of(pb::Asset::Coins),
        diamonds: of(pb::Asset::Diamonds),
        cents: of(pb::Asset::Cents),
        diamonds_cash_value_cents: r.diamonds_cash_value_cents,
    }))
}

/// Your transactions, newest first (keyset pages).
#[utoipa::path(get, path = "/v1/wallet/transactions", tag = "wallet", security(("bearer" = [])),
    params(TransactionsQuery), responses((status = 200, body = Page<TransactionDto>), Forbidden))]
pub async fn transactions(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<TransactionsQuery>,
) -> ApiResult<Json<Page<TransactionDto>>> {
    let asset = enum_from_str(
        "asset",
        q.asset.as_deref().unwrap_or_default(),
        "ASSET_",
        |s| pb::Asset::from_str_name(s).map(|a| a as i32),
        ASSETS,
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.wallet().list_transactions(st.req(
            &user,
            pb::ListTransactionsRequest {
                page: page.to_proto(),
                asset,
                user_id: q.user_id.unwrap_or_default(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.transactions, r.page)))
}

/// Coin packages for sale, cheapest first.
#[utoipa::path(get, path = "/v1/wallet/coin-packages", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = ListDto<CoinPackageDto>)))]
pub async fn coin_packages(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<ListDto<CoinPackageDto>>> {
    let r = st
        .call(
            st.wallet()
                .list_coin_packages(st.req(&user, pb::ListCoinPackagesRequest {})),
        )
        .await?;
    Ok(Json(ListDto {
        items: r
            .packages
            .into_iter()
            .map(|p| CoinPackageDto {
                package_id: p.package_id,
                coins: p.coins,
                price_cents: p.price_cents,
                display_name: p.display_name,
                store_product_id: p.store_product_id,
            })
            .collect(),
    }))
}

/// Buy a coin package with a store receipt (18+; a receipt credits once).
#[utoipa::path(post, path = "/v1/wallet/purchases", tag = "wallet", security(("bearer" = [])),
    params(IdempotencyKeyHeader), request_body = PurchaseBody,
    responses((status = 201, body = PurchaseDto), NotFound, Conflict, Unprocessable))]
pub async fn purchase(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<PurchaseBody>,
) -> ApiResult<(StatusCode, Json<PurchaseDto>)> {
    let r = st
        .call(st.wallet().purchase_coins(st.req(
            &user,
            pb::PurchaseCoinsRequest {
                idempotency_key: key,
                package_id: b.package_id,
                receipt: Some(b.receipt.to_proto()?),
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PurchaseDto {
            transaction: r
                .transaction
                .ok_or_else(|| ApiError::missing("transaction"))?
                .into(),
            coins_balance: r.coins_balance,
        }),
    ))
}

/// Add cash to your advertiser balance with a store receipt.
#[utoipa::path(post, path = "/v1/wallet/top-ups", tag = "wallet", security(("bearer" = [])),
    params(IdempotencyKeyHeader), request_body = TopUpBody,
    responses((status = 201, body = TopUpDto), Forbidden, Conflict, Unprocessable))]
pub async fn top_up(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<TopUpBody>,
) -> ApiResult<(StatusCode, Json<TopUpDto>)> {
    let r = st
        .call(st.wallet().top_up_cents(st.req(
            &user,
            pb::TopUpCentsRequest {
                idempotency_key: key,
                amount_cents: b.amount_cents,
                receipt: Some(b.receipt.to_proto()?),
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TopUpDto {
            transaction: r
                .transaction
                .ok_or_else(|| ApiError::missing("transaction"))?
                .into(),
            cents_balance: r.cents_balance,
        }),
    ))
}

/// The gift catalog, cheapest first.
#[utoipa::path(get, path = "/v1/wallet/gifts", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = ListDto<GiftDto>)))]
pub async fn gift_catalog(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<ListDto<GiftDto>>> {
    let r = st
        .call(
            st.wallet()
                .get_gift_catalog(st.req(&user, pb::GetGiftCatalogRequest {})),
        )
        .await?;
    Ok(Json(ListDto {
        items: r
            .gifts
            .into_iter()
            .map(|g| GiftDto {
                gift_id: g.gift_id,
                name: g.name,
                coins: g.coins,
                diamonds: g.diamonds,
                icon_url: g.icon_url,
                animation_url: opt(g.animation_url),
            })
            .collect(),
    }))
}

/// Send gifts to a creator on a video or in a LIVE room (spends your coins).
#[utoipa::path(post, path = "/v1/wallet/gifts", tag = "wallet", security(("bearer" = [])),
    params(IdempotencyKeyHeader), request_body = SendGiftBody,
    responses((status = 201, body = GiftSentDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn send_gift(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<SendGiftBody>,
) -> ApiResult<(StatusCode, Json<GiftSentDto>)> {
    use pb::send_gift_request::Target;
    let target = match (b.video_id, b.live_room_id) {
        (Some(v), None) => Some(Target::VideoId(v)),
        (None, Some(r)) => Some(Target::LiveRoomId(r)),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "live_room_id",
                "give either video_id or live_room_id, not both",
            ));
        }
        (None, None) => None,
    };
    let r = st
        .call(st.wallet().send_gift(st.req(
            &user,
            pb::SendGiftRequest {
                idempotency_key: key,
                gift_id: b.gift_id,
                recipient_id: b.recipient_id,
                target,
                count: b.count.unwrap_or(1),
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(GiftSentDto {
            transaction_id: r.transaction_id,
            coins_spent: r.coins_spent,
            diamonds_credited: r.diamonds_credited,
            coins_balance: r.coins_balance,
        }),
    ))
}

/// Ask to cash out diamonds or marketplace cents (creators).
#[utoipa::path(post, path = "/v1/wallet/payouts", tag = "wallet", security(("bearer" = [])),
    params(IdempotencyKeyHeader), request_body = PayoutBody,
    responses((status = 201, body = PayoutDto), Forbidden, Conflict, Unprocessable))]
pub async fn request_payout(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(b): ApiJson<PayoutBody>,
) -> ApiResult<(StatusCode, Json<PayoutDto>)> {
    use pb::request_payout_request::Amount;
    let amount = match (b.diamonds, b.cents) {
        (Some(d), None) => Some(Amount::Diamonds(d)),
        (None, Some(c)) => Some(Amount::Cents(c)),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "cents",
                "give either diamonds or cents, not both",
            ));
        }
        (None, None) => None,
    };
    let r = st
        .call(st.wallet().request_payout(st.req(
            &user,
            pb::RequestPayoutRequest {
                idempotency_key: key,
                amount,
            },
        )))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(r.payout.ok_or_else(|| ApiError::missing("payout"))?.into()),
    ))
}

/// Your payouts, newest first (admins: anyone's; the pending queue oldest first).
#[utoipa::path(get, path = "/v1/wallet/payouts", tag = "wallet", security(("bearer" = [])),
    params(PayoutsQuery), responses((status = 200, body = Page<PayoutDto>), Forbidden))]
pub async fn list_payouts(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<PayoutsQuery>,
) -> ApiResult<Json<Page<PayoutDto>>> {
    let status = enum_from_str(
        "status",
        q.status.as_deref().unwrap_or_default(),
        "PAYOUT_STATUS_",
        |s| pb::PayoutStatus::from_str_name(s).map(|p| p as i32),
        PAYOUT_STATUSES,
    )?;
    let page = PageQuery {
        page_size: q.page_size,
        page_token: q.page_token,
    };
    let r = st
        .call(st.wallet().list_payouts(st.req(
            &user,
            pb::ListPayoutsRequest {
                page: page.to_proto(),
                status,
                creator_id: q.creator_id.unwrap_or_default(),
            },
        )))
        .await?;
    Ok(Json(Page::new(r.payouts, r.page)))
}

/// Approve a pending payout (admins).
#[utoipa::path(post, path = "/v1/admin/payouts/{payout_id}/approve", tag = "wallet", security(("bearer" = [])),
    params(("payout_id" = uuid::Uuid, Path), IdempotencyKeyHeader),
    responses((status = 200, body = PayoutDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn approve_payout(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(payout_id): Path<String>,
) -> ApiResult<Json<PayoutDto>> {
    let r = st
        .call(st.wallet().approve_payout(st.req(
            &user,
            pb::ApprovePayoutRequest {
                idempotency_key: key,
                payout_id,
            },
        )))
        .await?;
    Ok(Json(
        r.payout.ok_or_else(|| ApiError::missing("payout"))?.into(),
    ))
}

/// Reject a pending payout; the amount returns to the creator (admins).
#[utoipa::path(post, path = "/v1/admin/payouts/{payout_id}/reject", tag = "wallet", security(("bearer" = [])),
    params(("payout_id" = uuid::Uuid, Path), IdempotencyKeyHeader), request_body = RejectBody,
    responses((status = 200, body = PayoutDto), Forbidden, NotFound, Conflict, Unprocessable))]
pub async fn reject_payout(
    State(st): State<AppState>,
    user: AuthUser,
    IdempotencyKey(key): IdempotencyKey,
    Path(payout_id): Path<String>,
    ApiJson(b): ApiJson<RejectBody>,
) -> ApiResult<Json<PayoutDto>> {
    let r = st
        .call(st.wallet().reject_payout(st.req(
            &user,
            pb::RejectPayoutRequest {
                idempotency_key: key,
                payout_id,
                reason: b.reason,
            },
        )))
        .await?;
    Ok(Json(
        r.payout.ok_or_else(|| ApiError::missing("payout"))?.into(),
    ))
}

/// Check the ledger: per-asset sums, cached balances, balanced transactions (admins).
#[utoipa::path(get, path = "/v1/admin/wallet/reconcile", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = ReconcileDto), Forbidden))]
pub async fn reconcile(
    State(st): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<ReconcileDto>> {
    let r = st
        .call(
            st.wallet()
                .reconcile(st.req(&user, pb::ReconcileRequest { limit: 0 })),
        )
        .await?;
    Ok(Json(ReconcileDto {
        consistent: r.consistent,
        assets: r
            .assets
            .into_iter()
            .map(|a| AssetTotalsDto {
                asset: asset_str(a.asset),
                entries_sum: a.entries_sum,
                user_balances: a.user_balances,
                system_balances: a.system_balances,
            })
            .collect(),
        mismatched_accounts: r
            .mismatched_accounts
            .into_iter()
            .map(|m| MismatchDto {
                asset: asset_str(m.asset),
                account: m.account,
                stored_balance: m.stored_balance,
                entries_sum: m.entries_sum,
            })
            .collect(),
        unbalanced_transaction_ids: r.unbalanced_transaction_ids,
        negative_user_accounts: r.negative_user_accounts,
        checked_at: ts(r.checked_at),
    }))
}

/// Top gifters of a LIVE room, and your own rank.
#[utoipa::path(get, path = "/v1/live/{room_id}/leaderboard", tag = "wallet", security(("bearer" = [])),
    params(("room_id" = uuid::Uuid, Path), LimitQuery),
    responses((status = 200, body = RoomLeaderboardDto), NotFound))]
pub async fn room_leaderboard(
    State(st): State<AppState>,
    user: AuthUser,
    Path(room_id): Path<String>,
    ApiQuery(q): ApiQuery<LimitQuery>,
) -> ApiResult<Json<RoomLeaderboardDto>> {
    let r = st
        .call(st.wallet().get_room_leaderboard(st.req(
            &user,
            pb::GetRoomLeaderboardRequest {
                live_room_id: room_id,
                limit: q.limit.unwrap_or(0),
            },
        )))
        .await?;
    Ok(Json(RoomLeaderboardDto {
        entries: r.entries.into_iter().map(Into::into).collect(),
        me: r.caller_entry.map(Into::into),
    }))
}

/// Top creators of a UTC day by diamonds received.
#[utoipa::path(get, path = "/v1/wallet/top-creators", tag = "wallet", security(("bearer" = [])),
    params(TopCreatorsQuery), responses((status = 200, body = TopCreatorsDto)))]
pub async fn top_creators(
    State(st): State<AppState>,
    user: AuthUser,
    ApiQuery(q): ApiQuery<TopCreatorsQuery>,
) -> ApiResult<Json<TopCreatorsDto>> {
    let r = st
        .call(st.wallet().get_top_creators(st.req(
            &user,
            pb::GetTopCreatorsRequest {
                date: q.date.unwrap_or_default(),
                limit: q.limit.unwrap_or(0),
            },
        )))
        .await?;
    Ok(Json(TopCreatorsDto {
        date: r.date,
        entries: r.entries.into_iter().map(Into::into).collect(),
    }))
}

/// An escrow you pay or are paid from (admins: any).
#[utoipa::path(get, path = "/v1/wallet/escrows/{escrow_id}", tag = "wallet", security(("bearer" = [])),
    params(("escrow_id" = uuid::Uuid, Path)), responses((status = 200, body = EscrowDto), Forbidden, NotFound))]
pub async fn get_escrow(
    State(st): State<AppState>,
    user: AuthUser,
    Path(escrow_id): Path<String>,
) -> ApiResult<Json<EscrowDto>> {
    let e = st
        .call(
            st.wallet()
                .get_escrow(st.req(&user, pb::GetEscrowRequest { escrow_id })),
        )
        .await?
        .escrow
        .ok_or_else(|| ApiError::missing("escrow"))?;
    Ok(Json(EscrowDto {
        status: enum_to_str(e.status().as_str_name(), "ESCROW_STATUS_"),
        escrow_id: e.escrow_id,
        payer_id: e.payer_id,
        payee_id: e.payee_id,
        amount_cents: e.amount_cents,
        reference: e.reference,
        platform_fee_bps: e.platform_fee_bps,
        platform_fee_cents: e.platform_fee_cents,
        payee_cents: e.payee_cents,
        created_at: ts(e.created_at),
        settled_at: ts(e.settled_at),
    }))
}
