//! Targeting keys and the eligibility filter.
//!
//! An ad group's targeting becomes one [`Key`] per allowed value; a viewer
//! becomes the keys of its own values. Eligibility is `active AND` over the
//! dimensions of `(unrestricted OR lists of the viewer's values)`, so a
//! viewer value nobody targets (or an unknown one) matches only ad groups
//! that do not restrict that dimension.

use std::collections::HashMap;

use loop_proto::ads_auction::v1 as pb;

use super::Viewer;
use super::bitset::{BitSet, Postings};

/// One allowed value of one targeting dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    Age(i32),
    Gender(i32),
    Country(String),
    Language(String),
    Os(i32),
    Interest(String),
    /// kind, value, lookback days.
    Behavior(i32, String, u32),
}

/// How many targeting dimensions there are (the variants of [`Key`]).
pub(super) const DIMS: usize = 7;

/// The longest behaviour lookback, in days (also the default when an ad
/// group leaves it 0).
const MAX_LOOKBACK_DAYS: u32 = 7;

impl Key {
    pub(super) fn dim(&self) -> usize {
        match self {
            Self::Age(_) => 0,
            Self::Gender(_) => 1,
            Self::Country(_) => 2,
            Self::Language(_) => 3,
            Self::Os(_) => 4,
            Self::Interest(_) => 5,
            Self::Behavior(..) => 6,
        }
    }
}

/// The keys an ad group's targeting allows.
pub(super) fn targeting_keys(t: &pb::Targeting) -> Vec<Key> {
    let mut keys = Vec::new();
    keys.extend(t.age_bands.iter().map(|v| Key::Age(*v)));
    keys.extend(t.genders.iter().map(|v| Key::Gender(*v)));
    keys.extend(t.countries.iter().map(|v| Key::Country(v.clone())));
    keys.extend(t.languages.iter().map(|v| Key::Language(v.clone())));
    keys.extend(t.device_os.iter().map(|v| Key::Os(*v)));
    keys.extend(
        t.interest_categories
            .iter()
            .map(|v| Key::Interest(v.clone())),
    );
    keys.extend(t.behaviors.iter().map(|b| {
        Key::Behavior(
            b.kind,
            b.value.clone(),
            if b.lookback_days == 0 {
                MAX_LOOKBACK_DAYS
            } else {
                b.lookback_days
            },
        )
    }));
    keys
}

/// The keys of a viewer's own values, per dimension. Unknown values (0 or
/// empty) give no key; a behaviour `d` days old matches every lookback of at
/// least `ceil(d)` days (and at least 1).
pub(super) fn viewer_keys(v: &Viewer) -> [Vec<Key>; DIMS] {
    let mut user_keys: [Vec<Key>; DIMS] = Default::default();
    if v.age_band != 0 {
        user_keys[0].push(Key::Age(v.age_band));
    }
    if v.gender != 0 {
        user_keys[1].push(Key::Gender(v.gender));
    }
    if !v.country.is_empty() {
        user_keys[2].push(Key::Country(v.country.clone()));
    }
    if !v.language.is_empty() {
        user_keys[3].push(Key::Language(v.language.clone()));
    }
    if v.device_os != 0 {
        user_keys[4].push(Key::Os(v.device_os));
    }
    user_keys[5].extend(v.interests.iter().map(|i| Key::Interest(i.clone())));
    for (kind, value, age_days) in &v.behaviors {
        if *age_days > f64::from(MAX_LOOKBACK_DAYS) || *age_days < 0.0 {
            continue;
        }
        let from = (age_days.ceil() as u32).max(1);
        for lookback in from..=MAX_LOOKBACK_DAYS {
            user_keys[6].push(Key::Behavior(*kind, value.clone(), lookback));
        }
    }
    user_keys
}

/// Narrows `elig` (a copy of the active set) to the ad groups the viewer
/// matches on every dimension.
///
/// Per dimension: `elig &= unrestricted | dense lists`, in one pass, then the
/// sparse lists' slots that were eligible before are put back.
pub(super) fn narrow(
    elig: &mut BitSet,
    unrestricted: &[BitSet; DIMS],
    postings: &HashMap<Key, Postings>,
    viewer: &Viewer,
) {
    let user_keys = viewer_keys(viewer);
    let mut dense: Vec<&BitSet> = Vec::new();
    let mut keep: Vec<u32> = Vec::new();
    for (dim, keys) in user_keys.iter().enumerate() {
        dense.clear();
        keep.clear();
        for k in keys {
            if let Some(p) = postings.get(k) {
                match &p.dense {
                    Some(d) => dense.push(d),
                    None => keep.extend(p.list.iter().filter(|s| elig.get(**s))),
                }
            }
        }
        elig.and_with_union(&unrestricted[dim], &dense);
        for s in &keep {
            elig.set(*s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_viewer_value_gives_no_key() {
        let keys = viewer_keys(&Viewer::default());
        assert!(keys.iter().all(Vec::is_empty));
    }

    #[test]
    fn a_behaviour_matches_lookbacks_at_least_its_age() {
        let v = Viewer {
            behaviors: vec![
                (1, "cats".into(), 2.5),
                (1, "too_old".into(), 7.5),
                (1, "fresh".into(), 0.0),
            ],
            ..Default::default()
        };
        let keys = &viewer_keys(&v)[6];
        let lookbacks = |value: &str| {
            keys.iter()
                .filter_map(|k| match k {
                    Key::Behavior(_, v, l) if v == value => Some(*l),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(lookbacks("cats"), vec![3, 4, 5, 6, 7]);
        assert!(lookbacks("too_old").is_empty());
        assert_eq!(lookbacks("fresh"), (1..=7).collect::<Vec<_>>());
    }

    #[test]
    fn a_zero_lookback_means_the_longest() {
        let t = pb::Targeting {
            behaviors: vec![pb::Behavior {
                kind: 2,
                value: "x".into(),
                lookback_days: 0,
            }],
            ..Default::default()
        };
        assert_eq!(
            targeting_keys(&t),
            vec![Key::Behavior(2, "x".into(), MAX_LOOKBACK_DAYS)]
        );
    }
}
