//! Content embeddings: a video's starting vector from its features, by
//! signed feature hashing into `dim` dimensions (each feature touches
//! `HASHES` dimensions, so unrelated features are nearly orthogonal).
//! Deterministic across processes and releases: replay depends on it.

use sha2::{Digest, Sha256};

const HASHES: usize = 6;

/// Features of a video and their weights.
pub struct Features<'a> {
    pub hashtags: &'a [String],
    pub category: &'a str,
    pub creator_id: &'a str,
    pub sound_id: &'a str,
    pub caption: &'a str,
}

fn add_feature(v: &mut [f32], feature: &str, weight: f32) {
    let digest = Sha256::digest(feature.as_bytes());
    let dim = v.len();
    for k in 0..HASHES {
        let b = &digest[k * 5..k * 5 + 5];
        let index = (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) % dim;
        let sign = if b[4] & 1 == 0 { 1.0 } else { -1.0 };
        v[index] += sign * weight;
    }
}

/// The normalised content vector of a video.
pub fn content_vector(f: &Features<'_>, dim: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; dim];
    for tag in f.hashtags {
        add_feature(&mut v, &format!("tag:{tag}"), 1.0);
    }
    if !f.category.is_empty() {
        add_feature(&mut v, &format!("tag:{}", f.category), 1.0);
    }
    if !f.creator_id.is_empty() {
        add_feature(&mut v, &format!("creator:{}", f.creator_id), 0.35);
    }
    if !f.sound_id.is_empty() {
        add_feature(&mut v, &format!("sound:{}", f.sound_id), 0.35);
    }
    for word in f
        .caption
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 3)
        .take(20)
    {
        add_feature(&mut v, &format!("word:{}", word.to_lowercase()), 0.15);
    }
    normalize(&mut v);
    v
}

/// The vector of a set of declared interests (cold start).
pub fn interests_vector(interests: &[String], dim: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; dim];
    for i in interests {
        add_feature(&mut v, &format!("tag:{i}"), 1.0);
    }
    normalize(&mut v);
    v
}

pub fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

pub fn normalize(v: &mut [f32]) {
    let n = norm(v);
    if n > 1e-9 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine similarity (0 when either vector is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let d = norm(a) * norm(b);
    if d < 1e-9 { 0.0 } else { dot(a, b) / d }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn video(tags: &[&str], creator: &str) -> Vec<f32> {
        let tags: Vec<String> = tags.iter().map(|t| (*t).to_string()).collect();
        content_vector(
            &Features {
                hashtags: &tags,
                category: "",
                creator_id: creator,
                sound_id: "",
                caption: "",
            },
            64,
        )
    }

    #[test]
    fn same_family_videos_are_close_and_others_are_not() {
        let a = video(&["dance", "salsa"], "c1");
        let b = video(&["dance", "tango"], "c2");
        let c = video(&["cooking", "pasta"], "c3");
        assert!(cosine(&a, &b) > 0.3, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c).abs() < cosine(&a, &b));
        assert!((norm(&a) - 1.0).abs() < 1e-5);
    }

    #[test]
    fn embeddings_are_deterministic() {
        assert_eq!(video(&["x"], "y"), video(&["x"], "y"));
        let tags = vec!["dance".to_string()];
        let i = interests_vector(&tags, 64);
        assert!(cosine(&i, &video(&["dance"], "")) > 0.8);
    }
}
