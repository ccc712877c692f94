//! The gift catalog and sending gifts: the hot path.
//!
//! One gift is one ledger transaction:
//!   COINS     `user:<sender>` -N            `system:gift_sink#k` +N
//!   DIAMONDS  `system:diamond_issuance#k` -D `user:<recipient>#k` +D
//! with `k` a random shard, so concurrent gifts to one creator (and the
//! platform accounts every gift touches) rarely wait on the same row lock;
//! the sender's debit is a conditional update on the sender's own row. The
//! whole gift (ledger, gift row, outbox event, idempotency result) is one
//! call of the `wallet_send_gift` SQL function: one round trip, one implicit
//! transaction, row locks held only for the statement and its commit.

use loop_platform::auth::Caller;
use loop_platform::ids::parse_id;
use loop_platform::kafka::topics;
use loop_proto::events::v1 as ev;
use loop_proto::wallet::v1 as pb;
use prost::Message;
use uuid::Uuid;

use crate::error::{Rule, WalletError, WalletResult, db_code, sqlstate};
use crate::events;
use crate::idempotency::Key;
use crate::ledger::{self, Account, Asset, Posting, SystemAccount, pick_shard};
use crate::service::WalletService;

enum Target {
    Video(Uuid),
    Room(Uuid),
}

impl WalletService {
    pub(crate) async fn get_gift_catalog(
        &self,
        _caller: &Caller,
        _req: pb::GetGiftCatalogRequest,
    ) -> WalletResult<pb::GetGiftCatalogResponse> {
        let mut gifts: Vec<pb::Gift> = self
            .config
            .gifts
            .iter()
            .filter(|g| g.active)
            .map(|g| pb::Gift {
                gift_id: g.gift_id.clone(),
                name: g.name.clone(),
                coins: g.coins,
                diamonds: g.coins * self.config.money.diamonds_per_coin,
                icon_url: g.icon_url.clone(),
                animation_url: g.animation_url.clone(),
            })
            .collect();
        gifts.sort_by_key(|g| g.coins);
        Ok(pb::GetGiftCatalogResponse { gifts })
    }

    pub(crate) async fn send_gift(
        &self,
        caller: &Caller,
        req: pb::SendGiftRequest,
    ) -> WalletResult<pb::SendGiftResponse> {
        let me = caller.user_id()?;
        if !(1..=999).contains(&req.count) {
            return Err(WalletError::invalid("count", "must be 1..999"));
        }
        if req.gift_id.is_empty() {
            return Err(WalletError::invalid("gift_id", "is required"));
        }
        let recipient = parse_id("recipient_id", &req.recipient_id)?;
        if recipient == me {
            return Err(WalletError::invalid(
                "recipient_id",
                "you cannot send a gift to yourself",
            ));
        }
        let target = match &req.target {
            Some(pb::send_gift_request::Target::VideoId(v)) => {
                Target::Video(parse_id("video_id", v)?)
            }
            Some(pb::send_gift_request::Target::LiveRoomId(r)) => {
                Target::Room(parse_id("live_room_id", r)?)
            }
            None => {
                return Err(WalletError::invalid(
                    "target",
                    "set video_id or live_room_id: where the gift is sent",
                ));
            }
        };
        let key = Key::new(
            &caller.subject,
            "SendGift",
            &req.idempotency_key,
            &pb::SendGiftRequest {
                idempotency_key: String::new(),
                ..req.clone()
            },
        )?;
        match self
            .send_gift_once(caller, me, recipient, &target, &req, &key)
            .await
        {
            Ok(response) => Ok(response),
            // Refused by the state (funds, room, key used): a retry of a call
            // that succeeded gets the first result, whatever the state now.
            Err(err) if err.is_state_dependent() => match key.lookup(&self.pool).await? {
                Some(stored) => {
                    let mut first = pb::SendGiftResponse::decode(stored.response.as_slice())
                        .map_err(WalletError::internal)?;
                    first.coins_balance = stored.balance_after.unwrap_or(first.coins_balance);
                    Ok(first)
                }
                None => Err(err),
            },
            Err(err) => Err(err),
        }
    }

    async fn send_gift_once(
        &self,
        caller: &Caller,
        me: Uuid,
        recipient: Uuid,
        target: &Target,
        req: &pb::SendGiftRequest,
        key: &Key,
    ) -> WalletResult<pb::SendGiftResponse> {
        let gift = self
            .config
            .gifts
            .iter()
            .find(|g| g.active && g.gift_id == req.gift_id)
            .ok_or_else(|| WalletError::not_found("gift not found (gift_id)"))?;
        let (video, room) = match target {
            Target::Video(video) => {
                let creator = self.content.video_creator(&caller.token, *video).await?;
                if creator != recipient {
                    return Err(WalletError::rule(
                        Rule::RecipientMismatch,
                        "the recipient is not the video's creator",
                    ));
                }
                (Some(*video), None)
            }
            Target::Room(room_id) => {
                let room = self.content.room(&caller.token, *room_id).await?;
                if !room.open {
                    return Err(WalletError::rule(
                        Rule::RoomNotLive,
                        "the LIVE room has ended",
                    ));
                }
                if room.host_id != recipient {
                    return Err(WalletError::rule(
                        Rule::RecipientMismatch,
                        "the recipient is not the room's host",
                    ));
                }
                (None, Some(*room_id))
            }
        };
        let count = i64::from(req.count);
        let coins = gift.coins * count;
        let diamonds = coins * self.config.money.diamonds_per_coin;
        let shard = pick_shard(self.config.ledger.shards);
        let sender = Account::user(me);
        let posting = Posting::new(pb::TransactionKind::Gift, &gift.gift_id)
            .leg(sender.clone(), Asset::Coins, -coins)
            .leg(
                Account::system(SystemAccount::GiftSink, shard),
                Asset::Coins,
                coins,
            )
            .leg(
                Account::system(SystemAccount::DiamondIssuance, shard),
                Asset::Diamonds,
                -diamonds,
            )
            .leg(
                Account::user_shard(recipient, shard),
                Asset::Diamonds,
                diamonds,
            );
        let event = events::build(
            &me.to_string(),
            ev::wallet_event::Payload::GiftSent(ev::GiftSent {
                transaction_id: posting.transaction_id.to_string(),
                sender_id: me.to_string(),
                recipient_id: recipient.to_string(),
                gift_id: gift.gift_id.clone(),
                gift_name: gift.name.clone(),
                count: req.count,
                coins,
                diamonds,
                video_id: video.map(|v| v.to_string()).unwrap_or_default(),
                live_room_id: room.map(|r| r.to_string()).unwrap_or_default(),
            }),
        );
        let mut response = pb::SendGiftResponse {
            transaction_id: posting.transaction_id.to_string(),
            coins_spent: coins,
            diamonds_credited: diamonds,
            coins_balance: 0,
        };
        let c = posting.columns();
        let mut attempt = 0;
        let balance = loop {
            let result = sqlx::query_scalar::<_, i64>(
                "SELECT wallet_send_gift($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                 $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27)",
            )
            .bind(&key.scope)
            .bind(&key.key)
            .bind(&key.hash)
            .bind(response.encode_to_vec())
            .bind(posting.transaction_id)
            .bind(&posting.reference)
            .bind(&c.accounts)
            .bind(&c.assets)
            .bind(&c.amounts)
            .bind(&c.owners)
            .bind(&c.holding)
            .bind(&c.system)
            .bind(posting.leg_index(&sender))
            .bind(me)
            .bind(recipient)
            .bind(&gift.gift_id)
            .bind(i32::try_from(req.count).unwrap_or(1))
            .bind(coins)
            .bind(diamonds)
            .bind(video)
            .bind(room)
            .bind(event.event_id)
            .bind(topics::WALLET)
            .bind(&event.key)
            .bind(events::EVENT_TYPE)
            .bind(&event.payload)
            .bind(&event.headers)
            .fetch_one(&self.pool)
            .await;
            match result {
                Ok(balance) => break balance,
                Err(err) => match db_code(&err).as_deref() {
                    Some(sqlstate::INSUFFICIENT_FUNDS) => {
                        return Err(WalletError::rule(
                            Rule::InsufficientFunds,
                            format!("the gift costs {coins} coins, more than you have"),
                        ));
                    }
                    Some(sqlstate::KEY_USED) => return Err(crate::idempotency::key_used()),
                    Some(sqlstate::DEADLOCK | sqlstate::SERIALIZATION) if attempt < 5 => {
                        attempt += 1;
                    }
                    _ => return Err(ledger::map_post_error(err, String::new)),
                },
            }
        };
        ledger::count_committed(posting.kind);
        self.committed();
        response.coins_balance = balance;
        Ok(response)
    }
}
