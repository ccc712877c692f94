//! Co-engagement: "viewers of X also watched this". The consumer keeps, per
//! video, the videos its viewers engaged with next (`v:{video}:co`, counted
//! once per viewer and pair among their last `learning.co_window` positive
//! engagements, for as long as the viewer's last `learning.co_history`
//! hold the earlier one) and how many viewers engaged with each video
//! (`v:engaged`), in the same atomic step as the viewers' states, so a
//! replay rebuilds the same counts (sums of whole numbers, +1s and -1s,
//! in any order).
//!
//! For You reads the neighbours of the viewer's most recent videos in one
//! pipeline and scores each neighbour by its co-engagement with them, the
//! newer the source the more (a conditional probability P(next | source),
//! damped by the square root of the source's audience).

use std::collections::{HashMap, HashSet};

use loop_platform::cache::Redis;

use crate::feed::FeedConfig;
use crate::state;

/// A candidate reached through the viewer's recent videos.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    pub video: String,
    /// Sum over the sources of recency x co-count / sqrt(source audience).
    pub score: f32,
    /// The source that contributed most (the reason names it).
    pub because: String,
}

/// The neighbours of `recent` (the viewer's videos, newest first): the
/// first `co_sources` of them, `co_neighbours` each. One round trip.
pub async fn neighbours(
    r: &Redis,
    recent: &[String],
    config: &FeedConfig,
) -> redis::RedisResult<Vec<Neighbour>> {
    let sources = &recent[..recent.len().min(config.co_sources)];
    if sources.is_empty() || config.co_neighbours == 0 {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    pipe.cmd("ZMSCORE").arg(state::engaged_key(r)).arg(sources);
    for source in sources {
        pipe.cmd("ZREVRANGE")
            .arg(state::co_key(r, source))
            .arg(0)
            .arg(config.co_neighbours - 1)
            .arg("WITHSCORES");
    }
    let mut conn = r.conn.clone();
    let mut replies: Vec<redis::Value> = pipe.query_async(&mut conn).await?;
    if replies.len() != sources.len() + 1 {
        return Err(redis::RedisError::from((
            redis::ErrorKind::Client,
            "co-engagement pipeline answered the wrong number of replies",
        )));
    }
    let lists = replies.split_off(1);
    let audiences: Vec<Option<f64>> = redis::from_redis_value(replies.remove(0))?;
    let mut parsed = Vec::with_capacity(lists.len());
    for list in lists {
        parsed.push(redis::from_redis_value::<Vec<(String, f64)>>(list)?);
    }
    Ok(combine(sources, &audiences, parsed, config.co_recency))
}

/// Scores the neighbours: the source at position p (0: newest) weighs
/// `recency^p`; a neighbour's score sums `weight x co / sqrt(audience)`
/// over its sources. Best first (ties by id); the viewer's own recent
/// videos are not neighbours.
pub fn combine(
    sources: &[String],
    audiences: &[Option<f64>],
    lists: Vec<Vec<(String, f64)>>,
    recency: f32,
) -> Vec<Neighbour> {
    let own: HashSet<&str> = sources.iter().map(String::as_str).collect();
    let mut scored: HashMap<String, (f32, f32, usize)> = HashMap::new();
    let mut weight = 1.0f32;
    for (p, list) in lists.into_iter().enumerate() {
        let audience = audiences.get(p).copied().flatten().unwrap_or(1.0).max(1.0);
        let scale = weight / (audience as f32).sqrt();
        for (video, co) in list {
            if own.contains(video.as_str()) {
                continue;
            }
            let contribution = scale * co as f32;
            let entry = scored.entry(video).or_insert((0.0, 0.0, p));
            entry.0 += contribution;
            if contribution > entry.1 {
                entry.1 = contribution;
                entry.2 = p;
            }
        }
        weight *= recency;
    }
    let mut out: Vec<Neighbour> = scored
        .into_iter()
        .map(|(video, (score, _, p))| Neighbour {
            video,
            score,
            because: sources[p].clone(),
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.video.cmp(&b.video))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn neighbours_sum_recency_weighted_co_counts_over_source_audiences() {
        let sources = s(&["a", "b"]);
        // a (audience 4): x 2, y 1, b 9 (a source itself); b (audience 1): y 3.
        let lists = vec![
            vec![("x".into(), 2.0), ("y".into(), 1.0), ("b".into(), 9.0)],
            vec![("y".into(), 3.0)],
        ];
        let got = combine(&sources, &[Some(4.0), Some(1.0)], lists, 0.5);
        // x: 1 x 2 / 2 = 1; y: 1 x 1 / 2 + 0.5 x 3 / 1 = 2 (mostly from b).
        assert_eq!(
            got,
            vec![
                Neighbour {
                    video: "y".into(),
                    score: 2.0,
                    because: "b".into()
                },
                Neighbour {
                    video: "x".into(),
                    score: 1.0,
                    because: "a".into()
                },
            ]
        );
        // A source nobody counted yet weighs as an audience of one.
        let got = combine(&s(&["a"]), &[None], vec![vec![("x".into(), 1.0)]], 0.9);
        assert_eq!(got[0].score, 1.0);
    }
}
