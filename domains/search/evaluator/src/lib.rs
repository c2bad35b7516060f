//! The search domain's evaluator. It alone holds the relevance judgements (compiled in from
//! `qrels/cranqrel`); skills only ever see documents and queries.
//!
//! Judgements: Cleverdon's codes 1 (complete answer) .. 4 (minimum interest) get gains 4..1
//! (`gain = 5 - code`); code -1 and unjudged documents get 0. Binary relevance (MAP, P@10)
//! counts codes 1-4. Query ids are 1-based positions in `cran.qry`.
//!
//! Split: query `q` is in the test split when `q % 3 == 0` (75 queries), otherwise in
//! validation (150). Fixed, documented in `domains/search/hyper-domain.toml`, never random.

pub mod scoring;

#[cfg(feature = "component")]
use hyper_sdk::prelude::*;
#[cfg(feature = "component")]
use scoring::{Judgements, Run};

#[cfg(feature = "component")]
const QRELS: &str = include_str!("../qrels/cranqrel");
pub const RUN_MEDIA_TYPE: &str = "text/tab-separated-values; profile=trec-run";
/// A run larger than this is refused before parsing.
pub const MAX_RUN_BYTES: usize = 32 << 20;

#[cfg(feature = "component")]
struct SearchEvaluator;

#[cfg(feature = "component")]
impl Evaluator for SearchEvaluator {
    fn info() -> MetricInfo {
        MetricInfo {
            name: "ndcg@10".into(),
            direction: Direction::HigherIsBetter,
            description: "mean NDCG@10 over the split's queries, graded gains 4..1 from Cleverdon's codes 1..4".into(),
        }
    }

    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        if artifact.media_type != RUN_MEDIA_TYPE {
            return Err(Error::BadArtifact(format!(
                "media type `{}` is not `{RUN_MEDIA_TYPE}`",
                artifact.media_type
            )));
        }
        if artifact.bytes.len() > MAX_RUN_BYTES {
            return Err(Error::BadArtifact(format!(
                "run of {} bytes exceeds {MAX_RUN_BYTES}",
                artifact.bytes.len()
            )));
        }
        let text = std::str::from_utf8(&artifact.bytes)
            .map_err(|e| Error::BadArtifact(format!("run is not UTF-8: {e}")))?;
        let judgements = Judgements::parse(QRELS).map_err(Error::Failed)?;
        let run = Run::parse(text, &judgements).map_err(Error::BadArtifact)?;
        let in_split = |q: u32| match split {
            Split::Test => q % 3 == 0,
            Split::Validation => q % 3 != 0,
        };
        let scores = scoring::evaluate(&judgements, &run, in_split);
        Ok(vec![
            Metric::new("ndcg@10", scores.ndcg10, Direction::HigherIsBetter),
            Metric::new("map", scores.map, Direction::HigherIsBetter),
            Metric::new("p@10", scores.p10, Direction::HigherIsBetter),
            Metric::new("queries", scores.queries as f64, Direction::HigherIsBetter),
        ])
    }
}

// Other evaluators reuse `scoring` with `default-features = false` (no component exports).
#[cfg(feature = "component")]
register_evaluator!(SearchEvaluator);
