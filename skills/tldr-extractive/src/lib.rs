//! The tldr cause's official skill. It reads `/data/train.jsonl` (abstracts with their
//! TL;DRs and the oracle sentence labels), learns *cue words* there (words whose share in
//! oracle sentences most exceeds their share elsewhere, e.g. "propose", "show"), then for
//! every validation and test abstract (`dev.sources.jsonl`, `test.sources.jsonl`: sentences
//! only) scores each sentence:
//!
//! `position_weight·(1 − i/n) + centroid_weight·cos(sentence, abstract)
//!  + cue_weight·cue(sentence) − length_weight·|words − length_target| / length_target`
//!
//! and returns the `sentences` best, in abstract order. It never sees a held-out TL;DR and
//! never computes ROUGE: the evaluator does.

use std::collections::{HashMap, HashSet};

use hyper_sdk::prelude::*;
use serde::Deserialize;

const MEDIA_TYPE: &str = "application/vnd.hyper.tldr+json";

struct TldrExtractive;

#[derive(Deserialize)]
struct TrainPaper {
    source: Vec<String>,
    source_labels: Vec<u8>,
}

#[derive(Deserialize)]
struct SourcePaper {
    paper_id: String,
    source: Vec<String>,
}

const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "for", "from", "has", "have", "in",
    "is", "it", "its", "of", "on", "or", "that", "the", "their", "these", "this", "to", "which",
    "with", "we", "our", "been", "not", "such", "also", "than", "more", "both", "when",
];

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn read_jsonl<T: for<'de> Deserialize<'de>>(name: &str) -> Result<Vec<T>, Error> {
    data::read_to_string(name)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::Data(format!("{name} line {}: {e}", i + 1)))
        })
        .collect()
}

/// Log-odds of a word appearing in an oracle sentence rather than another, add-one smoothed,
/// for words seen in at least 10 training sentences; kept when positive.
fn learn_cues(train: &[TrainPaper]) -> HashMap<String, f64> {
    let mut in_oracle: HashMap<String, f64> = HashMap::new();
    let mut elsewhere: HashMap<String, f64> = HashMap::new();
    let (mut n_oracle, mut n_else) = (0.0, 0.0);
    for paper in train {
        for (sentence, label) in paper.source.iter().zip(&paper.source_labels) {
            let set: HashSet<String> = words(sentence).into_iter().collect();
            let (counts, n) = if *label == 1 {
                (&mut in_oracle, &mut n_oracle)
            } else {
                (&mut elsewhere, &mut n_else)
            };
            *n += 1.0;
            for w in set {
                *counts.entry(w).or_insert(0.0) += 1.0;
            }
        }
    }
    let mut cues = HashMap::new();
    for (w, a) in &in_oracle {
        let b = elsewhere.get(w).copied().unwrap_or(0.0);
        if a + b < 10.0 || STOPWORDS.contains(&w.as_str()) {
            continue;
        }
        let odds = ((a + 1.0) / (n_oracle + 2.0)).ln() - ((b + 1.0) / (n_else + 2.0)).ln();
        if odds > 0.0 {
            cues.insert(w.clone(), odds);
        }
    }
    cues
}

struct Options {
    sentences: usize,
    position_weight: f64,
    centroid_weight: f64,
    cue_weight: f64,
    length_target: f64,
    length_weight: f64,
    skip_first: bool,
}

fn term_counts(tokens: &[String]) -> HashMap<&str, f64> {
    let mut tf = HashMap::new();
    for t in tokens {
        if !STOPWORDS.contains(&t.as_str()) {
            *tf.entry(t.as_str()).or_insert(0.0) += 1.0;
        }
    }
    tf
}

fn cosine(a: &HashMap<&str, f64>, b: &HashMap<&str, f64>) -> f64 {
    let dot: f64 = a
        .iter()
        .map(|(k, v)| v * b.get(k).copied().unwrap_or(0.0))
        .sum();
    let norm = |m: &HashMap<&str, f64>| m.values().map(|v| v * v).sum::<f64>().sqrt();
    let d = norm(a) * norm(b);
    if d == 0.0 {
        0.0
    } else {
        dot / d
    }
}

fn summarise(source: &[String], cues: &HashMap<String, f64>, o: &Options) -> String {
    let sentences: Vec<(usize, &String)> = source
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.trim().is_empty())
        .collect();
    let tokens: Vec<Vec<String>> = sentences.iter().map(|(_, s)| words(s)).collect();
    let all: Vec<String> = tokens.iter().flatten().cloned().collect();
    let doc = term_counts(&all);
    let n = sentences.len().max(1) as f64;
    let mut scored: Vec<(f64, usize)> = sentences
        .iter()
        .zip(&tokens)
        .enumerate()
        .filter(|(rank, _)| !(o.skip_first && *rank == 0 && sentences.len() > o.sentences))
        .map(|(rank, ((i, _), toks))| {
            let cue = if toks.is_empty() {
                0.0
            } else {
                toks.iter()
                    .map(|t| cues.get(t).copied().unwrap_or(0.0))
                    .sum::<f64>()
                    / toks.len() as f64
            };
            let length = (toks.len() as f64 - o.length_target).abs() / o.length_target;
            let score = o.position_weight * (1.0 - rank as f64 / n)
                + o.centroid_weight * cosine(&term_counts(toks), &doc)
                + o.cue_weight * cue
                - o.length_weight * length;
            (score, *i)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut chosen: Vec<usize> = scored.iter().take(o.sentences).map(|(_, i)| *i).collect();
    chosen.sort_unstable();
    chosen
        .iter()
        .map(|&i| source[i].split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(" ")
}

impl Skill for TldrExtractive {
    fn info() -> SkillInfo {
        SkillInfo::new("tldr-extractive", env!("CARGO_PKG_VERSION"), "tldr")
            .describe("Extractive TL;DR: sentence scores from position, similarity to the abstract, learned cue words and length")
            .param(ParamSpec::int("sentences", "sentences per summary", 1, 3, 1))
            .param(ParamSpec::float("position_weight", "weight of being early in the abstract", 0.0, 3.0, 1.0))
            .param(ParamSpec::float("centroid_weight", "weight of cosine similarity to the whole abstract", 0.0, 3.0, 1.0))
            .param(ParamSpec::float("cue_weight", "weight of cue words learned from the training oracle", 0.0, 3.0, 1.0))
            .param(ParamSpec::float("length_target", "preferred summary sentence length in words", 8.0, 50.0, 22.0))
            .param(ParamSpec::float("length_weight", "penalty for straying from the preferred length", 0.0, 2.0, 0.5))
            .param(ParamSpec::flag("skip_first", "never pick the first sentence (often background)", false))
    }

    fn run(experiment: &Experiment) -> Result<Artifact, Error> {
        let p = &experiment.params;
        let options = Options {
            sentences: p.int("sentences")?.clamp(1, 3) as usize,
            position_weight: p.float("position_weight")?,
            centroid_weight: p.float("centroid_weight")?,
            cue_weight: p.float("cue_weight")?,
            length_target: p.float("length_target")?.max(1.0),
            length_weight: p.float("length_weight")?,
            skip_first: p.flag("skip_first")?,
        };
        let train: Vec<TrainPaper> = read_jsonl("train.jsonl")?;
        let cues = learn_cues(&train);
        log::info(&format!(
            "{} cue words from {} training papers",
            cues.len(),
            train.len()
        ));
        let mut out = serde_json::Map::new();
        for file in ["dev.sources.jsonl", "test.sources.jsonl"] {
            for paper in read_jsonl::<SourcePaper>(file)? {
                let summary = summarise(&paper.source, &cues, &options);
                out.insert(paper.paper_id, serde_json::Value::String(summary));
            }
        }
        let bytes = serde_json::to_vec(&out).map_err(|e| Error::Failed(e.to_string()))?;
        Ok(Artifact::new(MEDIA_TYPE, bytes))
    }
}

register_skill!(TldrExtractive);
