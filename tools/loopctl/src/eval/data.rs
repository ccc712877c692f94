//! An interaction log for the evaluation: `ratings.tsv` (user_id, movie_id,
//! rating, timestamp in seconds) and `movies.tsv` (movie_id, title, year,
//! genres separated by `|`), both with a header line, as
//! `../shared/data/movielens-small.sh` writes them and as the committed
//! synthetic sample is. Users and items get dense indexes; a rating becomes
//! what a viewer does in Loop (see [`Outcome`]).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, bail};

/// A movie (an item): a video in the ranker's catalog, its genres its hashtags.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The id in the files.
    pub external_id: u64,
    pub title: String,
    /// Lower-case hashtags (letters and digits only): `Sci-Fi` is `scifi`.
    pub hashtags: Vec<String>,
}

/// One rating: dense user and item indexes, the stars, the time (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    pub user: u32,
    pub item: u32,
    pub stars: f32,
    pub at_s: i64,
}

/// What a rating means as engagement (`../shared/data/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// >= 4 stars: a complete view and a like.
    Liked,
    /// 3 to 3.5 stars: a partial view.
    Partial,
    /// Below 3: a quick skip.
    Skipped,
}

impl Outcome {
    pub fn of(stars: f32) -> Self {
        if stars >= 4.0 {
            Self::Liked
        } else if stars >= 3.0 {
            Self::Partial
        } else {
            Self::Skipped
        }
    }

    /// Whether the viewer engaged positively (the ranker's weight > 0).
    pub fn engaged(self) -> bool {
        self != Self::Skipped
    }
}

#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub items: Vec<Item>,
    pub ratings: Vec<Rating>,
    /// The id in the files of each dense user index.
    pub user_ids: Vec<u64>,
}

impl Dataset {
    pub fn users(&self) -> usize {
        self.user_ids.len()
    }

    /// Reads `ratings.tsv` and `movies.tsv` from `dir`.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let movies = dir.join("movies.tsv");
        let ratings = dir.join("ratings.tsv");
        let movies_text = std::fs::read_to_string(&movies)
            .with_context(|| format!("--data: cannot read {}", movies.display()))?;
        let ratings_text = std::fs::read_to_string(&ratings)
            .with_context(|| format!("--data: cannot read {}", ratings.display()))?;
        Self::parse(&movies_text, &ratings_text)
    }

    /// Parses the two files' text (header lines first).
    pub fn parse(movies: &str, ratings: &str) -> anyhow::Result<Self> {
        let mut data = Dataset::default();
        let mut item_index: HashMap<u64, u32> = HashMap::new();
        for (n, line) in movies.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let fields = fields(line, "movies.tsv", n, "movie_id, title, year, genres")?;
            let id = parse_field::<u64>(fields[0], "movies.tsv", n, "movie_id")?;
            if item_index.contains_key(&id) {
                continue;
            }
            item_index.insert(id, data.items.len() as u32);
            data.items.push(Item {
                external_id: id,
                title: unquote(fields[1]),
                hashtags: hashtags(fields[3]),
            });
        }
        let mut user_index: HashMap<u64, u32> = HashMap::new();
        for (n, line) in ratings.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let fields = fields(
                line,
                "ratings.tsv",
                n,
                "user_id, movie_id, rating, timestamp",
            )?;
            let user = parse_field::<u64>(fields[0], "ratings.tsv", n, "user_id")?;
            let movie = parse_field::<u64>(fields[1], "ratings.tsv", n, "movie_id")?;
            let stars = parse_field::<f32>(fields[2], "ratings.tsv", n, "rating")?;
            let at_s = parse_field::<f64>(fields[3], "ratings.tsv", n, "timestamp")? as i64;
            if !(0.0..=10.0).contains(&stars) {
                bail!("ratings.tsv line {}: rating {stars} is not 0..=10", n + 1);
            }
            let next_user = data.user_ids.len() as u32;
            let user = *user_index.entry(user).or_insert_with(|| {
                data.user_ids.push(user);
                next_user
            });
            // A movie without a line in movies.tsv is still an item, without genres.
            let next_item = data.items.len() as u32;
            let item = *item_index.entry(movie).or_insert_with(|| {
                data.items.push(Item {
                    external_id: movie,
                    title: String::new(),
                    hashtags: Vec::new(),
                });
                next_item
            });
            data.ratings.push(Rating {
                user,
                item,
                stars,
                at_s,
            });
        }
        if data.ratings.is_empty() {
            bail!("ratings.tsv: no ratings");
        }
        Ok(data)
    }
}

/// The line's tab-separated fields: at least the four `names` says.
fn fields<'a>(line: &'a str, file: &str, n: usize, names: &str) -> anyhow::Result<Vec<&'a str>> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() < 4 {
        bail!(
            "{file} line {}: expected 4 tab-separated fields ({names}), got {}",
            n + 1,
            fields.len()
        );
    }
    Ok(fields)
}

fn parse_field<T: std::str::FromStr>(
    value: &str,
    file: &str,
    line: usize,
    field: &str,
) -> anyhow::Result<T> {
    value.trim().parse().map_err(|_| {
        anyhow::anyhow!(
            "{file} line {}: {field} {value:?} is not a number",
            line + 1
        )
    })
}

/// A field as pandas quotes it: `"..."` with `""` for a quote inside.
fn unquote(field: &str) -> String {
    match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => field.to_owned(),
    }
}

/// Genres as hashtags: lower case, letters and digits only; "(no genres
/// listed)" is none.
pub fn hashtags(genres: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for genre in genres.split('|') {
        if genre.starts_with('(') {
            continue;
        }
        let tag: String = genre
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// Whether `dir` holds a dataset (both files).
pub fn exists(dir: &Path) -> bool {
    dir.join("ratings.tsv").is_file() && dir.join("movies.tsv").is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOVIES: &str = "movie_id\ttitle\tyear\tgenres\n\
        10\tHeat\t1995.0\tAction|Crime|Thriller\n\
        20\t\"\"\"Great\"\" Cats\"\t1998.0\tSci-Fi|(no genres listed)\n";
    const RATINGS: &str = "user_id\tmovie_id\trating\ttimestamp\n\
        7\t10\t4.5\t1000\n\
        7\t20\t3.0\t1001\n\
        9\t30\t1.0\t1002\n";

    #[test]
    fn parses_users_items_and_genres_as_hashtags() {
        let d = Dataset::parse(MOVIES, RATINGS).expect("parses");
        assert_eq!(d.users(), 2);
        assert_eq!(d.items.len(), 3, "a rated movie without a line is an item");
        assert_eq!(d.items[0].hashtags, ["action", "crime", "thriller"]);
        assert_eq!(d.items[1].title, "\"Great\" Cats");
        assert_eq!(d.items[1].hashtags, ["scifi"]);
        assert!(d.items[2].hashtags.is_empty());
        assert_eq!(
            d.ratings[2],
            Rating {
                user: 1,
                item: 2,
                stars: 1.0,
                at_s: 1002
            }
        );
    }

    #[test]
    fn bad_lines_name_the_file_line_and_field() {
        let err = Dataset::parse(MOVIES, "h\n7\tx\t4\t1\n").expect_err("bad id");
        assert_eq!(
            err.to_string(),
            "ratings.tsv line 2: movie_id \"x\" is not a number"
        );
        let err = Dataset::parse("h\n1\tonly two\n", RATINGS).expect_err("short line");
        assert!(err.to_string().starts_with("movies.tsv line 2: expected 4"));
        assert!(Dataset::parse(MOVIES, "header only\n").is_err());
    }

    #[test]
    fn stars_map_to_what_a_viewer_does() {
        assert_eq!(Outcome::of(5.0), Outcome::Liked);
        assert_eq!(Outcome::of(4.0), Outcome::Liked);
        assert_eq!(Outcome::of(3.5), Outcome::Partial);
        assert_eq!(Outcome::of(3.0), Outcome::Partial);
        assert_eq!(Outcome::of(2.5), Outcome::Skipped);
        assert!(Outcome::Partial.engaged() && !Outcome::Skipped.engaged());
    }
}
