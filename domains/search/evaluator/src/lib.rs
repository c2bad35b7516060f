//! The search domain's evaluator. It alone holds the relevance judgements (compiled in from
//! `qrels/cranqrel`); skills only ever see documents and queries.
//!
//! Judgements: Cleverdon's codes 1 (complete answer) .. 4 (minimum interest) get gains 4..1
//! (`gain = 5 - code`); code -1 and unjudged documents get 0. Binary relevance (MAP, P@10)
//! counts codes 1-4. Query ids are 1-based positions in `cran.qry`.
//!
//! Split: query `q` is in the test split when `q % 3 == 0` (75 queries), otherwise in
//! validation (150). Fixed, documented in `domains/search/hyper-domain.toml`, never random.

use hyper_sdk::prelude::*;
use search_scoring::{self as scoring, Judgements};

const QRELS: &str = include_str!("../qrels/cranqrel");

struct SearchEvaluator;

impl Evaluator for SearchEvaluator {
    fn info() -> MetricInfo {
        MetricInfo {
            name: "ndcg@10".into(),
            direction: Direction::HigherIsBetter,
            description: "mean NDCG@10 over the split's queries, graded gains 4..1 from Cleverdon's codes 1..4".into(),
        }
    }

    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        let judgements = Judgements::parse(QRELS).map_err(Error::Failed)?;
        let run = scoring::read_run(
            &artifact.media_type,
            &artifact.bytes,
            scoring::MAX_QUERY,
            scoring::MAX_DOC,
        )
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

register_evaluator!(SearchEvaluator);
