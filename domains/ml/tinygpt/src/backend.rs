//! What the model needs from a tensor library: a narrow slice of `hyper:compute/tensor`.

/// Errors are messages: the model only passes them on.
pub type Res<X> = Result<X, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Gelu,
    Relu,
    Silu,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
}

/// A tensor library the model runs on. Shapes are `usize` lists; every binary op broadcasts.
pub trait Backend {
    type T;

    fn upload(&mut self, data: &[f32], shape: &[usize]) -> Res<Self::T>;
    /// Normal(0, std) from the backend's seeded generator.
    fn randn(&mut self, shape: &[usize], std: f32) -> Res<Self::T>;
    fn zeros(&mut self, shape: &[usize]) -> Res<Self::T>;
    fn ones(&mut self, shape: &[usize]) -> Res<Self::T>;
    fn shape(&mut self, x: &Self::T) -> Res<Vec<usize>>;
    fn to_vec(&mut self, x: &Self::T) -> Res<Vec<f32>>;
    fn scalar(&mut self, x: &Self::T) -> Res<f32>;

    fn binary(&mut self, a: &Self::T, b: &Self::T, op: Op) -> Res<Self::T>;
    fn affine(&mut self, x: &Self::T, mul: f64, add: f64) -> Res<Self::T>;
    fn act(&mut self, x: &Self::T, act: Act) -> Res<Self::T>;
    fn softmax(&mut self, x: &Self::T, dim: usize) -> Res<Self::T>;
    fn matmul(&mut self, a: &Self::T, b: &Self::T) -> Res<Self::T>;
    fn reshape(&mut self, x: &Self::T, shape: &[usize]) -> Res<Self::T>;
    fn transpose(&mut self, x: &Self::T, d1: usize, d2: usize) -> Res<Self::T>;
    fn narrow(&mut self, x: &Self::T, dim: usize, start: usize, len: usize) -> Res<Self::T>;
    fn cat(&mut self, parts: &[&Self::T], dim: usize) -> Res<Self::T>;
    fn embedding(&mut self, table: &Self::T, ids: &[u32]) -> Res<Self::T>;
    fn layer_norm(&mut self, x: &Self::T, w: &Self::T, b: &Self::T, eps: f64) -> Res<Self::T>;
    fn rms_norm(&mut self, x: &Self::T, w: &Self::T, eps: f64) -> Res<Self::T>;
    /// Mean cross-entropy of logits [n, classes] against one class per row.
    fn cross_entropy(&mut self, logits: &Self::T, targets: &[u32]) -> Res<Self::T>;

    fn make_variable(&mut self, x: &Self::T) -> Res<()>;
    fn backward(&mut self, loss: &Self::T) -> Res<()>;
    fn clip_grad_norm(&mut self, vars: &[&Self::T], max_norm: f64) -> Res<f64>;
    #[allow(clippy::too_many_arguments)]
    fn adamw_step(
        &mut self,
        vars: &[&Self::T],
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    ) -> Res<()>;
}
