//! Parsing judgements and runs, and the IR measures. Pure code (no SDK), unit-tested
//! natively, shared by the search domain's and the cisi cause's evaluators.

use std::collections::{BTreeMap, HashMap, HashSet};

pub const RUN_MEDIA_TYPE: &str = "text/tab-separated-values; profile=trec-run";
/// A run larger than this is refused before parsing.
pub const MAX_RUN_BYTES: usize = 32 << 20;

/// Checks a TREC-run artifact (media type, size, UTF-8) and parses it for a collection with
/// query ids `1..=max_query` and document ids `1..=max_doc`. Errors describe the artifact.
pub fn read_run(
    media_type: &str,
    bytes: &[u8],
    max_query: u32,
    max_doc: u32,
) -> Result<Run, String> {
    if media_type != RUN_MEDIA_TYPE {
        return Err(format!(
            "media type `{media_type}` is not `{RUN_MEDIA_TYPE}`"
        ));
    }
    if bytes.len() > MAX_RUN_BYTES {
        return Err(format!(
            "run of {} bytes exceeds {MAX_RUN_BYTES}",
            bytes.len()
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| format!("run is not UTF-8: {e}"))?;
    Run::parse_in(text, max_query, max_doc)
}

/// Cranfield's id ranges (the search domain).
pub const MAX_QUERY: u32 = 225;
pub const MAX_DOC: u32 = 1400;

/// query -> document -> graded gain (0..=4)
pub struct Judgements(pub BTreeMap<u32, HashMap<u32, u32>>);

impl Judgements {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut map: BTreeMap<u32, HashMap<u32, u32>> = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let bad = || format!("qrels line {}: `{line}`", n + 1);
            if fields.len() != 3 {
                return Err(bad());
            }
            let q: u32 = fields[0].parse().map_err(|_| bad())?;
            let d: u32 = fields[1].parse().map_err(|_| bad())?;
            let code: i32 = fields[2].parse().map_err(|_| bad())?;
            let gain = if (1..=4).contains(&code) {
                (5 - code) as u32
            } else {
                0
            };
            map.entry(q).or_default().insert(d, gain);
        }
        Ok(Judgements(map))
    }
}

/// query -> ranked documents (best first)
pub struct Run(pub HashMap<u32, Vec<u32>>);

impl Run {
    /// Parses `qid docid rank score` lines (tab or space separated). Documents are ordered by
    /// score, ties by rank; ids outside the collection or repeated pairs are errors.
    pub fn parse(text: &str, _judgements: &Judgements) -> Result<Self, String> {
        Self::parse_in(text, MAX_QUERY, MAX_DOC)
    }

    /// [`Run::parse`] for a collection with query ids `1..=max_query` and document ids
    /// `1..=max_doc` (other SMART collections, e.g. the CISI cause).
    pub fn parse_in(text: &str, max_query: u32, max_doc: u32) -> Result<Self, String> {
        let mut per_query: HashMap<u32, Vec<(f64, u32, u32)>> = HashMap::new();
        let mut seen: HashSet<(u32, u32)> = HashSet::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let bad = |why: &str| format!("line {}: {why}: `{}`", n + 1, truncate(line));
            if fields.len() != 4 {
                return Err(bad("expected 4 fields `qid docid rank score`"));
            }
            let q: u32 = fields[0]
                .parse()
                .map_err(|_| bad("query id is not a number"))?;
            let d: u32 = fields[1]
                .parse()
                .map_err(|_| bad("document id is not a number"))?;
            let rank: u32 = fields[2].parse().map_err(|_| bad("rank is not a number"))?;
            let score: f64 = fields[3]
                .parse()
                .map_err(|_| bad("score is not a number"))?;
            if !(1..=max_query).contains(&q) {
                return Err(bad(&format!("query id out of range 1..={max_query}")));
            }
            if !(1..=max_doc).contains(&d) {
                return Err(bad(&format!("document id out of range 1..={max_doc}")));
            }
            if !score.is_finite() {
                return Err(bad("score is not finite"));
            }
            if !seen.insert((q, d)) {
                return Err(bad("document listed twice for the same query"));
            }
            per_query.entry(q).or_default().push((score, rank, d));
        }
        let run = per_query
            .into_iter()
            .map(|(q, mut hits)| {
                hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
                (q, hits.into_iter().map(|(_, _, d)| d).collect())
            })
            .collect();
        Ok(Run(run))
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(80) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    pub ndcg10: f64,
    pub map: f64,
    pub p10: f64,
    pub queries: usize,
}

impl Scores {
    /// (metric name, value), primary first: what a search evaluator reports, all higher-is-better.
    pub fn named(&self) -> [(&'static str, f64); 4] {
        [
            ("ndcg@10", self.ndcg10),
            ("map", self.map),
            ("p@10", self.p10),
            ("queries", self.queries as f64),
        ]
    }
}

/// NDCG@10 with linear gains (as trec_eval's ndcg_cut), AP and P@10 with codes 1-4 relevant.
/// Queries with no relevant document are skipped; a query the run omits scores 0.
pub fn evaluate(judgements: &Judgements, run: &Run, in_split: impl Fn(u32) -> bool) -> Scores {
    let empty = Vec::new();
    let (mut ndcg, mut ap, mut p10, mut n) = (0.0, 0.0, 0.0, 0usize);
    for (&q, judged) in &judgements.0 {
        let relevant = judged.values().filter(|&&g| g > 0).count();
        if !in_split(q) || relevant == 0 {
            continue;
        }
        let ranked = run.0.get(&q).unwrap_or(&empty);
        ndcg += ndcg_at(judged, ranked, 10);
        ap += average_precision(judged, ranked, relevant);
        p10 += ranked
            .iter()
            .take(10)
            .filter(|d| judged.get(d).copied().unwrap_or(0) > 0)
            .count() as f64
            / 10.0;
        n += 1;
    }
    let mean = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
    Scores {
        ndcg10: mean(ndcg),
        map: mean(ap),
        p10: mean(p10),
        queries: n,
    }
}

pub fn ndcg_at(judged: &HashMap<u32, u32>, ranked: &[u32], k: usize) -> f64 {
    let discount = |i: usize| 1.0 / ((i + 2) as f64).log2();
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, d)| judged.get(d).copied().unwrap_or(0) as f64 * discount(i))
        .sum();
    let mut ideal: Vec<u32> = judged.values().copied().filter(|&g| g > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(i, &g)| g as f64 * discount(i))
        .sum();
    if idcg == 0.0 {
        0.0
    } else {
        dcg / idcg
    }
}

fn average_precision(judged: &HashMap<u32, u32>, ranked: &[u32], relevant: usize) -> f64 {
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (i, d) in ranked.iter().enumerate() {
        if judged.get(d).copied().unwrap_or(0) > 0 {
            hits += 1;
            sum += hits as f64 / (i + 1) as f64;
        }
    }
    sum / relevant as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pairs: &[(u32, u32)]) -> HashMap<u32, u32> {
        pairs.iter().copied().collect()
    }

    #[test]
    fn ndcg_of_ideal_ranking_is_one() {
        let j = judged(&[(1, 4), (2, 2), (3, 1)]);
        assert!((ndcg_at(&j, &[1, 2, 3], 10) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn ndcg_hand_computed() {
        // gains 2 at rank 1, 4 at rank 2: DCG = 2 + 4/log2(3); IDCG = 4 + 2/log2(3)
        let j = judged(&[(1, 4), (2, 2)]);
        let want = (2.0 + 4.0 / 3f64.log2()) / (4.0 + 2.0 / 3f64.log2());
        assert!((ndcg_at(&j, &[2, 1], 10) - want).abs() < 1e-12);
    }

    #[test]
    fn qrels_codes_map_to_gains() {
        let j = Judgements::parse("1 184 1\n1 29 4\n1 5 -1").unwrap();
        assert_eq!(j.0[&1][&184], 4);
        assert_eq!(j.0[&1][&29], 1);
        assert_eq!(j.0[&1][&5], 0);
    }

    #[test]
    fn malformed_runs_are_refused() {
        let j = Judgements::parse("1 1 1").unwrap();
        assert!(Run::parse("1 2 3", &j).is_err());
        assert!(Run::parse("1 9999 1 1.0", &j).is_err());
        assert!(Run::parse("1 1 1 1.0\n1 1 2 0.5", &j).is_err());
        assert!(Run::parse("1 1 1 NaN", &j).is_err());
    }
}
