//! The per-user temporal split and the metrics, pure: each user's last
//! `holdout` share of ratings (by time) is held out; what a ranker
//! recommends is scored against the held-out items the user liked.

use std::collections::{HashMap, HashSet};

use super::data::{Outcome, Rating};

/// Indexes into the ratings, each list in global time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub test: Vec<usize>,
    /// Per user, the held-out items they liked (the relevant ones).
    pub liked: HashMap<u32, HashSet<u32>>,
}

/// Global time order: time, then user, then item (ties are common: many
/// ratings share a second).
pub fn time_order(ratings: &[Rating], indexes: &mut [usize]) {
    indexes.sort_by_key(|&i| (ratings[i].at_s, ratings[i].user, ratings[i].item));
}

/// Holds out the last `floor(n x holdout)` ratings of each user's `n`.
pub fn temporal_split(ratings: &[Rating], holdout: f64) -> Split {
    let mut by_user: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, r) in ratings.iter().enumerate() {
        by_user.entry(r.user).or_default().push(i);
    }
    let mut split = Split::default();
    for (user, mut own) in by_user {
        time_order(ratings, &mut own);
        let held = ((own.len() as f64) * holdout).floor() as usize;
        let cut = own.len() - held.min(own.len());
        split.train.extend_from_slice(&own[..cut]);
        for &i in &own[cut..] {
            split.test.push(i);
            if Outcome::of(ratings[i].stars) == Outcome::Liked {
                split.liked.entry(user).or_default().insert(ratings[i].item);
            }
        }
    }
    time_order(ratings, &mut split.train);
    time_order(ratings, &mut split.test);
    split
}

/// HitRate@K, Recall@K and NDCG@K summed over scored lists (divide by `n`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    pub hit_rate: f64,
    pub recall: f64,
    pub ndcg: f64,
    /// Lists scored.
    pub n: usize,
}

impl Scores {
    /// Scores the first `k` of `recommended` against `relevant` (non-empty):
    /// hit = any relevant item; recall = relevant found / relevant; NDCG =
    /// DCG (1 / log2(position + 2) per relevant item) over the ideal DCG of
    /// min(|relevant|, k) relevant items on top.
    pub fn add(&mut self, recommended: &[u32], relevant: &HashSet<u32>, k: usize) {
        if relevant.is_empty() {
            return;
        }
        let mut hits = 0usize;
        let mut dcg = 0.0;
        for (p, item) in recommended.iter().take(k).enumerate() {
            if relevant.contains(item) {
                hits += 1;
                dcg += 1.0 / ((p + 2) as f64).log2();
            }
        }
        let ideal: f64 = (0..relevant.len().min(k))
            .map(|p| 1.0 / ((p + 2) as f64).log2())
            .sum();
        self.hit_rate += f64::from(u8::from(hits > 0));
        self.recall += hits as f64 / relevant.len() as f64;
        self.ndcg += dcg / ideal;
        self.n += 1;
    }

    /// The means over the lists scored.
    pub fn mean(&self) -> Scores {
        let n = self.n.max(1) as f64;
        Scores {
            hit_rate: self.hit_rate / n,
            recall: self.recall / n,
            ndcg: self.ndcg / n,
            n: self.n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(user: u32, item: u32, stars: f32, at_s: i64) -> Rating {
        Rating {
            user,
            item,
            stars,
            at_s,
        }
    }

    #[test]
    fn holds_out_each_users_latest_share() {
        // User 0: 5 ratings (1 held out); user 1: 10 (2 held out), out of order.
        let mut ratings: Vec<Rating> = (0..5).map(|i| r(0, i, 5.0, 100 + i64::from(i))).collect();
        for i in (0..10).rev() {
            let stars = if i == 8 { 2.0 } else { 4.0 };
            ratings.push(r(1, 10 + i, stars, 50 + i64::from(i)));
        }
        let s = temporal_split(&ratings, 0.2);
        let test: Vec<(u32, u32)> = s
            .test
            .iter()
            .map(|&i| (ratings[i].user, ratings[i].item))
            .collect();
        assert_eq!(test, [(1, 18), (1, 19), (0, 4)], "global time order");
        assert_eq!(s.train.len(), 12);
        assert!(
            s.train
                .windows(2)
                .all(|w| ratings[w[0]].at_s <= ratings[w[1]].at_s)
        );
        // Only liked held-out items are relevant (item 18 was skipped).
        assert_eq!(s.liked[&1], HashSet::from([19]));
        assert_eq!(s.liked[&0], HashSet::from([4]));
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        let relevant = HashSet::from([1, 2, 3, 4]);
        let mut s = Scores::default();
        // Hits at positions 0 and 2 of k = 3.
        s.add(&[1, 9, 2, 3], &relevant, 3);
        let ideal = 1.0 + 1.0 / 3f64.log2() + 0.5;
        let dcg = 1.0 + 0.5;
        assert_eq!(s.hit_rate, 1.0);
        assert!((s.recall - 0.5).abs() < 1e-12);
        assert!((s.ndcg - dcg / ideal).abs() < 1e-12);
        // A miss, and an empty relevant set (not scored).
        s.add(&[7, 8], &relevant, 3);
        s.add(&[1], &HashSet::new(), 3);
        let m = s.mean();
        assert_eq!(m.n, 2);
        assert_eq!(m.hit_rate, 0.5);
        assert!((m.recall - 0.25).abs() < 1e-12);
        // One relevant item at the top: NDCG 1.
        let mut one = Scores::default();
        one.add(&[5, 6], &HashSet::from([5]), 20);
        assert_eq!(one.mean().ndcg, 1.0);
    }
}
