//! The simulated population, derived from the seed alone: viewers with a
//! hidden taste (one hashtag family), a daily-active probability, a country,
//! a birth date and a device; creators with Zipf-distributed popularity, each
//! specialised in one family; advertisers with budgets and targeting.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub const FAMILIES: usize = 20;
pub const COUNTRIES: &[&str] = &["US", "BR", "GB", "DE", "IN", "JP", "MX", "FR"];
pub const DEVICES: &[&str] = &["ios", "android", "web"];
pub const PASSWORD: &str = "sim-password-123";

pub fn family_tag(f: usize) -> String {
    format!("simfam{f}")
}

pub fn family_of_tag(tag: &str) -> Option<usize> {
    tag.strip_prefix("simfam")?.parse().ok()
}

#[derive(Debug, Clone)]
pub struct Viewer {
    pub handle: String,
    /// The family whose videos this viewer watches through, likes and
    /// gifts; the ranker is never told.
    pub taste: usize,
    pub active_probability: f64,
    pub country: &'static str,
    pub device: &'static str,
    pub birth_date: String,
    /// Buys coins and sends gifts.
    pub spender: bool,
    /// Interests picked at sign-up: some viewers name their taste (and
    /// another family), most pick nothing.
    pub declared: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Creator {
    pub index: usize,
    pub handle: String,
    pub family: usize,
    /// Zipf weight (rank 1 is the most popular).
    pub popularity: f64,
}

#[derive(Debug, Clone)]
pub struct Advertiser {
    pub handle: String,
    pub total_budget_cents: i64,
    pub daily_budget_cents: i64,
    pub bid_cents: i64,
    /// Empty: everyone.
    pub countries: Vec<&'static str>,
}

pub struct World {
    pub viewers: Vec<Viewer>,
    pub creators: Vec<Creator>,
    pub advertisers: Vec<Advertiser>,
}

impl World {
    pub fn new(seed: u64, viewers: usize, creators: usize, advertisers: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let viewers = (0..viewers)
            .map(|i| {
                let year = rng.random_range(1960..2006);
                let taste = rng.random_range(0..FAMILIES);
                let declared = if rng.random_bool(0.3) {
                    vec![family_tag(taste), family_tag(rng.random_range(0..FAMILIES))]
                } else {
                    Vec::new()
                };
                Viewer {
                    handle: format!("sim{seed}_v{i}"),
                    taste,
                    declared,
                    active_probability: rng.random_range(0.2..1.0),
                    country: COUNTRIES[rng.random_range(0..COUNTRIES.len())],
                    device: DEVICES[rng.random_range(0..DEVICES.len())],
                    birth_date: format!(
                        "{year}-{:02}-{:02}",
                        rng.random_range(1..13),
                        rng.random_range(1..29)
                    ),
                    spender: rng.random_bool(0.2),
                }
            })
            .collect();
        let creators = (0..creators)
            .map(|i| Creator {
                index: i,
                handle: format!("sim{seed}_c{i}"),
                family: i % FAMILIES,
                popularity: 1.0 / (i as f64 + 1.0),
            })
            .collect();
        let advertisers = (0..advertisers)
            .map(|i| Advertiser {
                handle: format!("sim{seed}_a{i}"),
                total_budget_cents: rng.random_range(5_000..20_000),
                daily_budget_cents: rng.random_range(2_000..5_000),
                bid_cents: rng.random_range(200..1_500),
                countries: if rng.random_bool(0.5) {
                    Vec::new()
                } else {
                    vec![COUNTRIES[rng.random_range(0..COUNTRIES.len())]]
                },
            })
            .collect();
        Self {
            viewers,
            creators,
            advertisers,
        }
    }

    /// A creator drawn by popularity.
    pub fn pick_creator(&self, rng: &mut impl Rng) -> &Creator {
        let total: f64 = self.creators.iter().map(|c| c.popularity).sum();
        let mut x = rng.random_range(0.0..total);
        for c in &self.creators {
            if x < c.popularity {
                return c;
            }
            x -= c.popularity;
        }
        &self.creators[self.creators.len() - 1]
    }

    /// What a taste-blind, popularity-only feed would show of each family:
    /// the family's share of the catalog weighted by creator popularity.
    pub fn popularity_share(&self, videos_per_creator: &[usize]) -> Vec<f64> {
        let mut share = vec![0.0; FAMILIES];
        let mut total = 0.0;
        for (c, n) in self.creators.iter().zip(videos_per_creator) {
            let w = c.popularity * *n as f64;
            share[c.family] += w;
            total += w;
        }
        if total > 0.0 {
            share.iter_mut().for_each(|s| *s /= total);
        }
        share
    }
}
