//! The ML domain's evaluator. It reads the artifact (safetensors weights, architecture in the
//! metadata), rebuilds the domain's reference model from it — refusing anything that is not
//! exactly that architecture within its bounds — and computes bits per byte itself on the
//! held-out text the host mounts for it alone at `/data` (`val.txt`, `test.txt`). A skill
//! never sees that text and never reports its own loss.

use hyper_sdk::prelude::*;
use tinygpt::host::HostTensors;

struct MlEvaluator;

/// Windows scored per forward pass.
const BATCH: usize = 16;

impl Evaluator for MlEvaluator {
    fn info() -> MetricInfo {
        MetricInfo {
            name: "bpb".into(),
            direction: Direction::LowerIsBetter,
            description: "bits per byte of the split's text under the model (val_bpb on validation, test_bpb on test), in non-overlapping windows of the model's context".into(),
        }
    }

    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        if artifact.media_type != tinygpt::MEDIA_TYPE {
            return Err(Error::BadArtifact(format!(
                "media type `{}` is not `{}`",
                artifact.media_type,
                tinygpt::MEDIA_TYPE
            )));
        }
        let text = data::read(match split {
            Split::Validation => "val.txt",
            Split::Test => "test.txt",
        })?;
        let mut b = HostTensors;
        let mut model =
            tinygpt::format::load(&mut b, &artifact.bytes).map_err(Error::BadArtifact)?;
        let bpb = model
            .bits_per_byte(&mut b, &text, BATCH)
            .map_err(Error::Failed)?;
        Ok(vec![
            Metric::new("bpb", bpb, Direction::LowerIsBetter),
            Metric::new(
                "params",
                tinygpt::model::parameter_count(&model.config) as f64,
                Direction::LowerIsBetter,
            ),
            Metric::new(
                "context",
                model.config.context as f64,
                Direction::HigherIsBetter,
            ),
            Metric::new("bytes", text.len() as f64, Direction::HigherIsBetter),
        ])
    }
}

register_evaluator!(MlEvaluator);
