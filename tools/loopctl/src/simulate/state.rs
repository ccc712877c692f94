//! What every simulated client shares: the accounts signed up at set-up,
//! the catalog, the LIVE rooms, and the tally the report is computed from.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64};

use parking_lot::{Mutex, RwLock};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

use super::args::Args;
use super::client::Api;
use super::world::{self, World};

#[derive(Clone)]
pub struct Account {
    pub token: String,
    pub user_id: String,
}

impl Account {
    /// The session a sign-up or login answered with (empty fields when the
    /// body lacks them: the gateway then refuses the calls made with it).
    pub fn from_auth(body: &Value) -> Self {
        Self {
            token: body["token"].as_str().unwrap_or_default().to_owned(),
            user_id: body["user"]["user_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

#[derive(Clone)]
pub struct Video {
    pub id: String,
    pub creator: usize,
}

#[derive(Default)]
pub struct Tally {
    /// Per viewer, per For You page: (organic items from their taste, organic items).
    pub feeds: HashMap<usize, Vec<(u32, u32)>>,
    pub offered_ad_positions: u64,
    pub filled_ad_positions: u64,
    /// Impression ids (tokens) reported per campaign.
    pub impressions: HashMap<String, HashSet<String>>,
    pub purchases: u64,
    pub gifts: u64,
    pub coins_gifted: i64,
    pub payouts_requested: u64,
    pub freshness_ms: Vec<f64>,
    pub freshness_timeouts: u64,
    /// Invalid traffic sent on purpose (see `Args::abusers`).
    pub abuse: Abuse,
    /// Honest ad clicks per (viewer, campaign): the report must count
    /// exactly these (at most the per-day cap of each).
    pub honest_clicks: HashMap<(usize, String), u64>,
}

#[derive(Default)]
pub struct Abuse {
    /// Clicks sent in floods (each within a second of its impression).
    /// Flooded clicks per campaign.
    pub ad_clicks_flooded: HashMap<String, u64>,
    /// Engagement events by the credit the gateway answered with.
    pub credits: BTreeMap<String, u64>,
    /// Events carrying another viewer's serve token, refused (400).
    pub foreign_tokens_refused: u64,
    pub foreign_tokens_sent: u64,
}

pub struct Sim {
    pub args: Args,
    pub api: Api,
    pub world: World,
    pub viewers: Vec<Account>,
    pub creators: Vec<Account>,
    pub admin: Account,
    pub videos: RwLock<Vec<Video>>,
    /// Open LIVE rooms: (room id, creator index).
    pub rooms: RwLock<Vec<(String, usize)>>,
    pub packages: Vec<Value>,
    pub gifts: Vec<Value>,
    /// This run's campaigns: (advertiser index, campaign id, budget cents
    /// spendable today).
    pub campaigns: Vec<(usize, String, i64)>,
    pub tally: Mutex<Tally>,
    pub stop: AtomicBool,
    pub receipt_counter: AtomicU64,
    pub run_id: String,
    /// The last (video, serve token) a cheater saw: the next one replays it.
    pub last_served: Mutex<Option<(String, Value, Value)>>,
    /// The clips creators upload (empty with `--clips-per-creator 0`).
    pub clips: Vec<Vec<u8>>,
    pub media: Mutex<super::media::MediaTally>,
}

pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Whether viewer `v` is one of the cheaters when `share` of all viewers
/// cheat: every `1 / share`-th viewer, so the set is fixed by the options.
pub fn is_abuser(share: f64, v: usize) -> bool {
    share > 0.0 && {
        let every = (1.0 / share).round().max(1.0) as usize;
        v % every == every - 1
    }
}

impl Sim {
    /// Each (viewer, session) draws from its own stream, so a seed's choices
    /// do not depend on how sessions interleave.
    pub fn viewer_rng(&self, viewer: usize, session: u64) -> StdRng {
        StdRng::seed_from_u64(
            self.args
                .seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add((viewer as u64) << 32)
                .wrapping_add(session),
        )
    }

    /// Whether viewer `v` is one of the cheaters (`Args::abusers`).
    pub fn is_abuser(&self, v: usize) -> bool {
        is_abuser(self.args.abusers, v)
    }

    pub fn family_of_video(&self, item: &Value) -> Option<usize> {
        item["hashtags"]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .find_map(world::family_of_tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_viewer_cheats() {
        let cheaters: Vec<usize> = (0..30).filter(|v| is_abuser(0.1, *v)).collect();
        assert_eq!(cheaters, vec![9, 19, 29]);
        assert!((0..100).all(|v| !is_abuser(0.0, v)));
        // A share above one still means everyone, not a division by zero.
        assert!((0..10).all(|v| is_abuser(2.0, v)));
    }

    #[test]
    fn an_auth_reply_gives_its_token_and_user() {
        let a = Account::from_auth(&serde_json::json!({"token": "t", "user": {"user_id": "u"}}));
        assert_eq!((a.token.as_str(), a.user_id.as_str()), ("t", "u"));
        let empty = Account::from_auth(&Value::Null);
        assert_eq!((empty.token.as_str(), empty.user_id.as_str()), ("", ""));
    }
}
