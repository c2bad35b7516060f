//! # hyper-compute: host-side numerics for skills
//!
//! A skill never touches tensor memory: the host owns every tensor (candle-core, CPU by
//! default) and the skill holds [`Handle`]s into a per-store [`TensorStore`]. That keeps the
//! sandbox intact and makes a training step a few dozen host calls instead of millions of
//! guest instructions.
//!
//! What this crate owns, independent of wasmtime (the WIT `tensor` interface is a thin layer
//! over it):
//! - creation (from data, zeros/ones, seeded normal/uniform), queries and read-back;
//! - the element-wise, reduction and shape ops a small transformer needs, layer-norm,
//!   rms-norm, softmax/log-softmax, embedding, cross-entropy;
//! - autograd: trainable variables, `backward` from a scalar loss, gradients by variable, and
//!   host-side optimiser steps (SGD with momentum, AdamW, gradient-norm clipping);
//! - quotas (live tensor bytes and handles) and typed errors for everything a skill can get
//!   wrong — shapes, dtypes, handles, quotas — never a panic of the host.
//!
//! [`gpu`] is the wgpu side: buffers, WGSL pipelines and dispatches within quotas.
//!
//! Randomness is the store's own seeded generator (splitmix64 + Box–Muller), not candle's
//! thread RNG, so the same seed gives the same bits.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var, D};

pub mod gpu;

/// A skill's reference to a tensor in its store.
pub type Handle = u32;

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TensorError {
    #[error("shape error: {0}")]
    Shape(String),
    #[error("no tensor with handle {0} (dropped, or never created)")]
    BadHandle(Handle),
    #[error("tensor memory quota exceeded: {used} bytes live + {requested} requested > {limit}")]
    MemoryQuota {
        used: u64,
        requested: u64,
        limit: u64,
    },
    #[error("too many live tensors (limit {0}); drop the ones you no longer need")]
    HandleQuota(usize),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("autograd: {0}")]
    Grad(String),
}

type Result<T> = std::result::Result<T, TensorError>;

/// Per-store quotas.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Bytes of all live tensors together (optimiser state included).
    pub max_bytes: u64,
    pub max_handles: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 30,
            max_handles: 65_536,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unary {
    Exp,
    Log,
    Tanh,
    Gelu,
    Relu,
    Silu,
    Sqrt,
    Neg,
    Sqr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binary {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reduce {
    Sum,
    Mean,
    Max,
}

struct Entry {
    tensor: Tensor,
    /// Set for trainable variables: the same storage, tracked by autograd.
    var: Option<Var>,
    bytes: u64,
}

/// AdamW's or SGD's running state for one variable.
struct OptState {
    first: Tensor,
    second: Option<Tensor>,
    bytes: u64,
}

pub struct TensorStore {
    device: Device,
    limits: Limits,
    entries: HashMap<Handle, Entry>,
    next: Handle,
    used: u64,
    rng: u64,
    grads: Option<candle_core::backprop::GradStore>,
    opt: HashMap<Handle, OptState>,
    step: u64,
}

/// Runs a candle computation, turning its errors into typed ones and any panic inside candle
/// into an error, so that nothing a skill sends can take the host down.
fn guarded<T>(f: impl FnOnce() -> candle_core::Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(e)),
        Err(_) => Err(TensorError::Invalid(
            "the operation failed inside the tensor library".into(),
        )),
    }
}

fn classify(e: candle_core::Error) -> TensorError {
    let text = e.to_string();
    let first_line = text.lines().next().unwrap_or("").to_string();
    let lower = first_line.to_lowercase();
    if lower.contains("shape") || lower.contains("dim") || lower.contains("rank") {
        TensorError::Shape(first_line)
    } else {
        TensorError::Invalid(first_line)
    }
}

fn bytes_of(shape: &[usize], dtype: DType) -> Result<u64> {
    let mut n: u64 = 1;
    for &d in shape {
        n = n
            .checked_mul(d as u64)
            .ok_or_else(|| TensorError::Shape(format!("shape {shape:?} is too large")))?;
    }
    n.checked_mul(dtype.size_in_bytes() as u64)
        .ok_or_else(|| TensorError::Shape(format!("shape {shape:?} is too large")))
}

/// Where stores put their tensors: the CPU, or with the `cuda` feature the first CUDA GPU
/// when there is one (`HYPER_TENSOR_DEVICE=cpu` keeps them on the CPU). Chosen once per
/// process: a CUDA context costs far more to create than a call lasts.
pub fn default_device() -> Device {
    static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let wanted = std::env::var("HYPER_TENSOR_DEVICE").unwrap_or_default();
            #[cfg(feature = "cuda")]
            if wanted != "cpu" {
                if let Ok(device) = Device::new_cuda(0) {
                    return device;
                }
            }
            let _ = wanted;
            Device::Cpu
        })
        .clone()
}

impl TensorStore {
    /// A store on [`default_device`]. Initial values (`randn`, `uniform`) come from the
    /// store's own generator on the host, so they are the same bits on every device; results
    /// of GPU kernels need not be bit-identical to the CPU's.
    pub fn new(limits: Limits, seed: u64) -> Self {
        TensorStore {
            device: default_device(),
            limits,
            entries: HashMap::new(),
            next: 1,
            used: 0,
            rng: seed,
            grads: None,
            opt: HashMap::new(),
            step: 0,
        }
    }

    /// The device tensors live on, as recorded with results.
    pub fn device_name(&self) -> &'static str {
        match self.device {
            Device::Cpu => "cpu",
            Device::Cuda(_) => "cuda",
            Device::Metal(_) => "metal",
        }
    }

    pub fn live_bytes(&self) -> u64 {
        self.used
    }

    pub fn live_handles(&self) -> usize {
        self.entries.len()
    }

    fn reserve(&self, bytes: u64) -> Result<()> {
        if self.entries.len() >= self.limits.max_handles {
            return Err(TensorError::HandleQuota(self.limits.max_handles));
        }
        if self.used.saturating_add(bytes) > self.limits.max_bytes {
            return Err(TensorError::MemoryQuota {
                used: self.used,
                requested: bytes,
                limit: self.limits.max_bytes,
            });
        }
        Ok(())
    }

    fn insert(&mut self, tensor: Tensor) -> Result<Handle> {
        let bytes = bytes_of(tensor.dims(), tensor.dtype())?;
        self.reserve(bytes)?;
        let handle = self.next;
        self.next = self
            .next
            .checked_add(1)
            .ok_or_else(|| TensorError::Invalid("handle space exhausted".into()))?;
        self.used += bytes;
        self.entries.insert(
            handle,
            Entry {
                tensor,
                var: None,
                bytes,
            },
        );
        Ok(handle)
    }

    fn get(&self, h: Handle) -> Result<&Tensor> {
        self.entries
            .get(&h)
            .map(|e| &e.tensor)
            .ok_or(TensorError::BadHandle(h))
    }

    /// Frees a tensor (and its optimiser state).
    pub fn drop_tensor(&mut self, h: Handle) -> Result<()> {
        let entry = self.entries.remove(&h).ok_or(TensorError::BadHandle(h))?;
        self.used -= entry.bytes;
        if let Some(state) = self.opt.remove(&h) {
            self.used -= state.bytes;
        }
        Ok(())
    }

    // ---- creation -------------------------------------------------------------------------

    pub fn from_f32(&mut self, data: &[f32], shape: &[usize]) -> Result<Handle> {
        let expected = bytes_of(shape, DType::F32)? / 4;
        if expected != data.len() as u64 {
            return Err(TensorError::Shape(format!(
                "{} values do not fill shape {shape:?} ({expected} elements)",
                data.len()
            )));
        }
        self.reserve(expected * 4)?;
        let t = guarded(|| Tensor::from_slice(data, shape, &self.device))?;
        self.insert(t)
    }

    pub fn zeros(&mut self, shape: &[usize]) -> Result<Handle> {
        self.reserve(bytes_of(shape, DType::F32)?)?;
        let t = guarded(|| Tensor::zeros(shape, DType::F32, &self.device))?;
        self.insert(t)
    }

    pub fn ones(&mut self, shape: &[usize]) -> Result<Handle> {
        self.reserve(bytes_of(shape, DType::F32)?)?;
        let t = guarded(|| Tensor::ones(shape, DType::F32, &self.device))?;
        self.insert(t)
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn next_unit(&mut self) -> f64 {
        // 53 random bits in [0, 1).
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Normal(mean, std) from the store's seeded generator.
    pub fn randn(&mut self, shape: &[usize], mean: f32, std: f32) -> Result<Handle> {
        let n = (bytes_of(shape, DType::F32)? / 4) as usize;
        self.reserve(n as u64 * 4)?;
        let mut data = Vec::with_capacity(n);
        while data.len() < n {
            let u1 = 1.0 - self.next_unit();
            let u2 = self.next_unit();
            let r = (-2.0 * u1.ln()).sqrt();
            let theta = 2.0 * std::f64::consts::PI * u2;
            data.push(mean + std * (r * theta.cos()) as f32);
            if data.len() < n {
                data.push(mean + std * (r * theta.sin()) as f32);
            }
        }
        self.from_f32(&data, shape)
    }

    /// Uniform in [low, high) from the store's seeded generator.
    pub fn rand_uniform(&mut self, shape: &[usize], low: f32, high: f32) -> Result<Handle> {
        if low.is_nan() || high.is_nan() || low > high {
            return Err(TensorError::Invalid(format!("bad range [{low}, {high})")));
        }
        let n = (bytes_of(shape, DType::F32)? / 4) as usize;
        self.reserve(n as u64 * 4)?;
        let data: Vec<f32> = (0..n)
            .map(|_| low + (high - low) * self.next_unit() as f32)
            .collect();
        self.from_f32(&data, shape)
    }

    // ---- queries --------------------------------------------------------------------------

    pub fn shape(&self, h: Handle) -> Result<Vec<usize>> {
        Ok(self.get(h)?.dims().to_vec())
    }

    pub fn dtype(&self, h: Handle) -> Result<&'static str> {
        Ok(self.get(h)?.dtype().as_str())
    }

    /// Every element, row-major.
    pub fn to_vec(&self, h: Handle) -> Result<Vec<f32>> {
        let t = self.get(h)?;
        guarded(|| t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>())
    }

    /// The value of a one-element tensor.
    pub fn scalar(&self, h: Handle) -> Result<f32> {
        let v = self.to_vec(h)?;
        match v.as_slice() {
            [x] => Ok(*x),
            _ => Err(TensorError::Shape(format!(
                "a scalar needs exactly one element, this tensor has {}",
                v.len()
            ))),
        }
    }

    // ---- ops ------------------------------------------------------------------------------

    fn apply(&mut self, f: impl FnOnce(&Self) -> candle_core::Result<Tensor>) -> Result<Handle> {
        let t = guarded(|| f(self))?;
        self.insert(t)
    }

    pub fn unary(&mut self, h: Handle, op: Unary) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| match op {
            Unary::Exp => x.exp(),
            Unary::Log => x.log(),
            Unary::Tanh => x.tanh(),
            Unary::Gelu => x.gelu(),
            Unary::Relu => x.relu(),
            Unary::Silu => x.silu(),
            Unary::Sqrt => x.sqrt(),
            Unary::Neg => x.neg(),
            Unary::Sqr => x.sqr(),
        })
    }

    /// Element-wise with broadcasting.
    pub fn binary(&mut self, a: Handle, b: Handle, op: Binary) -> Result<Handle> {
        let (x, y) = (self.get(a)?.clone(), self.get(b)?.clone());
        let out = x
            .shape()
            .broadcast_shape_binary_op(y.shape(), "binary")
            .map_err(classify)?;
        self.reserve(bytes_of(out.dims(), x.dtype())?)?;
        self.apply(|_| match op {
            Binary::Add => x.broadcast_add(&y),
            Binary::Sub => x.broadcast_sub(&y),
            Binary::Mul => x.broadcast_mul(&y),
            Binary::Div => x.broadcast_div(&y),
        })
    }

    /// `x * mul + add`.
    pub fn affine(&mut self, h: Handle, mul: f64, add: f64) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| x.affine(mul, add))
    }

    pub fn powf(&mut self, h: Handle, exponent: f64) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| x.powf(exponent))
    }

    pub fn reduce(&mut self, h: Handle, dim: usize, op: Reduce, keepdim: bool) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| match (op, keepdim) {
            (Reduce::Sum, true) => x.sum_keepdim(dim),
            (Reduce::Sum, false) => x.sum(dim),
            (Reduce::Mean, true) => x.mean_keepdim(dim),
            (Reduce::Mean, false) => x.mean(dim),
            (Reduce::Max, true) => x.max_keepdim(dim),
            (Reduce::Max, false) => x.max(dim),
        })
    }

    /// Sum of all elements (a scalar tensor), e.g. to build a loss.
    pub fn sum_all(&mut self, h: Handle) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| x.sum_all())
    }

    pub fn mean_all(&mut self, h: Handle) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| x.mean_all())
    }

    pub fn softmax(&mut self, h: Handle, dim: usize) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| {
            let max = x.max_keepdim(dim)?;
            let e = x.broadcast_sub(&max)?.exp()?;
            e.broadcast_div(&e.sum_keepdim(dim)?)
        })
    }

    pub fn log_softmax(&mut self, h: Handle, dim: usize) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| log_softmax(&x, dim))
    }

    /// Matrix product; leading (batch) dimensions broadcast.
    pub fn matmul(&mut self, a: Handle, b: Handle) -> Result<Handle> {
        let (x, y) = (self.get(a)?.clone(), self.get(b)?.clone());
        let (xd, yd) = (x.dims(), y.dims());
        if xd.len() < 2 || yd.len() < 2 {
            return Err(TensorError::Shape(format!(
                "matmul needs two matrices (or batches of them), got {xd:?} and {yd:?}"
            )));
        }
        let (m, k1) = (xd[xd.len() - 2], xd[xd.len() - 1]);
        let (k2, n) = (yd[yd.len() - 2], yd[yd.len() - 1]);
        if k1 != k2 {
            return Err(TensorError::Shape(format!(
                "matmul of {xd:?} by {yd:?}: inner dimensions {k1} and {k2} differ"
            )));
        }
        let batch = candle_core::Shape::from(&xd[..xd.len() - 2])
            .broadcast_shape_binary_op(&candle_core::Shape::from(&yd[..yd.len() - 2]), "matmul")
            .map_err(classify)?;
        let mut out = batch.dims().to_vec();
        out.extend([m, n]);
        self.reserve(bytes_of(&out, x.dtype())?)?;
        self.apply(|_| x.broadcast_matmul(&y))
    }

    pub fn reshape(&mut self, h: Handle, shape: &[usize]) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| x.reshape(shape))
    }

    pub fn transpose(&mut self, h: Handle, dim1: usize, dim2: usize) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| x.transpose(dim1, dim2)?.contiguous())
    }

    pub fn narrow(&mut self, h: Handle, dim: usize, start: usize, len: usize) -> Result<Handle> {
        let x = self.get(h)?.clone();
        self.apply(|_| x.narrow(dim, start, len))
    }

    pub fn cat(&mut self, hs: &[Handle], dim: usize) -> Result<Handle> {
        if hs.is_empty() {
            return Err(TensorError::Invalid("cat of no tensors".into()));
        }
        let xs: Vec<Tensor> = hs
            .iter()
            .map(|h| self.get(*h).cloned())
            .collect::<Result<_>>()?;
        let total: u64 = xs
            .iter()
            .map(|x| bytes_of(x.dims(), x.dtype()))
            .sum::<Result<u64>>()?;
        self.reserve(total)?;
        self.apply(|_| Tensor::cat(&xs, dim))
    }

    /// Rows of `table` ([vocab, dim]) for each id: an embedding lookup.
    pub fn embedding(&mut self, table: Handle, ids: &[u32]) -> Result<Handle> {
        let t = self.get(table)?.clone();
        let dims = t.dims().to_vec();
        let [rows, width] = dims[..] else {
            return Err(TensorError::Shape(format!(
                "an embedding table is [rows, width], got {dims:?}"
            )));
        };
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= rows) {
            return Err(TensorError::Invalid(format!(
                "id {bad} is outside the table's {rows} rows"
            )));
        }
        self.reserve(bytes_of(&[ids.len(), width], t.dtype())?)?;
        let index = guarded(|| Tensor::from_slice(ids, ids.len(), &self.device))?;
        self.apply(|_| t.index_select(&index, 0))
    }

    /// Layer norm over the last dimension with a learned scale and shift.
    pub fn layer_norm(
        &mut self,
        h: Handle,
        weight: Handle,
        bias: Handle,
        eps: f64,
    ) -> Result<Handle> {
        let (x, w, b) = (
            self.get(h)?.clone(),
            self.get(weight)?.clone(),
            self.get(bias)?.clone(),
        );
        self.apply(|_| {
            let mean = x.mean_keepdim(D::Minus1)?;
            let centered = x.broadcast_sub(&mean)?;
            let var = centered.sqr()?.mean_keepdim(D::Minus1)?;
            let normed = centered.broadcast_div(&(var + eps)?.sqrt()?)?;
            normed.broadcast_mul(&w)?.broadcast_add(&b)
        })
    }

    /// RMS norm over the last dimension with a learned scale.
    pub fn rms_norm(&mut self, h: Handle, weight: Handle, eps: f64) -> Result<Handle> {
        let (x, w) = (self.get(h)?.clone(), self.get(weight)?.clone());
        self.apply(|_| {
            let rms = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?.sqrt()?;
            x.broadcast_div(&rms)?.broadcast_mul(&w)
        })
    }

    /// Mean cross-entropy of `logits` ([n, classes]) against one target class per row.
    pub fn cross_entropy(&mut self, logits: Handle, targets: &[u32]) -> Result<Handle> {
        let x = self.get(logits)?.clone();
        let dims = x.dims().to_vec();
        let [n, classes] = dims[..] else {
            return Err(TensorError::Shape(format!(
                "cross-entropy takes logits [n, classes], got {dims:?}"
            )));
        };
        if targets.len() != n {
            return Err(TensorError::Shape(format!(
                "{} targets for {n} rows of logits",
                targets.len()
            )));
        }
        if let Some(bad) = targets.iter().find(|&&t| t as usize >= classes) {
            return Err(TensorError::Invalid(format!(
                "target {bad} is not one of the {classes} classes"
            )));
        }
        let index = guarded(|| Tensor::from_slice(targets, (n, 1), &self.device))?;
        self.apply(|_| {
            log_softmax(&x, 1)?
                .gather(&index, 1)?
                .sum_all()?
                .affine(-1.0 / n as f64, 0.0)
        })
    }

    // ---- autograd and optimisers ------------------------------------------------------------

    /// Makes a tensor trainable: later ops on it are tracked, and `backward` fills its
    /// gradient.
    pub fn variable(&mut self, h: Handle) -> Result<()> {
        let entry = self.entries.get_mut(&h).ok_or(TensorError::BadHandle(h))?;
        if entry.var.is_none() {
            let var = guarded(|| Var::from_tensor(&entry.tensor))?;
            entry.tensor = var.as_tensor().clone();
            entry.var = Some(var);
        }
        Ok(())
    }

    /// Computes the gradients of a scalar loss with respect to every variable it depends on.
    pub fn backward(&mut self, loss: Handle) -> Result<()> {
        let l = self.get(loss)?;
        if l.elem_count() != 1 {
            return Err(TensorError::Grad(format!(
                "backward needs a scalar loss, this one has shape {:?}",
                l.dims()
            )));
        }
        let grads = guarded(|| l.backward())?;
        self.grads = Some(grads);
        Ok(())
    }

    fn grad_of(&self, h: Handle) -> Result<Tensor> {
        let entry = self.entries.get(&h).ok_or(TensorError::BadHandle(h))?;
        if entry.var.is_none() {
            return Err(TensorError::Grad(format!("tensor {h} is not a variable")));
        }
        let grads = self
            .grads
            .as_ref()
            .ok_or_else(|| TensorError::Grad("no gradients: call backward first".into()))?;
        match grads.get(&entry.tensor) {
            // Detached: a gradient built from tracked tensors carries the whole forward graph,
            // and optimiser state built from it would keep every step's graph alive.
            Some(g) => Ok(g.detach()),
            // The loss does not depend on it: a zero gradient.
            None => guarded(|| entry.tensor.zeros_like()),
        }
    }

    /// The gradient of a variable from the last `backward`, as a new tensor.
    pub fn grad(&mut self, h: Handle) -> Result<Handle> {
        let g = self.grad_of(h)?;
        self.insert(g)
    }

    /// Scales the gradients of `vars` so that their joint L2 norm is at most `max_norm`;
    /// returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, vars: &[Handle], max_norm: f64) -> Result<f64> {
        let mut total = 0f64;
        let mut gs = Vec::with_capacity(vars.len());
        for &v in vars {
            let g = self.grad_of(v)?;
            total += guarded(|| g.sqr()?.sum_all()?.to_scalar::<f32>())? as f64;
            gs.push((v, g));
        }
        let norm = total.sqrt();
        if norm > max_norm && norm > 0.0 {
            let scale = max_norm / norm;
            let grads = self
                .grads
                .as_mut()
                .ok_or_else(|| TensorError::Grad("no gradients: call backward first".into()))?;
            for (v, g) in gs {
                let scaled = guarded(|| g.affine(scale, 0.0))?;
                if let Some(entry) = self.entries.get(&v) {
                    grads.insert(&entry.tensor, scaled);
                }
            }
        }
        Ok(norm)
    }

    fn set_var(&mut self, h: Handle, value: &Tensor) -> Result<()> {
        let entry = self.entries.get(&h).ok_or(TensorError::BadHandle(h))?;
        let var = entry
            .var
            .as_ref()
            .ok_or_else(|| TensorError::Grad(format!("tensor {h} is not a variable")))?;
        guarded(|| var.set(value))
    }

    fn state_for(&mut self, h: Handle, second: bool) -> Result<()> {
        if self.opt.contains_key(&h) {
            return Ok(());
        }
        let t = self.get(h)?.clone();
        let one = bytes_of(t.dims(), t.dtype())?;
        let bytes = if second { 2 * one } else { one };
        if self.used.saturating_add(bytes) > self.limits.max_bytes {
            return Err(TensorError::MemoryQuota {
                used: self.used,
                requested: bytes,
                limit: self.limits.max_bytes,
            });
        }
        let first = guarded(|| t.zeros_like())?;
        let second = if second {
            Some(guarded(|| t.zeros_like())?)
        } else {
            None
        };
        self.used += bytes;
        self.opt.insert(
            h,
            OptState {
                first,
                second,
                bytes,
            },
        );
        Ok(())
    }

    /// One SGD step with momentum (`momentum` 0 for plain SGD) on `vars`.
    pub fn sgd_step(&mut self, vars: &[Handle], lr: f64, momentum: f64) -> Result<()> {
        for &v in vars {
            let g = self.grad_of(v)?;
            self.state_for(v, false)?;
            let (w, buf) = match (self.get(v), self.opt.get(&v)) {
                (Ok(w), Some(s)) => (w.clone(), s.first.clone()),
                _ => return Err(TensorError::BadHandle(v)),
            };
            let buf = guarded(|| buf.affine(momentum, 0.0)? + &g)?;
            let new = guarded(|| w.detach() - buf.affine(lr, 0.0)?)?;
            self.set_var(v, &new)?;
            if let Some(s) = self.opt.get_mut(&v) {
                s.first = buf;
            }
        }
        Ok(())
    }

    /// One AdamW step (decoupled weight decay) on `vars`.
    pub fn adamw_step(
        &mut self,
        vars: &[Handle],
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    ) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let (c1, c2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
        for &v in vars {
            let g = self.grad_of(v)?;
            self.state_for(v, true)?;
            let (w, m, s) = match (self.get(v), self.opt.get(&v)) {
                (Ok(w), Some(state)) => match &state.second {
                    Some(s) => (w.clone(), state.first.clone(), s.clone()),
                    None => {
                        return Err(TensorError::Grad(format!(
                            "variable {v} has SGD state; use one optimiser per variable"
                        )))
                    }
                },
                _ => return Err(TensorError::BadHandle(v)),
            };
            let m = guarded(|| m.affine(beta1, 0.0)? + g.affine(1.0 - beta1, 0.0)?)?;
            let s = guarded(|| s.affine(beta2, 0.0)? + g.sqr()?.affine(1.0 - beta2, 0.0)?)?;
            let new = guarded(|| {
                let m_hat = m.affine(1.0 / c1, 0.0)?;
                let s_hat = s.affine(1.0 / c2, 0.0)?;
                let update = m_hat.div(&(s_hat.sqrt()? + eps)?)?;
                let w = w.detach();
                let decayed = w.affine(1.0 - lr * weight_decay, 0.0)?;
                decayed - update.affine(lr, 0.0)?
            })?;
            self.set_var(v, &new)?;
            if let Some(state) = self.opt.get_mut(&v) {
                state.first = m;
                state.second = Some(s);
            }
        }
        Ok(())
    }
}

fn log_softmax(x: &Tensor, dim: usize) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(dim)?;
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(dim)?.log()?;
    shifted.broadcast_sub(&lse)
}
