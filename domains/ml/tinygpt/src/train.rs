//! The training loop: random windows of the training text, AdamW with warmup and a decay
//! schedule, gradient clipping. Deterministic for a seed (the backend's generator initialises
//! the weights; this module's draws the windows).

use crate::backend::{Backend, Res};
use crate::config::TrainConfig;
use crate::model::Model;

/// splitmix64: a tiny, well-known generator; the windows need nothing stronger, and pulling
/// a crate into every guest for eight lines is not worth it.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Trained {
    pub steps: u64,
    /// Tokens predicted during training (steps · batch · context).
    pub tokens: u64,
    pub first_loss: f32,
    pub last_loss: f32,
}

/// Trains `model` on `data` with `recipe`; `progress(step, total, loss)` after each step.
pub fn train<B: Backend>(
    b: &mut B,
    model: &mut Model<B::T>,
    recipe: &TrainConfig,
    data: &[u8],
    seed: u64,
    mut progress: impl FnMut(u64, u64, f32),
) -> Res<Trained> {
    let t = model.config.context;
    if data.len() < t + 2 {
        return Err(format!(
            "{} bytes of training text is shorter than one window",
            data.len()
        ));
    }
    for v in model.variables() {
        b.make_variable(v)?;
    }
    let steps = recipe.steps(t);
    let mut rng = Rng::new(seed ^ 0x5eed_da7a);
    let mut windows = Vec::with_capacity(recipe.batch * (t + 1));
    let (mut first, mut last) = (None, 0.0);
    for step in 0..steps {
        windows.clear();
        for _ in 0..recipe.batch {
            let start = rng.below(data.len() - t - 1);
            windows.extend_from_slice(&data[start..start + t + 1]);
        }
        let loss = model.loss(b, &windows, recipe.batch, t)?;
        last = b.scalar(&loss)?;
        if !last.is_finite() {
            return Err(format!(
                "the loss diverged at step {step} (lr {})",
                recipe.lr
            ));
        }
        first.get_or_insert(last);
        b.backward(&loss)?;
        let vars = model.variables();
        b.clip_grad_norm(&vars, recipe.clip)?;
        b.adamw_step(
            &vars,
            recipe.lr_at(step, steps),
            0.9,
            0.95,
            1e-8,
            recipe.weight_decay,
        )?;
        progress(step + 1, steps, last);
    }
    Ok(Trained {
        steps,
        tokens: steps * (recipe.batch * t) as u64,
        first_loss: first.unwrap_or(last),
        last_loss: last,
    })
}
