//! Bitsets over index slots and the posting lists of targeting values.
//!
//! Kept apart from the index so the set algebra the eligibility filter
//! relies on can be read (and tested) without the locking around it.

/// A growable set of slot numbers, one bit per slot.
#[derive(Debug, Clone, Default)]
pub struct BitSet {
    words: Vec<u64>,
}

impl BitSet {
    pub(super) fn copy_from(&mut self, other: &Self) {
        self.words.clear();
        self.words.extend_from_slice(&other.words);
    }

    fn grow(&mut self, bits: usize) {
        let n = bits.div_ceil(64);
        if self.words.len() < n {
            self.words.resize(n, 0);
        }
    }

    pub(super) fn set(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        self.grow((i as usize) + 1);
        self.words[w] |= 1 << b;
    }

    pub(super) fn clear(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        if let Some(word) = self.words.get_mut(w) {
            *word &= !(1 << b);
        }
    }

    pub fn get(&self, i: u32) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        self.words.get(w).is_some_and(|word| word & (1 << b) != 0)
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(super) fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut word = w;
            std::iter::from_fn(move || {
                if word == 0 {
                    return None;
                }
                let b = word.trailing_zeros();
                word &= word - 1;
                Some(wi as u32 * 64 + b)
            })
        })
    }

    /// `self &= base | any of extra`, word by word in one pass (the hot loop
    /// of the eligibility filter: no temporary set is built). Words past the
    /// end of `base` or of an `extra` count as empty.
    pub(super) fn and_with_union(&mut self, base: &Self, extra: &[&Self]) {
        for (i, word) in self.words.iter_mut().enumerate() {
            let mut allowed = base.words.get(i).copied().unwrap_or(0);
            for d in extra {
                allowed |= d.words.get(i).copied().unwrap_or(0);
            }
            *word &= allowed;
        }
    }
}

/// The ad groups that allow one value of one dimension. Small lists are
/// OR-ed bit by bit; large ones keep a bitset as well.
#[derive(Debug, Default)]
pub(super) struct Postings {
    pub(super) list: Vec<u32>,
    pub(super) dense: Option<BitSet>,
}

/// From this many slots on, a posting list also keeps a bitset: OR-ing a
/// bitset word by word is cheaper than setting that many bits one by one.
const DENSE_AT: usize = 1024;

impl Postings {
    pub(super) fn insert(&mut self, slot: u32) {
        self.list.push(slot);
        if let Some(d) = self.dense.as_mut() {
            d.set(slot);
        } else if self.list.len() >= DENSE_AT {
            let mut d = BitSet::default();
            for s in &self.list {
                d.set(*s);
            }
            self.dense = Some(d);
        }
    }

    pub(super) fn remove(&mut self, slot: u32) {
        if let Some(pos) = self.list.iter().position(|s| *s == slot) {
            self.list.swap_remove(pos);
        }
        if let Some(d) = self.dense.as_mut() {
            d.clear(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(bits: &[u32]) -> BitSet {
        let mut s = BitSet::default();
        for b in bits {
            s.set(*b);
        }
        s
    }

    #[test]
    fn set_get_clear_count_and_ones() {
        let mut s = of(&[0, 63, 64, 200]);
        assert!(s.get(63) && s.get(64) && s.get(200));
        assert!(!s.get(1) && !s.get(10_000), "past the end is unset");
        assert_eq!(s.count(), 4);
        s.clear(64);
        s.clear(10_000);
        assert_eq!(s.ones().collect::<Vec<_>>(), vec![0, 63, 200]);
    }

    #[test]
    fn and_with_union_keeps_bits_allowed_by_base_or_any_extra() {
        let mut s = of(&[1, 2, 3, 130]);
        s.and_with_union(&of(&[1]), &[&of(&[3]), &of(&[130])]);
        assert_eq!(s.ones().collect::<Vec<_>>(), vec![1, 3, 130]);
        // A shorter base clears the words it does not cover.
        let mut s = of(&[1, 130]);
        s.and_with_union(&of(&[1]), &[]);
        assert_eq!(s.ones().collect::<Vec<_>>(), vec![1]);
    }

    #[test]
    fn postings_turn_dense_at_the_threshold_and_stay_in_step() {
        let mut p = Postings::default();
        for slot in 0..DENSE_AT as u32 - 1 {
            p.insert(slot);
        }
        assert!(p.dense.is_none());
        p.insert(5000);
        let dense = p.dense.as_ref().expect("dense at the threshold");
        assert_eq!(dense.count(), DENSE_AT);
        assert!(dense.get(5000));
        p.remove(5000);
        assert!(!p.dense.as_ref().is_some_and(|d| d.get(5000)));
        assert_eq!(p.list.len(), DENSE_AT - 1);
    }
}
