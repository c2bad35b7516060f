//! The evaluator of the cause `{{name}}`: the only place its metric is computed. It runs in
//! the sandbox with the cause's held-out folder at /data and nothing else.
//!
//! This template scores answers to the questions in data/questions.tsv: the artifact is
//! `id<TAB>answer` lines, the metric the share of the split's questions answered exactly
//! (heldout/answers.tsv). Replace it with your own scoring.

use hyper_sdk::prelude::*;

struct CauseEvaluator;

impl Evaluator for CauseEvaluator {
    fn info() -> MetricInfo {
        MetricInfo {
            name: "{{metric}}".into(),
            direction: Direction::{{direction_variant}},
            description: "share of the split's questions answered exactly".into(),
        }
    }

    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        if artifact.media_type != "text/tab-separated-values" {
            return Err(Error::BadArtifact(format!(
                "media type `{}` is not text/tab-separated-values",
                artifact.media_type
            )));
        }
        let text = std::str::from_utf8(&artifact.bytes)
            .map_err(|e| Error::BadArtifact(format!("not UTF-8: {e}")))?;
        let given: std::collections::HashMap<&str, &str> = text
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(id, answer)| (id.trim(), answer.trim()))
            .collect();
        let wanted = match split {
            Split::Validation => "val",
            Split::Test => "test",
        };
        let answers = data::read_to_string("answers.tsv")?;
        let (mut right, mut total) = (0usize, 0usize);
        for line in answers.lines().skip(1) {
            let fields: Vec<&str> = line.split('\t').collect();
            let [split, id, answer] = fields[..] else {
                return Err(Error::Data(format!("answers.tsv: bad line `{line}`")));
            };
            if split != wanted {
                continue;
            }
            total += 1;
            if given.get(id) == Some(&answer) {
                right += 1;
            }
        }
        if total == 0 {
            return Err(Error::Data(format!("answers.tsv has no `{wanted}` rows")));
        }
        Ok(vec![
            Metric::new("{{metric}}", right as f64 / total as f64, Direction::{{direction_variant}}),
            Metric::new("questions", total as f64, Direction::HigherIsBetter),
        ])
    }
}

register_evaluator!(CauseEvaluator);
