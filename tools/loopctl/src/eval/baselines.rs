//! The baselines Loop is measured against, on the same events: the most
//! popular items, a textbook item-to-item neighbourhood model (cosine over
//! co-engagement) and random picks. Pure and incremental: the split mode
//! feeds them the training events once; the prequential mode keeps feeding
//! them each held-out event after it was scored.

use std::collections::HashSet;

use loop_platform::bench::Rng;

/// What each user did in the events applied so far.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every item shown to the user (never recommended again).
    pub seen: Vec<HashSet<u32>>,
    /// Items the user engaged with positively, oldest first.
    pub engaged: Vec<Vec<u32>>,
    engaged_set: Vec<HashSet<u32>>,
}

impl History {
    pub fn new(users: usize) -> Self {
        Self {
            seen: vec![HashSet::new(); users],
            engaged: vec![Vec::new(); users],
            engaged_set: vec![HashSet::new(); users],
        }
    }

    pub fn see(&mut self, user: u32, item: u32) {
        self.seen[user as usize].insert(item);
    }

    /// Records a positive engagement; false when the user had engaged with
    /// the item already (nothing changes).
    pub fn engage(&mut self, user: u32, item: u32) -> bool {
        self.see(user, item);
        if !self.engaged_set[user as usize].insert(item) {
            return false;
        }
        self.engaged[user as usize].push(item);
        true
    }
}

/// The `k` best items by `score` (then `tiebreak`, then the lower index),
/// skipping `exclude`; items scoring `None` are never picked.
pub fn top_k(
    items: usize,
    k: usize,
    exclude: &HashSet<u32>,
    score: impl Fn(u32) -> Option<(f32, f32)>,
) -> Vec<u32> {
    let mut scored: Vec<(f32, f32, u32)> = (0..items as u32)
        .filter(|i| !exclude.contains(i))
        .filter_map(|i| score(i).map(|(s, t)| (s, t, i)))
        .collect();
    let order = |a: &(f32, f32, u32), b: &(f32, f32, u32)| {
        b.0.total_cmp(&a.0)
            .then_with(|| b.1.total_cmp(&a.1))
            .then_with(|| a.2.cmp(&b.2))
    };
    if scored.len() > k && k > 0 {
        scored.select_nth_unstable_by(k - 1, order);
        scored.truncate(k);
    }
    scored.sort_by(order);
    scored.truncate(k);
    scored.into_iter().map(|(_, _, i)| i).collect()
}

/// Items by how many users engaged with them.
#[derive(Debug, Clone)]
pub struct MostPopular {
    pub counts: Vec<u32>,
}

impl MostPopular {
    pub fn new(items: usize) -> Self {
        Self {
            counts: vec![0; items],
        }
    }

    /// A user engaged with `item` for the first time.
    pub fn engage(&mut self, item: u32) {
        self.counts[item as usize] += 1;
    }

    pub fn recommend(&self, exclude: &HashSet<u32>, k: usize) -> Vec<u32> {
        top_k(self.counts.len(), k, exclude, |i| {
            Some((self.counts[i as usize] as f32, 0.0))
        })
    }
}

/// Item-to-item KNN: sim(a, b) = co(a, b) / sqrt(n(a) n(b)) over the users
/// who engaged with both / with each; a user's score for an item is the sum
/// of its similarities to everything the user engaged with (the full
/// neighbourhood), ties broken by popularity (so a user without history
/// gets the most popular items).
#[derive(Debug, Clone)]
pub struct ItemKnn {
    items: usize,
    /// Dense co-engagement counts, row-major.
    co: Vec<f32>,
    counts: Vec<f32>,
}

/// The dense matrix holds items^2 floats.
pub const KNN_MAX_ITEMS: usize = 16_384;

impl ItemKnn {
    pub fn new(items: usize) -> anyhow::Result<Self> {
        if items > KNN_MAX_ITEMS {
            anyhow::bail!(
                "item-KNN keeps a dense co-engagement matrix: at most {KNN_MAX_ITEMS} items, the data has {items}"
            );
        }
        Ok(Self {
            items,
            co: vec![0.0; items * items],
            counts: vec![0.0; items],
        })
    }

    /// A user whose earlier positive items are `before` engaged with `item`
    /// (for the first time).
    pub fn engage(&mut self, before: &[u32], item: u32) {
        let n = self.items;
        let i = item as usize;
        for &h in before {
            let h = h as usize;
            if h != i {
                self.co[h * n + i] += 1.0;
                self.co[i * n + h] += 1.0;
            }
        }
        self.counts[i] += 1.0;
    }

    pub fn recommend(&self, history: &[u32], exclude: &HashSet<u32>, k: usize) -> Vec<u32> {
        let n = self.items;
        let mut acc = vec![0.0f32; n];
        for &h in history {
            let h = h as usize;
            let norm = self.counts[h].sqrt();
            if norm == 0.0 {
                continue;
            }
            let row = &self.co[h * n..(h + 1) * n];
            for (a, c) in acc.iter_mut().zip(row) {
                *a += c / norm;
            }
        }
        top_k(n, k, exclude, |i| {
            let count = self.counts[i as usize];
            let score = if count > 0.0 {
                acc[i as usize] / count.sqrt()
            } else {
                0.0
            };
            Some((score, count))
        })
    }
}

/// Uniform picks among the items not seen.
pub struct RandomPicks {
    rng: Rng,
    items: usize,
}

impl RandomPicks {
    pub fn new(items: usize, seed: u64) -> Self {
        Self {
            rng: Rng(seed.max(1)),
            items,
        }
    }

    pub fn recommend(&mut self, exclude: &HashSet<u32>, k: usize) -> Vec<u32> {
        let available = self.items.saturating_sub(exclude.len());
        let mut out: Vec<u32> = Vec::with_capacity(k);
        let mut picked = HashSet::new();
        // Rejection sampling; the bound stops it on a (nearly) exhausted catalog.
        for _ in 0..k * 50 + 100 {
            if out.len() >= k.min(available) {
                break;
            }
            let i = self.rng.below(self.items) as u32;
            if !exclude.contains(&i) && picked.insert(i) {
                out.push(i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_by_score_then_tiebreak_then_index_and_skips_excluded() {
        let scores = [1.0, 5.0, 5.0, 3.0, 5.0];
        let tiebreak = [0.0, 1.0, 2.0, 0.0, 2.0];
        let exclude = HashSet::from([3]);
        let got = top_k(5, 4, &exclude, |i| {
            Some((scores[i as usize], tiebreak[i as usize]))
        });
        assert_eq!(got, [2, 4, 1, 0]);
        assert_eq!(
            top_k(5, 10, &HashSet::new(), |i| (i < 2).then_some((0.0, 0.0))),
            [0, 1]
        );
    }

    #[test]
    fn most_popular_counts_engaged_users() {
        let mut p = MostPopular::new(4);
        for i in [2, 2, 1, 2, 1, 3] {
            p.engage(i);
        }
        assert_eq!(p.recommend(&HashSet::new(), 2), [2, 1]);
        assert_eq!(p.recommend(&HashSet::from([2]), 2), [1, 3]);
    }

    #[test]
    fn item_knn_scores_by_cosine_over_co_engagement() {
        // Users: {0, 1}, {0, 1}, {0, 2}, {3}: item 1 is 0's nearest
        // neighbour (cos 2 / sqrt(3 * 2)), item 2 next (1 / sqrt(3)).
        let mut knn = ItemKnn::new(4).expect("small");
        let mut h = History::new(4);
        for (u, i) in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 2), (3, 3)] {
            let before = h.engaged[u as usize].clone();
            if h.engage(u, i) {
                knn.engage(&before, i);
            }
        }
        assert_eq!(knn.recommend(&[0], &HashSet::from([0]), 3), [1, 2, 3]);
        // No history: by popularity (item 0, three users).
        assert_eq!(knn.recommend(&[], &HashSet::new(), 1), [0]);
        assert!(ItemKnn::new(KNN_MAX_ITEMS + 1).is_err());
        assert!(!h.engage(0, 1), "a second engagement changes nothing");
    }

    #[test]
    fn random_picks_are_distinct_unseen_and_seeded() {
        let exclude = HashSet::from([0, 1, 2]);
        let mut a = RandomPicks::new(10, 7);
        let picks = a.recommend(&exclude, 5);
        assert_eq!(picks.len(), 5);
        assert!(picks.iter().all(|i| *i >= 3));
        assert_eq!(picks.iter().collect::<HashSet<_>>().len(), 5);
        assert_eq!(RandomPicks::new(10, 7).recommend(&exclude, 5), picks);
        // Fewer items left than asked: all of them.
        assert_eq!(a.recommend(&exclude, 20).len(), 7);
    }
}
