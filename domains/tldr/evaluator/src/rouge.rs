//! ROUGE (Lin, 2004) as the `rouge-score` package computes it by default: text lower-cased,
//! every character outside `a-z0-9` a separator, no stemming, no stopword removal.
//! ROUGE-N counts clipped n-gram overlaps; ROUGE-L uses the longest common subsequence of
//! the token sequences. Each gives precision, recall and F1 (0 when either is 0).
//! Implemented here (about 80 lines) because the score is the cause's whole point and no
//! wasm-ready Rust crate for it is well kept.

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl Score {
    fn new(hits: usize, candidate: usize, reference: usize) -> Self {
        if hits == 0 || candidate == 0 || reference == 0 {
            return Score {
                precision: 0.0,
                recall: 0.0,
                f1: 0.0,
            };
        }
        let precision = hits as f64 / candidate as f64;
        let recall = hits as f64 / reference as f64;
        Score {
            precision,
            recall,
            f1: 2.0 * precision * recall / (precision + recall),
        }
    }
}

pub fn tokenize(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn ngrams(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    if n > 0 && tokens.len() >= n {
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

pub fn rouge_n(candidate: &[String], reference: &[String], n: usize) -> Score {
    let c = ngrams(candidate, n);
    let r = ngrams(reference, n);
    let hits = c
        .iter()
        .map(|(gram, count)| (*count).min(r.get(gram).copied().unwrap_or(0)))
        .sum();
    Score::new(hits, c.values().sum(), r.values().sum())
}

/// Length of the longest common subsequence (two rows of the classic table).
fn lcs(a: &[String], b: &[String]) -> usize {
    let mut prev = vec![0usize; b.len() + 1];
    let mut row = vec![0usize; b.len() + 1];
    for x in a {
        for (j, y) in b.iter().enumerate() {
            row[j + 1] = if x == y {
                prev[j] + 1
            } else {
                row[j].max(prev[j + 1])
            };
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

pub fn rouge_l(candidate: &[String], reference: &[String]) -> Score {
    Score::new(lcs(candidate, reference), candidate.len(), reference.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        tokenize(s)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Worked by hand: "the cat sat on the mat" vs "the cat was on the mat".
    /// Unigrams: the×2, cat, on, mat shared = 5 of 6 each way: P = R = F = 5/6.
    /// Bigrams: "the cat", "on the", "the mat" shared = 3 of 5: F = 3/5.
    /// LCS: "the cat on the mat" = 5: F = 5/6.
    #[test]
    fn hand_computed_cat_on_the_mat() {
        let reference = t("The cat sat on the mat.");
        let candidate = t("the cat was on the mat");
        assert!(close(rouge_n(&candidate, &reference, 1).f1, 5.0 / 6.0));
        assert!(close(rouge_n(&candidate, &reference, 2).f1, 3.0 / 5.0));
        assert!(close(rouge_l(&candidate, &reference).f1, 5.0 / 6.0));
    }

    /// Candidate "a b c d" (4 tokens) vs reference "a c e" (3): unigram hits a, c = 2:
    /// P = 2/4, R = 2/3, F = 2·(1/2)(2/3)/(1/2 + 2/3) = 4/7. No bigram shared: 0.
    /// LCS "a c" = 2: same P and R as ROUGE-1, F = 4/7.
    #[test]
    fn hand_computed_unequal_lengths() {
        let (c, r) = (t("a b c d"), t("a c e"));
        let one = rouge_n(&c, &r, 1);
        assert!(close(one.precision, 0.5) && close(one.recall, 2.0 / 3.0));
        assert!(close(one.f1, 4.0 / 7.0));
        assert_eq!(rouge_n(&c, &r, 2).f1, 0.0);
        assert!(close(rouge_l(&c, &r).f1, 4.0 / 7.0));
    }

    /// Clipping: "the the the the" vs "the cat": 1 hit (the reference has one "the"),
    /// P = 1/4, R = 1/2, F = 1/3. Order matters for LCS but not ROUGE-1:
    /// "mat the on" vs "on the mat": ROUGE-1 F = 1, LCS = 1 ("the", or any single token): F = 1/3.
    #[test]
    fn hand_computed_clipping_and_order() {
        let f = rouge_n(&t("the the the the"), &t("the cat"), 1).f1;
        assert!(close(f, 1.0 / 3.0), "{f}");
        let (c, r) = (t("mat the on"), t("on the mat"));
        assert!(close(rouge_n(&c, &r, 1).f1, 1.0));
        assert!(close(rouge_l(&c, &r).f1, 1.0 / 3.0));
    }

    #[test]
    fn tokenizer_matches_rouge_score_defaults() {
        assert_eq!(
            t("State-of-the-art: 3.5x FASTER!"),
            ["state", "of", "the", "art", "3", "5x", "faster"]
        );
        assert_eq!(t("naïve café"), ["na", "ve", "caf"]);
        assert_eq!(rouge_n(&t(""), &t("a"), 1).f1, 0.0);
        assert_eq!(rouge_l(&t("a"), &t("")).f1, 0.0);
    }
}
