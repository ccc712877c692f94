//! The synthetic interaction log CI evaluates on (MovieLens' licence forbids
//! committing it), with the same shape: users and movies with genres, a
//! popularity skew, and co-engagement that genres do not capture. Movies
//! belong to hidden taste communities (a community's movies share a genre
//! only half the time) and some form series (a sequel follows the film it
//! continues); each user mostly watches one or two communities, preferring
//! popular movies, and rates what is theirs higher. Seeded: the same seed
//! writes the same files (`loopctl eval --write-sample DIR`).

use std::fmt::Write as _;

use loop_platform::bench::Rng;

pub const USERS: usize = 120;
pub const ITEMS: usize = 400;
pub const COMMUNITIES: usize = 10;
pub const SEED: u64 = 15;
const GENRES: [&str; 12] = [
    "Action",
    "Comedy",
    "Drama",
    "Horror",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "Documentary",
    "Animation",
    "Crime",
    "Fantasy",
    "Musical",
];

/// A movie's hidden community, its popularity weight and its sequel.
struct Movie {
    community: usize,
    weight: f64,
    sequel: Option<usize>,
}

/// `movies.tsv` and `ratings.tsv` of the sample for `seed`.
pub fn generate(seed: u64) -> (String, String) {
    let mut rng = Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut movies_tsv = String::from("movie_id\ttitle\tyear\tgenres\n");
    let mut movies: Vec<Movie> = Vec::with_capacity(ITEMS);
    for i in 0..ITEMS {
        let community = rng.below(COMMUNITIES);
        // A popularity skew: Zipf-like weights over a shuffled rank.
        let rank = rng.below(ITEMS) + 1;
        let weight = 1.0 / (rank as f64).powf(0.9);
        let mut genres: Vec<&str> = Vec::new();
        if rng.chance(50) {
            genres.push(GENRES[community % GENRES.len()]);
        }
        for _ in 0..=rng.below(2) {
            let g = GENRES[rng.below(GENRES.len())];
            if !genres.contains(&g) {
                genres.push(g);
            }
        }
        let _ = writeln!(
            movies_tsv,
            "{}\tFilm number {i}\t{}.0\t{}",
            1000 + i,
            1980 + rng.below(36),
            genres.join("|")
        );
        movies.push(Movie {
            community,
            weight,
            sequel: None,
        });
    }
    // Series: a quarter of the movies have a sequel in their community.
    for i in 0..ITEMS {
        if rng.chance(25) {
            let c = movies[i].community;
            if let Some(j) = (i + 1..ITEMS).find(|&j| movies[j].community == c) {
                movies[i].sequel = Some(j);
            }
        }
    }
    let ratings_tsv = ratings(&mut rng, &movies);
    (movies_tsv, ratings_tsv)
}

/// Each user's history: picks from their communities (by popularity) or
/// anything popular, sequels after a liked film, stars by affinity.
fn ratings(rng: &mut Rng, movies: &[Movie]) -> String {
    let by_community: Vec<Vec<usize>> = (0..COMMUNITIES)
        .map(|c| (0..ITEMS).filter(|&i| movies[i].community == c).collect())
        .collect();
    let everything: Vec<usize> = (0..ITEMS).collect();
    let mut out = String::from("user_id\tmovie_id\trating\ttimestamp\n");
    for u in 0..USERS {
        let primary = rng.below(COMMUNITIES);
        let secondary = rng.below(COMMUNITIES);
        // Activity is skewed too: most users rate a dozen or two, a few many more.
        let n = 12 + (40.0 * rng.unit().powi(3)) as usize;
        let mut t: i64 = 1_400_000_000 + rng.below(30 * 86_400) as i64;
        let mut rated: Vec<usize> = Vec::with_capacity(n);
        let mut next_sequel: Option<usize> = None;
        while rated.len() < n {
            let pick = match next_sequel.take() {
                Some(s) if rng.chance(60) => s,
                _ => {
                    let r = rng.unit();
                    let pool = if r < 0.6 {
                        &by_community[primary]
                    } else if r < 0.8 {
                        &by_community[secondary]
                    } else {
                        &everything
                    };
                    weighted(rng, pool, movies)
                }
            };
            if rated.contains(&pick) {
                continue;
            }
            rated.push(pick);
            let community = movies[pick].community;
            let (liked, partial) = if community == primary {
                (80, 15)
            } else if community == secondary {
                (60, 25)
            } else {
                (25, 35)
            };
            let roll = rng.below(100) as u64;
            let stars = if roll < liked {
                ["4.0", "4.5", "5.0"][rng.below(3)]
            } else if roll < liked + partial {
                ["3.0", "3.5"][rng.below(2)]
            } else {
                ["1.0", "2.0", "2.5"][rng.below(3)]
            };
            if roll < liked {
                next_sequel = movies[pick].sequel;
            }
            t += 60 + rng.below(3 * 86_400) as i64;
            let _ = writeln!(out, "{}\t{}\t{stars}\t{t}", u + 1, 1000 + pick);
        }
    }
    out
}

/// A movie of `pool` drawn in proportion to its popularity weight.
fn weighted(rng: &mut Rng, pool: &[usize], movies: &[Movie]) -> usize {
    let total: f64 = pool.iter().map(|&i| movies[i].weight).sum();
    let mut x = rng.unit() * total;
    for &i in pool {
        x -= movies[i].weight;
        if x <= 0.0 {
            return i;
        }
    }
    pool[pool.len() - 1]
}

/// Writes the sample's two files into `dir`.
pub fn write(dir: &std::path::Path, seed: u64) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (movies, ratings) = generate(seed);
    std::fs::write(dir.join("movies.tsv"), movies)?;
    std::fs::write(dir.join("ratings.tsv"), ratings)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::Dataset;

    #[test]
    fn the_committed_sample_is_what_the_generator_writes() {
        let (movies, ratings) = generate(SEED);
        assert_eq!(
            movies,
            include_str!("../../data/eval-sample/movies.tsv"),
            "regenerate: loopctl eval --write-sample tools/loopctl/data/eval-sample"
        );
        assert_eq!(ratings, include_str!("../../data/eval-sample/ratings.tsv"));
    }

    #[test]
    fn the_sample_has_the_logs_shape() {
        let (movies, ratings) = generate(SEED);
        let d = Dataset::parse(&movies, &ratings).expect("parses");
        assert_eq!(d.users(), USERS);
        assert!(
            (2_000..6_000).contains(&d.ratings.len()),
            "{}",
            d.ratings.len()
        );
        // A popularity skew: the top tenth of movies draws a third of the ratings.
        let mut counts = vec![0usize; d.items.len()];
        for r in &d.ratings {
            counts[r.item as usize] += 1;
        }
        counts.sort_unstable_by(|a, b| b.cmp(a));
        let top: usize = counts[..d.items.len() / 10].iter().sum();
        assert!(top * 3 > d.ratings.len(), "top tenth has {top}");
        assert_ne!(generate(SEED + 1).1, ratings, "the seed matters");
    }
}
