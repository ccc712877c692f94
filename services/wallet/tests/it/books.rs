//! Leaderboards and the hledger journal export.

use super::*;

#[tokio::test]
async fn leaderboards_rank_gifters_and_creators_and_rebuild_from_the_ledger() {
    let p = Platform::start().await;
    let creators = [p.creator().await, p.creator().await];
    let viewers = p.seed_users(3, "1990-01-01", Role::Viewer).await;
    let room = p.go_live(&creators[0]).await;
    let video = p.publish_video(&creators[1]).await;
    let mut c = p.client();
    for v in &viewers {
        p.buy(v, "coins_1000").await;
    }
    // Room: viewer0 100, viewer1 200, viewer2 100 (tie with viewer0).
    for (v, count) in [(0, 1), (1, 2), (2, 1)] {
        c.send_gift(p.req(
            &viewers[v],
            Role::Viewer,
            gift_req(&key(), "hand_hearts", &creators[0], &room, count),
        ))
        .await
        .expect("gift");
    }
    // Video: 500 diamonds for creator 1 (creator 0 gets 400 in the room).
    c.send_gift(p.req(
        &viewers[0],
        Role::Viewer,
        pb::SendGiftRequest {
            idempotency_key: key(),
            gift_id: "money_gun".into(),
            recipient_id: creators[1].clone(),
            target: Some(pb::send_gift_request::Target::VideoId(video)),
            count: 1,
        },
    ))
    .await
    .expect("gift");

    let read = || async {
        let board = p
            .client()
            .get_room_leaderboard(p.req(
                &viewers[0],
                Role::Viewer,
                pb::GetRoomLeaderboardRequest {
                    live_room_id: room.clone(),
                    limit: 0,
                },
            ))
            .await
            .expect("board")
            .into_inner();
        let top = p
            .client()
            .get_top_creators(p.req(
                &viewers[0],
                Role::Viewer,
                pb::GetTopCreatorsRequest::default(),
            ))
            .await
            .expect("top")
            .into_inner();
        (board, top)
    };
    let (board, top) = testing::wait_for("boards projected", Duration::from_secs(30), || async {
        let (board, top) = read().await;
        (board.entries.len() == 3 && top.entries.len() == 2).then_some((board, top))
    })
    .await;
    let ranks: Vec<(String, u32, i64)> = board
        .entries
        .iter()
        .map(|e| (e.user_id.clone(), e.rank, e.score))
        .collect();
    assert_eq!(ranks[0], (viewers[1].clone(), 1, 200));
    assert_eq!(
        (ranks[1].1, ranks[1].2, ranks[2].1, ranks[2].2),
        (2, 100, 2, 100),
        "ties share a rank"
    );
    let me = board.caller_entry.expect("caller entry");
    assert_eq!((me.rank, me.score), (2, 100));
    assert_eq!(top.entries[0].user_id, creators[1]);
    assert_eq!(top.entries[0].score, 500);
    assert_eq!(top.entries[1].score, 400);

    // Redis loses everything: the boards come back from the ledger.
    testing::clear_redis(&p.config.redis).await;
    let (board2, top2) = testing::wait_for("boards rebuilt", Duration::from_secs(30), || async {
        let (board, top) = read().await;
        (board.entries.len() == 3 && top.entries.len() == 2).then_some((board, top))
    })
    .await;
    assert_eq!(board2.entries, board.entries);
    assert_eq!(top2.entries, top.entries);

    let err = p
        .client()
        .get_top_creators(p.req(
            &viewers[0],
            Role::Viewer,
            pb::GetTopCreatorsRequest {
                date: "2999-01-01".into(),
                limit: 5,
            },
        ))
        .await
        .expect_err("future");
    assert_eq!(field(&err), "date");
    let err = p
        .client()
        .get_room_leaderboard(p.req(
            &viewers[0],
            Role::Viewer,
            pb::GetRoomLeaderboardRequest {
                live_room_id: room.clone(),
                limit: 101,
            },
        ))
        .await
        .expect_err("limit");
    assert_eq!(field(&err), "limit");
}

/// A minimal journal reader: checks what hledger's `check balanced
/// assertions` checks, for the subset of the format the export writes.
pub(super) fn check_journal(text: &str) -> (usize, usize) {
    let mut balances: HashMap<(String, String), i64> = HashMap::new();
    let mut transactions = 0;
    let mut assertions = 0;
    let mut current: HashMap<String, i64> = HashMap::new();
    let finish = |current: &mut HashMap<String, i64>| {
        for (commodity, sum) in current.drain() {
            assert_eq!(sum, 0, "a transaction does not balance in {commodity}");
        }
    };
    for line in text.lines() {
        if line.starts_with(';') || line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(' ') {
            finish(&mut current);
            transactions += 1;
            assert!(
                line.as_bytes()[..10].iter().filter(|b| **b == b'-').count() == 2,
                "date: {line}"
            );
            continue;
        }
        let line = line.trim();
        let (account, rest) = line.split_once("  ").expect("account and amount");
        let (amount, assertion) = rest.trim().split_once(" = ").expect("balance assertion");
        let (qty, commodity) = amount.split_once(' ').expect("amount");
        let qty: i64 = qty.parse().expect("integer amount");
        *current.entry(commodity.to_owned()).or_insert(0) += qty;
        let bal = balances
            .entry((account.to_owned(), commodity.to_owned()))
            .or_insert(0);
        *bal += qty;
        let (asserted, asserted_commodity) = assertion.split_once(' ').expect("assertion amount");
        assert_eq!(asserted_commodity, commodity);
        assert_eq!(
            asserted.parse::<i64>().expect("integer"),
            *bal,
            "assertion of {account}"
        );
        assertions += 1;
    }
    finish(&mut current);
    (transactions, assertions)
}

#[tokio::test]
async fn the_journal_export_balances_and_asserts_every_stored_balance() {
    let p = Platform::start().await;
    let creator = p.creator().await;
    let viewer = p.seed_users(1, "1990-01-01", Role::Viewer).await.remove(0);
    let room = p.go_live(&creator).await;
    p.buy(&viewer, "coins_1000").await;
    for _ in 0..3 {
        p.client()
            .send_gift(p.req(
                &viewer,
                Role::Viewer,
                gift_req(&key(), "corgi", &creator, &room, 1),
            ))
            .await
            .expect("gift");
    }
    let db = p.pool.clone();
    let mut out: Vec<u8> = Vec::new();
    let summary = loop_wallet::reconcile::export_journal(&db, &mut out, &|_, _| {})
        .await
        .expect("export");
    let text = String::from_utf8(out).expect("utf8");
    assert_eq!(summary.transactions, 4);
    let (transactions, assertions) = check_journal(&text);
    assert_eq!(
        transactions, 5,
        "4 transactions and the stored-balances check"
    );
    let accounts: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts")
        .fetch_one(&db)
        .await
        .expect("n");
    assert_eq!(
        assertions as u64,
        summary.postings + u64::try_from(accounts).expect("n")
    );
    assert!(text.contains(&format!("user:{viewer}")));
    // A standard tool agrees, when one is installed.
    if let Ok(path) = which("hledger") {
        let file = std::env::temp_dir().join(format!("wallet-{}.journal", Uuid::now_v7()));
        std::fs::write(&file, &text).expect("write");
        let status = std::process::Command::new(path)
            .args([
                "-f",
                file.to_str().expect("path"),
                "check",
                "balanced",
                "assertions",
            ])
            .status()
            .expect("hledger");
        let _ = std::fs::remove_file(&file);
        assert!(status.success(), "hledger rejected the export");
    }
}

pub(super) fn which(tool: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(tool))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
