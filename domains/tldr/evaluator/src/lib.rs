//! The tldr cause's evaluator. Skills summarise each SciTLDR abstract in one line by
//! *extracting* whole sentences; this evaluator holds the papers' TL;DRs (`dev.jsonl` for
//! validation, `test.jsonl` for test, in the held-out folder at `/data`) and scores:
//!
//! - `rouge-1` (primary), `rouge-2`, `rouge-l`: F1 against the best-matching TL;DR of each
//!   paper (test papers have several: the author's and reviewers'), averaged over papers;
//! - `words`: mean summary length.
//!
//! The artifact is a JSON object `{paper_id: summary}`. A summary must be 1 to 3 of the
//! paper's own source sentences, joined by spaces, each used once (whitespace is compared
//! collapsed); anything else is refused as not extractive. A paper without a summary is
//! refused too, so every score covers the whole split.

pub mod rouge;

use std::collections::HashMap;

use hyper_sdk::prelude::*;
use serde::Deserialize;

pub const MEDIA_TYPE: &str = "application/vnd.hyper.tldr+json";
pub const MAX_SENTENCES: usize = 3;
const MAX_ARTIFACT_BYTES: usize = 16 << 20;

#[derive(Deserialize)]
pub struct Paper {
    pub paper_id: String,
    pub source: Vec<String>,
    pub target: Vec<String>,
}

pub fn parse_papers(text: &str) -> Result<Vec<Paper>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect()
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `summary` is 1..=MAX_SENTENCES distinct source sentences joined by spaces.
pub fn is_extractive(summary: &str, source: &[String]) -> bool {
    let summary = collapse(summary);
    let sentences: Vec<String> = source
        .iter()
        .map(|s| collapse(s))
        .filter(|s| !s.is_empty())
        .collect();
    fn split(rest: &str, sentences: &[String], used: &mut Vec<usize>) -> bool {
        if rest.is_empty() {
            return !used.is_empty();
        }
        if used.len() == MAX_SENTENCES {
            return false;
        }
        for (i, s) in sentences.iter().enumerate() {
            if used.contains(&i) || !rest.starts_with(s.as_str()) {
                continue;
            }
            let after = &rest[s.len()..];
            let next = match after.strip_prefix(' ') {
                Some(next) => next,
                None if after.is_empty() => after,
                None => continue,
            };
            used.push(i);
            if split(next, sentences, used) {
                return true;
            }
            used.pop();
        }
        false
    }
    split(&summary, &sentences, &mut Vec::new())
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub rouge1: f64,
    pub rouge2: f64,
    pub rouge_l: f64,
    pub words: f64,
    pub papers: usize,
}

/// Scores `summaries` on `papers`; errors name the first paper that is missing or whose
/// summary is not extractive.
pub fn evaluate(papers: &[Paper], summaries: &HashMap<String, String>) -> Result<Scores, String> {
    let (mut r1, mut r2, mut rl, mut words) = (0.0, 0.0, 0.0, 0.0);
    for paper in papers {
        let summary = summaries
            .get(&paper.paper_id)
            .ok_or_else(|| format!("no summary for paper `{}`", paper.paper_id))?;
        if !is_extractive(summary, &paper.source) {
            return Err(format!(
                "the summary of `{}` is not 1-{MAX_SENTENCES} of its source sentences",
                paper.paper_id
            ));
        }
        let candidate = rouge::tokenize(summary);
        let best = |f: &dyn Fn(&[String]) -> f64| {
            paper
                .target
                .iter()
                .map(|t| f(&rouge::tokenize(t)))
                .fold(0.0, f64::max)
        };
        r1 += best(&|r| rouge::rouge_n(&candidate, r, 1).f1);
        r2 += best(&|r| rouge::rouge_n(&candidate, r, 2).f1);
        rl += best(&|r| rouge::rouge_l(&candidate, r).f1);
        words += candidate.len() as f64;
    }
    let n = papers.len().max(1) as f64;
    Ok(Scores {
        rouge1: r1 / n,
        rouge2: r2 / n,
        rouge_l: rl / n,
        words: words / n,
        papers: papers.len(),
    })
}

struct TldrEvaluator;

impl Evaluator for TldrEvaluator {
    fn info() -> MetricInfo {
        MetricInfo {
            name: "rouge-1".into(),
            direction: Direction::HigherIsBetter,
            description: "mean ROUGE-1 F1 of extractive summaries against the best-matching TL;DR"
                .into(),
        }
    }

    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        if artifact.media_type != MEDIA_TYPE {
            return Err(Error::BadArtifact(format!(
                "media type `{}` is not `{MEDIA_TYPE}`",
                artifact.media_type
            )));
        }
        if artifact.bytes.len() > MAX_ARTIFACT_BYTES {
            return Err(Error::BadArtifact(format!(
                "{} bytes exceeds {MAX_ARTIFACT_BYTES}",
                artifact.bytes.len()
            )));
        }
        let summaries: HashMap<String, String> =
            serde_json::from_slice(&artifact.bytes).map_err(|e| {
                Error::BadArtifact(format!("not a JSON object of paper id -> summary: {e}"))
            })?;
        let file = match split {
            Split::Validation => "dev.jsonl",
            Split::Test => "test.jsonl",
        };
        let papers = parse_papers(&data::read_to_string(file)?)
            .map_err(|e| Error::Data(format!("{file}: {e}")))?;
        let s = evaluate(&papers, &summaries).map_err(Error::BadArtifact)?;
        Ok(vec![
            Metric::new("rouge-1", s.rouge1, Direction::HigherIsBetter),
            Metric::new("rouge-2", s.rouge2, Direction::HigherIsBetter),
            Metric::new("rouge-l", s.rouge_l, Direction::HigherIsBetter),
            Metric::new("words", s.words, Direction::LowerIsBetter),
            Metric::new("papers", s.papers as f64, Direction::HigherIsBetter),
        ])
    }
}

register_evaluator!(TldrEvaluator);

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Paper {
        Paper {
            paper_id: "p1".into(),
            source: vec![
                "We study cats.".into(),
                "Cats  sit on mats.".into(),
                "We propose a mat detector.".into(),
            ],
            target: vec![
                "A mat detector for cats.".into(),
                "Cats sit on mats.".into(),
            ],
        }
    }

    #[test]
    fn summaries_must_be_whole_source_sentences() {
        let p = paper();
        assert!(is_extractive("Cats sit on mats.", &p.source));
        assert!(is_extractive(
            "We propose a mat detector.  We study cats.",
            &p.source
        ));
        assert!(is_extractive(
            "We study cats. Cats sit on mats. We propose a mat detector.",
            &p.source
        ));
        assert!(
            !is_extractive("Cats sit on mats", &p.source),
            "partial sentence"
        );
        assert!(
            !is_extractive("A mat detector for cats.", &p.source),
            "abstractive"
        );
        assert!(
            !is_extractive("We study cats. We study cats.", &p.source),
            "repeated"
        );
        assert!(!is_extractive("", &p.source));
    }

    #[test]
    fn the_best_matching_reference_counts() {
        let p = paper();
        let summaries = HashMap::from([("p1".to_string(), "Cats sit on mats.".to_string())]);
        let s = evaluate(std::slice::from_ref(&p), &summaries).expect("scores");
        // Identical to the second TL;DR.
        assert_eq!(
            (s.rouge1, s.rouge2, s.rouge_l, s.words),
            (1.0, 1.0, 1.0, 4.0)
        );
        let summaries = HashMap::from([("p1".to_string(), "We study cats.".to_string())]);
        let s = evaluate(std::slice::from_ref(&p), &summaries).expect("scores");
        // "we study cats" vs "cats sit on mats": 1 of 3 / 1 of 4 -> F = 2/7; vs "a mat
        // detector for cats": 1 of 3 / 1 of 5 -> 1/4. The best is 2/7.
        assert!((s.rouge1 - 2.0 / 7.0).abs() < 1e-12, "{}", s.rouge1);
        assert_eq!(s.rouge2, 0.0);
        let missing = evaluate(&[p], &HashMap::new()).expect_err("missing");
        assert!(missing.contains("no summary for paper `p1`"));
    }
}
