//! The cisi cause's evaluator. Its judgements are `CISI.REL` in the domain's held-out folder
//! (mounted at `/data` for the evaluator only); every listed pair is relevant (gain 1).
//! The measures are the search domain's (`search_scoring`): NDCG@10, MAP, P@10.
//!
//! Split: a judged query `q` is in the test split when `q % 3 == 0` (25 queries), otherwise
//! in validation (51). Queries without judgements are skipped.

use std::collections::{BTreeMap, HashMap};

use hyper_sdk::prelude::*;
use search_scoring::{self as scoring, Judgements};

pub const MAX_QUERY: u32 = 112;
pub const MAX_DOC: u32 = 1460;

/// Parses CISI.REL: `qid docid 0 0.000000` per line, whitespace separated.
pub fn parse_rel(text: &str) -> Result<Judgements, String> {
    let mut map: BTreeMap<u32, HashMap<u32, u32>> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let bad = || format!("CISI.REL line {}: `{}`", n + 1, line.trim_end());
        if fields.len() != 4 {
            return Err(bad());
        }
        let q: u32 = fields[0].parse().map_err(|_| bad())?;
        let d: u32 = fields[1].parse().map_err(|_| bad())?;
        if !(1..=MAX_QUERY).contains(&q) || !(1..=MAX_DOC).contains(&d) {
            return Err(bad());
        }
        map.entry(q).or_default().insert(d, 1);
    }
    Ok(Judgements(map))
}

struct CisiEvaluator;

impl Evaluator for CisiEvaluator {
    fn info() -> MetricInfo {
        MetricInfo {
            name: "ndcg@10".into(),
            direction: Direction::HigherIsBetter,
            description: "mean NDCG@10 over the split's judged CISI queries, binary gains".into(),
        }
    }

    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        let judgements = parse_rel(&data::read_to_string("CISI.REL")?).map_err(Error::Data)?;
        let run = scoring::read_run(&artifact.media_type, &artifact.bytes, MAX_QUERY, MAX_DOC)
            .map_err(Error::BadArtifact)?;
        let in_split = |q: u32| match split {
            Split::Test => q % 3 == 0,
            Split::Validation => q % 3 != 0,
        };
        let scores = scoring::evaluate(&judgements, &run, in_split);
        Ok(scores
            .named()
            .into_iter()
            .map(|(name, value)| Metric::new(name, value, Direction::HigherIsBetter))
            .collect())
    }
}

register_evaluator!(CisiEvaluator);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_judgements_parse_as_documented() {
        let j = parse_rel(include_str!("../../heldout/CISI.REL")).expect("CISI.REL");
        assert_eq!(j.0.len(), 76, "judged queries");
        assert_eq!(
            j.0.values().map(|d| d.len()).sum::<usize>(),
            3114,
            "judgements"
        );
        assert_eq!(
            j.0.keys().filter(|q| *q % 3 == 0).count(),
            25,
            "test queries"
        );
    }

    #[test]
    fn malformed_lines_are_refused_with_their_number() {
        let err = parse_rel("1 2 0 0.0\n1 x 0 0.0").err().unwrap_or_default();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse_rel("1 2 0").is_err());
        assert!(parse_rel("113 2 0 0.0").is_err());
    }
}
