//! The artifact: the weights as safetensors (little-endian f32), the architecture in its
//! metadata. Reading checks everything before a single tensor is made: the format tag, the
//! configuration's bounds, exactly the expected names with their shapes and dtype, and finite
//! values.

use std::collections::{BTreeMap, HashMap};

use safetensors::{Dtype, SafeTensors};

use crate::backend::{Backend, Res};
use crate::config::Config;
use crate::model::{parameters, Model};

/// Largest artifact the evaluator reads (a 16×1024 model is ~0.8 GB, far more than any
/// budget here trains; 256 MiB leaves room for every model that fits the domain's time).
pub const MAX_ARTIFACT_BYTES: usize = 256 << 20;

pub fn save<B: Backend>(b: &mut B, model: &Model<B::T>) -> Res<Vec<u8>> {
    let mut tensors = Vec::new();
    for (name, t) in &model.params {
        tensors.push((name.clone(), b.shape(t)?, b.to_vec(t)?));
    }
    encode(&tensors, model.config.to_metadata())
}

/// Safetensors bytes of named f32 tensors (name, shape, values) with `metadata`.
pub fn encode(
    tensors: &[(String, Vec<usize>, Vec<f32>)],
    metadata: HashMap<String, String>,
) -> Res<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, values)| values.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| format!("{name}: {e}"))
        })
        .collect::<Res<Vec<_>>>()?;
    safetensors::serialize(views, Some(metadata)).map_err(|e| e.to_string())
}

/// Weights by name: shape and values.
pub type RawWeights = BTreeMap<String, (Vec<usize>, Vec<f32>)>;

/// The configuration and the raw weights of an artifact, checked against the reference
/// architecture.
pub fn read(bytes: &[u8]) -> Res<(Config, RawWeights)> {
    if bytes.len() > MAX_ARTIFACT_BYTES {
        return Err(format!(
            "{} bytes is larger than {MAX_ARTIFACT_BYTES}",
            bytes.len()
        ));
    }
    let (_, metadata) =
        SafeTensors::read_metadata(bytes).map_err(|e| format!("not safetensors: {e}"))?;
    let config = Config::from_metadata(
        metadata
            .metadata()
            .as_ref()
            .ok_or("the safetensors header has no metadata (the architecture)")?,
    )?;
    let file = SafeTensors::deserialize(bytes).map_err(|e| format!("not safetensors: {e}"))?;
    let expected = parameters(&config, 0.0);
    if file.len() != expected.len() {
        return Err(format!(
            "{} tensors, but this architecture has {}",
            file.len(),
            expected.len()
        ));
    }
    let mut out = BTreeMap::new();
    for (name, shape, _) in expected {
        let view = file
            .tensor(&name)
            .map_err(|_| format!("missing tensor `{name}`"))?;
        if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
            return Err(format!(
                "tensor `{name}` is {:?} {:?}, expected F32 {shape:?}",
                view.dtype(),
                view.shape()
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(format!("tensor `{name}` holds a NaN or infinity"));
        }
        out.insert(name, (shape, values));
    }
    Ok((config, out))
}

/// Rebuilds the reference model from an artifact.
pub fn load<B: Backend>(b: &mut B, bytes: &[u8]) -> Res<Model<B::T>> {
    let (config, raw) = read(bytes)?;
    let mut params = BTreeMap::new();
    for (name, (shape, values)) in raw {
        params.insert(name, b.upload(&values, &shape)?);
    }
    Ok(Model::from_params(config, params))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Activation, Norm, Positions};

    #[test]
    fn reading_checks_names_shapes_and_values() {
        let config = Config {
            depth: 1,
            width: 8,
            heads: 2,
            context: 4,
            norm: Norm::LayerNorm,
            activation: Activation::Relu,
            positions: Positions::Learned,
            tied: false,
        };
        let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = parameters(&config, 0.02)
            .into_iter()
            .map(|(n, s, _)| {
                let len = s.iter().product();
                (n, s, vec![0.5; len])
            })
            .collect();
        let bytes = encode(&tensors, config.to_metadata()).expect("encode");
        let (read_config, weights) = read(&bytes).expect("valid");
        assert_eq!(read_config, config);
        assert_eq!(weights.len(), tensors.len());
        // Deterministic bytes: the same model encodes identically.
        assert_eq!(
            encode(&tensors, config.to_metadata()).expect("again"),
            bytes
        );

        let mut extra = tensors.clone();
        extra.push(("bonus".into(), vec![1], vec![1.0]));
        assert!(
            read(&encode(&extra, config.to_metadata()).unwrap_or_default())
                .expect_err("extra")
                .contains("tensors, but")
        );
        let mut renamed = tensors.clone();
        renamed[0].0 = "tok_embedding".into();
        assert!(
            read(&encode(&renamed, config.to_metadata()).unwrap_or_default())
                .expect_err("renamed")
                .contains("missing tensor")
        );
        let mut infinite = tensors;
        infinite[1].2[0] = f32::INFINITY;
        assert!(
            read(&encode(&infinite, config.to_metadata()).unwrap_or_default())
                .expect_err("inf")
                .contains("NaN or infinity")
        );
        assert!(read(&bytes[..bytes.len() / 2]).is_err());
        assert!(read(&[]).is_err());
    }
}
