//! The architecture (what the evaluator rebuilds) and the training recipe (what only the skill
//! uses), with the bounds the evaluator enforces before it allocates anything.

use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Norm {
    LayerNorm,
    RmsNorm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Gelu,
    Relu,
    /// Gated: silu(x W1) * (x W3), then W2.
    SwiGlu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Positions {
    /// A learned [context, width] table added to the token embeddings.
    Learned,
    /// Rotary embeddings on queries and keys (no parameters).
    Rotary,
}

/// The architecture: enough to rebuild the model from its weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub depth: usize,
    pub width: usize,
    pub heads: usize,
    /// Longest sequence the model was trained on (and the evaluator's window).
    pub context: usize,
    pub norm: Norm,
    pub activation: Activation,
    pub positions: Positions,
    /// The output head is the transposed token embedding.
    pub tied: bool,
}

/// Largest models the evaluator rebuilds (a bigger artifact is refused before allocating).
pub const MAX_DEPTH: usize = 16;
pub const MAX_WIDTH: usize = 1024;
pub const MAX_CONTEXT: usize = 1024;

impl Config {
    pub fn head_dim(&self) -> usize {
        self.width / self.heads.max(1)
    }

    /// Hidden width of the MLP: 4× for GELU/ReLU, 8/3× (to a multiple of 8) for SwiGLU, so
    /// the three variants have about the same number of parameters.
    pub fn hidden(&self) -> usize {
        match self.activation {
            Activation::SwiGlu => (8 * self.width / 3).div_ceil(8) * 8,
            _ => 4 * self.width,
        }
    }

    pub fn check(&self) -> Result<(), String> {
        if !(1..=MAX_DEPTH).contains(&self.depth) {
            return Err(format!("depth {} is not in 1..={MAX_DEPTH}", self.depth));
        }
        if !(8..=MAX_WIDTH).contains(&self.width) {
            return Err(format!("width {} is not in 8..={MAX_WIDTH}", self.width));
        }
        if self.heads == 0
            || !self.width.is_multiple_of(self.heads)
            || !self.head_dim().is_multiple_of(2)
        {
            return Err(format!(
                "width {} must split into {} heads of an even size",
                self.width, self.heads
            ));
        }
        if !(2..=MAX_CONTEXT).contains(&self.context) {
            return Err(format!(
                "context {} is not in 2..={MAX_CONTEXT}",
                self.context
            ));
        }
        Ok(())
    }

    /// The configuration as safetensors metadata: one entry, [`METADATA_KEY`] →
    /// `depth=2 width=64 …` in a fixed order. (One entry because safetensors writes its
    /// metadata map in hash order, and an artifact's bytes must not depend on that.)
    pub fn to_metadata(&self) -> HashMap<String, String> {
        let norm = match self.norm {
            Norm::LayerNorm => "layernorm",
            Norm::RmsNorm => "rmsnorm",
        };
        let activation = match self.activation {
            Activation::Gelu => "gelu",
            Activation::Relu => "relu",
            Activation::SwiGlu => "swiglu",
        };
        let positions = match self.positions {
            Positions::Learned => "learned",
            Positions::Rotary => "rotary",
        };
        let text = format!(
            "depth={} width={} heads={} context={} norm={norm} activation={activation} positions={positions} tied={}",
            self.depth, self.width, self.heads, self.context, self.tied
        );
        HashMap::from([(METADATA_KEY.to_string(), text)])
    }

    /// Reads and checks a configuration from safetensors metadata.
    pub fn from_metadata(m: &HashMap<String, String>) -> Result<Config, String> {
        let text = m
            .get(METADATA_KEY)
            .ok_or_else(|| format!("metadata has no `{METADATA_KEY}` entry (the architecture)"))?;
        let mut fields = HashMap::new();
        for pair in text.split_whitespace() {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("architecture field `{pair}` is not key=value"))?;
            if fields.insert(k, v).is_some() {
                return Err(format!("architecture field `{k}` appears twice"));
            }
        }
        if fields.len() != 8 {
            return Err(format!(
                "the architecture has {} fields, expected depth, width, heads, context, norm, activation, positions, tied",
                fields.len()
            ));
        }
        let get = |k: &str| {
            fields
                .get(k)
                .copied()
                .ok_or_else(|| format!("the architecture has no `{k}`"))
        };
        let num = |k: &str| -> Result<usize, String> {
            get(k)?
                .parse()
                .map_err(|_| format!("architecture `{k}` is not a number"))
        };
        let config = Config {
            depth: num("depth")?,
            width: num("width")?,
            heads: num("heads")?,
            context: num("context")?,
            norm: match get("norm")? {
                "layernorm" => Norm::LayerNorm,
                "rmsnorm" => Norm::RmsNorm,
                other => return Err(format!("unknown norm `{other}`")),
            },
            activation: match get("activation")? {
                "gelu" => Activation::Gelu,
                "relu" => Activation::Relu,
                "swiglu" => Activation::SwiGlu,
                other => return Err(format!("unknown activation `{other}`")),
            },
            positions: match get("positions")? {
                "learned" => Positions::Learned,
                "rotary" => Positions::Rotary,
                other => return Err(format!("unknown positions `{other}`")),
            },
            tied: match get("tied")? {
                "true" => true,
                "false" => false,
                other => return Err(format!("`tied` is `{other}`, not true or false")),
            },
        };
        config.check()?;
        Ok(config)
    }
}

/// The safetensors metadata key holding the architecture (and naming the format version).
pub const METADATA_KEY: &str = "hyper-tinygpt-v1";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    Constant,
    Linear,
    Cosine,
}

/// How the skill trains (never seen by the evaluator).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainConfig {
    /// Training tokens (predicted positions) in all: fixed by the domain.
    pub tokens: u64,
    pub batch: usize,
    pub lr: f64,
    pub schedule: Schedule,
    /// Share of the steps spent warming the learning rate up from 0.
    pub warmup: f64,
    pub weight_decay: f64,
    /// Standard deviation of the initial weights (residual projections are scaled by
    /// 1/sqrt(2·depth)).
    pub init_scale: f64,
    /// Largest gradient norm (clipped above).
    pub clip: f64,
}

impl TrainConfig {
    pub fn steps(&self, context: usize) -> u64 {
        (self.tokens / (self.batch * context).max(1) as u64).max(1)
    }

    /// The learning rate at `step` of `total`.
    pub fn lr_at(&self, step: u64, total: u64) -> f64 {
        let warm = (self.warmup * total as f64).round() as u64;
        if step < warm {
            return self.lr * (step + 1) as f64 / warm as f64;
        }
        let rest = (total - warm).max(1) as f64;
        let progress = (step - warm) as f64 / rest;
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Linear => self.lr * (1.0 - progress).max(0.0),
            Schedule::Cosine => self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            depth: 2,
            width: 64,
            heads: 4,
            context: 64,
            norm: Norm::RmsNorm,
            activation: Activation::SwiGlu,
            positions: Positions::Rotary,
            tied: true,
        }
    }

    #[test]
    fn metadata_round_trips_and_bad_fields_are_named() {
        let c = config();
        assert_eq!(Config::from_metadata(&c.to_metadata()), Ok(c.clone()));
        let with = |from: &str, to: &str| {
            let mut m = c.to_metadata();
            let v = m[METADATA_KEY].replace(from, to);
            m.insert(METADATA_KEY.into(), v);
            Config::from_metadata(&m).expect_err(to)
        };
        assert!(with("width=64", "width=63").contains("heads"));
        assert!(with("depth=2", "depth=99").contains("depth 99"));
        assert!(with("tied=true", "tied=yes").contains("tied"));
        assert!(with("depth=2", "depth=2 depth=3").contains("twice"));
        assert!(with(" norm=rmsnorm", "").contains("7 fields"));
        assert!(Config::from_metadata(&HashMap::new()).is_err());
    }

    #[test]
    fn swiglu_keeps_the_mlp_about_as_large() {
        let mut c = config();
        assert_eq!(c.hidden(), 176); // 8·64/3 = 170.7, rounded up to a multiple of 8
        c.activation = Activation::Gelu;
        assert_eq!(c.hidden(), 256);
    }

    #[test]
    fn schedules_warm_up_then_decay() {
        let r = TrainConfig {
            tokens: 64_000,
            batch: 10,
            lr: 1.0,
            schedule: Schedule::Cosine,
            warmup: 0.1,
            weight_decay: 0.0,
            init_scale: 0.02,
            clip: 1.0,
        };
        let total = r.steps(64);
        assert_eq!(total, 100);
        assert!((r.lr_at(0, total) - 0.1).abs() < 1e-12);
        assert!((r.lr_at(9, total) - 1.0).abs() < 1e-12);
        assert!((r.lr_at(10, total) - 1.0).abs() < 1e-12);
        assert!(r.lr_at(99, total) < 0.001);
        let linear = TrainConfig {
            schedule: Schedule::Linear,
            ..r.clone()
        };
        assert!((linear.lr_at(55, total) - 0.5).abs() < 1e-12);
        let constant = TrainConfig {
            schedule: Schedule::Constant,
            ..r
        };
        assert_eq!(constant.lr_at(99, total), 1.0);
    }
}
