//! The ML domain's reference architecture: a small byte-level GPT and everything that must be
//! identical for the skill that trains it and the evaluator that scores it — the
//! configuration and its bounds, the model's variants, the weight names and shapes, the
//! safetensors format of the artifact, the training loop and bits-per-byte.
//!
//! The model is generic over a [`Backend`]: inside a component that is the host's
//! `hyper:compute/tensor` interface ([`host`], wasm32 only); the throughput benchmark runs the
//! very same code natively on the host's tensor store, so the two differ only by the sandbox.

pub mod backend;
pub mod config;
pub mod format;
pub mod model;
pub mod train;

#[cfg(target_arch = "wasm32")]
pub mod host;

pub use backend::{Act, Backend, Res};
pub use config::{Activation, Config, Norm, Positions, Schedule, TrainConfig};
pub use model::Model;

/// Media type of the artifact: safetensors weights with the configuration in its metadata.
pub const MEDIA_TYPE: &str = "application/vnd.hyper.tinygpt+safetensors";
/// Bytes are tokens.
pub const VOCAB: usize = 256;
