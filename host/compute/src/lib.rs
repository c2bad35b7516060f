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
//! - quotas and typed errors for everything a skill can get wrong — shapes, dtypes, handles,
//!   quotas — never a panic of the host:
//!   - **peak memory**: before each op the store checks live bytes + the op's output + its
//!     temporaries (broadcast copies of matmul operands, the intermediates of softmax, the
//!     norms and cross-entropy, backward's gradients) against the quota; bytes kept alive by
//!     an autograd graph after their handle is dropped stay counted until no tracked tensor is
//!     left (see [`TensorStore::live_bytes`]);
//!   - **compute**: each op's work is estimated from its shapes (in "flop-equivalents":
//!     multiply-adds for matmul, weighted element counts for the rest, so that one unit costs
//!     roughly the same time for every op) and refused when one op exceeds
//!     [`Limits::max_op_work`] or the call's total exceeds [`Limits::max_call_work`]. The
//!     per-op cap is what bounds how long the host can be inside one call: the runtime checks
//!     the deadline between ops.
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
    #[error("tensor compute limit: {op} needs about {work:.3e} flop-equivalents, more than the {limit:.3e} allowed {scope}")]
    Compute {
        op: &'static str,
        work: f64,
        limit: f64,
        scope: &'static str,
    },
}

type Result<T> = std::result::Result<T, TensorError>;

/// Per-store quotas.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Peak bytes of the store: live tensors, optimiser state, gradients, what autograd
    /// graphs keep alive, and the temporaries of the op being checked.
    pub max_bytes: u64,
    pub max_handles: usize,
    /// Work one op may need (flop-equivalents, see the crate docs).
    pub max_op_work: f64,
    /// Work of all ops of one store together.
    pub max_call_work: f64,
}

/// Per-op work cap: about half a second of candle's CPU matmul on two cores (~40 GFLOP/s).
pub const DEFAULT_MAX_OP_WORK: f64 = 2e10;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 1 << 30,
            max_handles: 65_536,
            max_op_work: DEFAULT_MAX_OP_WORK,
            max_call_work: 1e15,
        }
    }
}

/// Relative cost of one element of an op, in matmul multiply-add equivalents: element-wise
/// kernels are memory-bound and (transcendentals) far slower per element than a blocked
/// matmul's multiply-add. These are conservative estimates for candle's CPU kernels, not
/// measurements; they only need to keep one op under about a second at the default cap.
const ELEMENT: f64 = 16.0;
const TRANSCENDENTAL: f64 = 64.0;

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
    /// Derived from a variable: its autograd graph keeps its inputs alive.
    tracked: bool,
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
    /// Detached gradients of the variables from the last `backward` (the graph itself is
    /// not kept: a gradient store holds every node's gradient and, through them, the graph).
    grads: Option<HashMap<Handle, Tensor>>,
    grad_bytes: u64,
    opt: HashMap<Handle, OptState>,
    step: u64,
    /// Bytes of tracked tensors whose handles were dropped but which a live tracked tensor's
    /// graph may still hold, plus the intermediates of tracked composite ops.
    graph_bytes: u64,
    /// Work of the tracked ops since the graph was last empty (backward costs about twice).
    graph_work: f64,
    tracked_live: usize,
    tracked_live_bytes: u64,
    work: f64,
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
            grad_bytes: 0,
            opt: HashMap::new(),
            step: 0,
            graph_bytes: 0,
            graph_work: 0.0,
            tracked_live: 0,
            tracked_live_bytes: 0,
            work: 0.0,
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

    /// Bytes the store holds: live tensors, optimiser state, gradients, and what autograd
    /// graphs may still keep alive.
    pub fn live_bytes(&self) -> u64 {
        self.used + self.grad_bytes + self.graph_bytes
    }

    /// Work done so far (flop-equivalents).
    pub fn work_done(&self) -> f64 {
        self.work
    }

    /// Charges `work` for `op`, refusing past the per-op or per-store cap.
    fn charge(&mut self, op: &'static str, work: f64) -> Result<()> {
        let work = if work.is_finite() { work } else { f64::MAX };
        if work > self.limits.max_op_work {
            return Err(TensorError::Compute {
                op,
                work,
                limit: self.limits.max_op_work,
                scope: "for one op",
            });
        }
        if self.work + work > self.limits.max_call_work {
            return Err(TensorError::Compute {
                op,
                work: self.work + work,
                limit: self.limits.max_call_work,
                scope: "for the whole call",
            });
        }
        self.work += work;
        Ok(())
    }

    /// Checks that `out` bytes of result plus `temp` bytes of temporaries fit, and charges
    /// the op's work: everything an op is checked for before it runs.
    fn plan(&mut self, op: &'static str, out: u64, temp: u64, work: f64) -> Result<()> {
        self.reserve(out.saturating_add(temp))?;
        self.charge(op, work)
    }

    pub fn live_handles(&self) -> usize {
        self.entries.len()
    }

    fn reserve(&self, bytes: u64) -> Result<()> {
        if self.entries.len() >= self.limits.max_handles {
            return Err(TensorError::HandleQuota(self.limits.max_handles));
        }
        let used = self.live_bytes();
        if used.saturating_add(bytes) > self.limits.max_bytes {
            return Err(TensorError::MemoryQuota {
                used,
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
        let tracked = tensor.track_op() && !tensor.is_variable();
        if tracked {
            self.tracked_live += 1;
            self.tracked_live_bytes += bytes;
        }
        self.entries.insert(
            handle,
            Entry {
                tensor,
                var: None,
                bytes,
                tracked,
            },
        );
        Ok(handle)
    }

    /// After a tracked op: its temporaries stay alive in the graph; `work` makes backward's
    /// estimate.
    fn note_graph(&mut self, h: Handle, temp: u64, work: f64) {
        if self.entries.get(&h).is_some_and(|e| e.tracked) {
            self.graph_bytes = self.graph_bytes.saturating_add(temp);
            self.graph_work += work;
        }
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
        if let Some(g) = self.grads.as_mut().and_then(|g| g.remove(&h)) {
            self.grad_bytes = self
                .grad_bytes
                .saturating_sub(bytes_of(g.dims(), g.dtype()).unwrap_or(0));
        }
        if entry.tracked {
            // Another tracked tensor's graph may still reference it: its bytes stay counted
            // until no tracked tensor is left, when every graph is unreachable.
            self.tracked_live -= 1;
            self.tracked_live_bytes -= entry.bytes;
            self.graph_bytes = self.graph_bytes.saturating_add(entry.bytes);
            if self.tracked_live == 0 {
                self.graph_bytes = 0;
                self.graph_work = 0.0;
            }
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
        self.plan("from_list", expected * 4, 0, expected as f64 * ELEMENT)?;
        let t = guarded(|| Tensor::from_slice(data, shape, &self.device))?;
        self.insert(t)
    }

    pub fn zeros(&mut self, shape: &[usize]) -> Result<Handle> {
        let bytes = bytes_of(shape, DType::F32)?;
        self.plan("zeros", bytes, 0, bytes as f64 / 4.0 * ELEMENT)?;
        let t = guarded(|| Tensor::zeros(shape, DType::F32, &self.device))?;
        self.insert(t)
    }

    pub fn ones(&mut self, shape: &[usize]) -> Result<Handle> {
        let bytes = bytes_of(shape, DType::F32)?;
        self.plan("ones", bytes, 0, bytes as f64 / 4.0 * ELEMENT)?;
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
        // The values and then the tensor made from them.
        self.plan(
            "randn",
            n as u64 * 4,
            n as u64 * 4,
            n as f64 * TRANSCENDENTAL,
        )?;
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
        self.plan("uniform", n as u64 * 4, n as u64 * 4, n as f64 * ELEMENT)?;
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

    /// Every element, row-major (a copy: checked against the quota like a new tensor).
    pub fn to_vec(&mut self, h: Handle) -> Result<Vec<f32>> {
        let (bytes, n) = self.size(h)?;
        self.plan("to_list", 0, 2 * bytes, n * ELEMENT)?;
        let t = self.get(h)?;
        guarded(|| t.flatten_all()?.to_dtype(DType::F32)?.to_vec1::<f32>())
    }

    /// The value of a one-element tensor.
    pub fn scalar(&mut self, h: Handle) -> Result<f32> {
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

    /// Runs a planned op and records what its graph keeps (`temp` bytes, `work`).
    fn run(
        &mut self,
        temp: u64,
        work: f64,
        f: impl FnOnce() -> candle_core::Result<Tensor>,
    ) -> Result<Handle> {
        let t = guarded(f)?;
        let h = self.insert(t)?;
        self.note_graph(h, temp, work);
        Ok(h)
    }

    /// Bytes and elements of a tensor.
    fn size(&self, h: Handle) -> Result<(u64, f64)> {
        let t = self.get(h)?;
        let bytes = bytes_of(t.dims(), t.dtype())?;
        Ok((bytes, t.elem_count() as f64))
    }

    pub fn unary(&mut self, h: Handle, op: Unary) -> Result<Handle> {
        let (bytes, n) = self.size(h)?;
        let per = match op {
            Unary::Relu | Unary::Neg | Unary::Sqr => ELEMENT,
            _ => TRANSCENDENTAL,
        };
        self.plan("unary", bytes, 0, n * per)?;
        let x = self.get(h)?.clone();
        self.run(0, n * per, || match op {
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
        let bytes = bytes_of(out.dims(), x.dtype())?;
        let work = out.elem_count() as f64 * ELEMENT;
        self.plan("binary", bytes, 0, work)?;
        self.run(0, work, || match op {
            Binary::Add => x.broadcast_add(&y),
            Binary::Sub => x.broadcast_sub(&y),
            Binary::Mul => x.broadcast_mul(&y),
            Binary::Div => x.broadcast_div(&y),
        })
    }

    /// `x * mul + add`.
    pub fn affine(&mut self, h: Handle, mul: f64, add: f64) -> Result<Handle> {
        let (bytes, n) = self.size(h)?;
        self.plan("affine", bytes, 0, n * ELEMENT)?;
        let x = self.get(h)?.clone();
        self.run(0, n * ELEMENT, || x.affine(mul, add))
    }

    pub fn powf(&mut self, h: Handle, exponent: f64) -> Result<Handle> {
        let (bytes, n) = self.size(h)?;
        self.plan("powf", bytes, 0, n * TRANSCENDENTAL)?;
        let x = self.get(h)?.clone();
        self.run(0, n * TRANSCENDENTAL, || x.powf(exponent))
    }

    /// Checks a dimension index (candle would report it too, but the estimate needs it).
    fn dim_of(&self, h: Handle, dim: usize) -> Result<usize> {
        let dims = self.get(h)?.dims();
        dims.get(dim).copied().ok_or_else(|| {
            TensorError::Shape(format!("dimension {dim} out of range for shape {dims:?}"))
        })
    }

    pub fn reduce(&mut self, h: Handle, dim: usize, op: Reduce, keepdim: bool) -> Result<Handle> {
        let (bytes, n) = self.size(h)?;
        let len = self.dim_of(h, dim)?.max(1) as u64;
        self.plan("reduce", bytes / len, 0, n * ELEMENT)?;
        let x = self.get(h)?.clone();
        self.run(0, n * ELEMENT, || match (op, keepdim) {
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
        let (_, n) = self.size(h)?;
        self.plan("sum_all", 4, 0, n * ELEMENT)?;
        let x = self.get(h)?.clone();
        self.run(0, n * ELEMENT, || x.sum_all())
    }

    pub fn mean_all(&mut self, h: Handle) -> Result<Handle> {
        let (_, n) = self.size(h)?;
        self.plan("mean_all", 4, 0, n * ELEMENT)?;
        let x = self.get(h)?.clone();
        self.run(0, n * ELEMENT, || x.mean_all())
    }

    pub fn softmax(&mut self, h: Handle, dim: usize) -> Result<Handle> {
        let (bytes, n) = self.size(h)?;
        self.dim_of(h, dim)?;
        let work = n * (TRANSCENDENTAL + 3.0 * ELEMENT);
        self.plan("softmax", bytes, 2 * bytes, work)?;
        let x = self.get(h)?.clone();
        self.run(2 * bytes, work, || {
            let max = x.max_keepdim(dim)?;
            let e = x.broadcast_sub(&max)?.exp()?;
            e.broadcast_div(&e.sum_keepdim(dim)?)
        })
    }

    pub fn log_softmax(&mut self, h: Handle, dim: usize) -> Result<Handle> {
        let (bytes, n) = self.size(h)?;
        self.dim_of(h, dim)?;
        let work = n * (TRANSCENDENTAL + 3.0 * ELEMENT);
        self.plan("log_softmax", bytes, 2 * bytes, work)?;
        let x = self.get(h)?.clone();
        self.run(2 * bytes, work, || log_softmax(&x, dim))
    }

    /// Matrix product; leading (batch) dimensions broadcast. candle copies a broadcast
    /// operand to its full batch before multiplying, so those copies are temporaries here.
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
        let (xb, yb) = (&xd[..xd.len() - 2], &yd[..yd.len() - 2]);
        let batch = candle_core::Shape::from(xb)
            .broadcast_shape_binary_op(&candle_core::Shape::from(yb), "matmul")
            .map_err(classify)?;
        let batch_dims = batch.dims().to_vec();
        let mut out = batch_dims.clone();
        out.extend([m, n]);
        let out_bytes = bytes_of(&out, x.dtype())?;
        let copy = |own: &[usize], rows: usize, cols: usize| -> Result<u64> {
            if own == batch_dims.as_slice() {
                return Ok(0);
            }
            let mut full = batch_dims.clone();
            full.extend([rows, cols]);
            bytes_of(&full, x.dtype())
        };
        let temp = copy(xb, m, k1)?.saturating_add(copy(yb, k2, n)?);
        let work = 2.0 * batch.elem_count() as f64 * m as f64 * k1 as f64 * n as f64
            + temp as f64 / 4.0 * ELEMENT;
        self.plan("matmul", out_bytes, temp, work)?;
        self.run(temp, work, || x.broadcast_matmul(&y))
    }

    pub fn reshape(&mut self, h: Handle, shape: &[usize]) -> Result<Handle> {
        let (bytes, _) = self.size(h)?;
        self.plan("reshape", bytes, 0, 0.0)?;
        let x = self.get(h)?.clone();
        self.run(0, 0.0, || x.reshape(shape))
    }

    pub fn transpose(&mut self, h: Handle, dim1: usize, dim2: usize) -> Result<Handle> {
        let (bytes, n) = self.size(h)?;
        self.plan("transpose", bytes, 0, n * ELEMENT)?;
        let x = self.get(h)?.clone();
        self.run(0, n * ELEMENT, || x.transpose(dim1, dim2)?.contiguous())
    }

    /// A slice along `dim`, copied: a view would keep the whole source alive after its handle
    /// is dropped while counting only the slice.
    pub fn narrow(&mut self, h: Handle, dim: usize, start: usize, len: usize) -> Result<Handle> {
        let full = self.dim_of(h, dim)?.max(1) as u64;
        let (bytes, n) = self.size(h)?;
        let out = (bytes / full).saturating_mul(len as u64);
        let work = n / full as f64 * len as f64 * ELEMENT;
        self.plan("narrow", out, 0, work)?;
        let x = self.get(h)?.clone();
        self.run(0, work, || x.narrow(dim, start, len)?.copy())
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
        let work = total as f64 / 4.0 * ELEMENT;
        self.plan("cat", total, 0, work)?;
        self.run(0, work, || Tensor::cat(&xs, dim))
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
        let out = bytes_of(&[ids.len(), width], t.dtype())?;
        let work = out as f64 / 4.0 * ELEMENT;
        self.plan("embedding", out, 4 * ids.len() as u64, work)?;
        let index = guarded(|| Tensor::from_slice(ids, ids.len(), &self.device))?;
        self.run(0, work, || t.index_select(&index, 0))
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
        let (bytes, n) = self.size(h)?;
        // centered, its square, the normalised values and the scaled ones live at once.
        let (temp, work) = (4 * bytes, n * (TRANSCENDENTAL + 8.0 * ELEMENT));
        self.plan("layer_norm", bytes, temp, work)?;
        self.run(temp, work, || {
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
        let (bytes, n) = self.size(h)?;
        let (temp, work) = (2 * bytes, n * (TRANSCENDENTAL + 5.0 * ELEMENT));
        self.plan("rms_norm", bytes, temp, work)?;
        self.run(temp, work, || {
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
        let (bytes, elems) = self.size(logits)?;
        let (temp, work) = (3 * bytes, elems * (TRANSCENDENTAL + 4.0 * ELEMENT));
        self.plan("cross_entropy", 4, temp, work)?;
        let index = guarded(|| Tensor::from_slice(targets, (n, 1), &self.device))?;
        self.run(temp, work, || {
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
            if entry.tracked {
                entry.tracked = false;
                self.tracked_live -= 1;
                self.tracked_live_bytes -= entry.bytes;
            }
        }
        Ok(())
    }

    /// Bytes of all variables (each gets a gradient).
    fn variable_bytes(&self) -> u64 {
        self.entries
            .values()
            .filter(|e| e.var.is_some())
            .map(|e| e.bytes)
            .sum()
    }

    /// Computes the gradients of a scalar loss with respect to every variable it depends on.
    /// Peak: a gradient for every node of the graph, on top of what is live.
    pub fn backward(&mut self, loss: Handle) -> Result<()> {
        let l = self.get(loss)?.clone();
        if l.elem_count() != 1 {
            return Err(TensorError::Grad(format!(
                "backward needs a scalar loss, this one has shape {:?}",
                l.dims()
            )));
        }
        let graph = self.graph_bytes + self.tracked_live_bytes;
        let temp = graph.saturating_add(self.variable_bytes());
        self.plan("backward", 0, temp, 2.0 * self.graph_work)?;
        let store = guarded(|| l.backward())?;
        // Keep detached gradients of our variables only: the gradient store also holds every
        // intermediate's gradient and, through them, the whole graph.
        let mut grads = HashMap::new();
        let mut bytes = 0u64;
        for (&h, entry) in &self.entries {
            if entry.var.is_some() {
                if let Some(g) = store.get(&entry.tensor) {
                    bytes += bytes_of(g.dims(), g.dtype())?;
                    grads.insert(h, g.detach());
                }
            }
        }
        self.grads = Some(grads);
        self.grad_bytes = bytes;
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
        match grads.get(&h) {
            Some(g) => Ok(g.clone()),
            // The loss does not depend on it: a zero gradient.
            None => guarded(|| entry.tensor.zeros_like()),
        }
    }

    /// The gradient of a variable from the last `backward`, as a new tensor.
    pub fn grad(&mut self, h: Handle) -> Result<Handle> {
        let g = self.grad_of(h)?;
        self.insert(g)
    }

    /// Bytes and elements of `vars` together, each checked to exist.
    fn vars_size(&self, vars: &[Handle]) -> Result<(u64, f64)> {
        let mut total = (0u64, 0f64);
        for &v in vars {
            let (b, n) = self.size(v)?;
            total = (total.0.saturating_add(b), total.1 + n);
        }
        Ok(total)
    }

    /// Scales the gradients of `vars` so that their joint L2 norm is at most `max_norm`;
    /// returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, vars: &[Handle], max_norm: f64) -> Result<f64> {
        let (bytes, n) = self.vars_size(vars)?;
        self.plan("clip_grad_norm", 0, bytes, 3.0 * n * ELEMENT)?;
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
            for (v, g) in gs {
                let scaled = guarded(|| g.affine(scale, 0.0))?;
                if let Some(grads) = self.grads.as_mut() {
                    grads.insert(v, scaled);
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
        let used = self.live_bytes();
        if used.saturating_add(bytes) > self.limits.max_bytes {
            return Err(TensorError::MemoryQuota {
                used,
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
        let (bytes, n) = self.vars_size(vars)?;
        self.plan("sgd_step", 0, 2 * bytes, 4.0 * n * ELEMENT)?;
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
        let (bytes, n) = self.vars_size(vars)?;
        // New moments for all, plus the update temporaries of the largest at a time (bounded
        // by all together).
        self.plan("adamw_step", 0, 4 * bytes, 14.0 * n * ELEMENT)?;
        self.step += 1;
        let t = self.step.min(i32::MAX as u64) as i32;
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
