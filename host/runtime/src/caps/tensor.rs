//! Capability `tensor`: the `hyper:compute/tensor` host interface. A skill's `tensor`
//! resources are handles into a per-call [`hyper_compute::TensorStore`] (created on first use
//! with the policy's quotas and the call's seed).
//!
//! Every call checks the call's deadline first and counts the data it copies (lists in and
//! out). Memory and handle quotas come back as `tensor-error`s the skill may handle (and are
//! noted in the run report); a compute limit (one op too large, or the call's total) traps
//! with [`Exceeded::Tensor`]: the per-op cap is what bounds the time spent inside one host
//! call, and a skill must not be able to ignore it.

use hyper_compute::{Binary, Handle, Reduce, TensorStore, Unary};
use wasmtime::component::Resource;

use crate::host::HostState;
use crate::limits::Exceeded;

/// The store's limits from this capability's slice of the policy.
pub(crate) fn limits(policy: &crate::SandboxPolicy) -> hyper_compute::Limits {
    hyper_compute::Limits {
        max_bytes: policy.tensor_bytes,
        max_handles: policy.tensor_handles,
        max_op_work: policy.tensor_op_work,
        max_call_work: policy.tensor_call_work,
    }
}

pub(crate) fn link(linker: &mut wasmtime::component::Linker<HostState>) -> wasmtime::Result<()> {
    bindings::TensorUser::add_to_linker::<_, wasmtime::component::HasSelf<HostState>>(linker, |s| s)
}

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/compute/since_v0.1.0",
        world: "tensor-user",
        imports: { default: trappable },
        with: {
            "hyper:compute/tensor.tensor": super::TensorRes,
        },
    });
}

use bindings::hyper::compute::tensor::{self as wit, BinaryOp, ReduceOp, TensorError, UnaryOp};

/// The host side of one `tensor` resource.
pub struct TensorRes(Handle);

type Res<T> = wasmtime::Result<Result<T, TensorError>>;

/// A store error as the guest sees it; compute limits trap instead, and quotas are noted.
fn convert(
    meter: &mut crate::limits::Meter,
    e: hyper_compute::TensorError,
) -> wasmtime::Result<TensorError> {
    use hyper_compute::TensorError as E;
    Ok(match e {
        E::Shape(m) => TensorError::Shape(m),
        E::BadHandle(_) => TensorError::BadHandle,
        e @ E::MemoryQuota { .. } => {
            meter.refused(Exceeded::Tensor(e.to_string()));
            TensorError::MemoryQuota(e.to_string())
        }
        e @ E::HandleQuota(_) => {
            meter.refused(Exceeded::Tensor(e.to_string()));
            TensorError::HandleQuota(e.to_string())
        }
        E::Invalid(m) => TensorError::Invalid(m),
        E::Grad(m) => TensorError::Grad(m),
        e @ E::Compute { .. } => return Err(Exceeded::Tensor(e.to_string()).trap()),
    })
}

fn dims(shape: &[u32]) -> Vec<usize> {
    shape.iter().map(|&d| d as usize).collect()
}

impl HostState {
    /// The handle behind a resource (a resource the guest does not own is a trap: the
    /// component model guarantees this cannot happen for well-formed components).
    fn handle(&self, r: &Resource<TensorRes>) -> wasmtime::Result<Handle> {
        Ok(self.table.get(r)?.0)
    }

    fn handles(&self, rs: &[Resource<TensorRes>]) -> wasmtime::Result<Vec<Handle>> {
        rs.iter().map(|r| self.handle(r)).collect()
    }

    /// Runs `f` on the store (after the deadline check) and wraps a new tensor in a resource.
    fn make(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut TensorStore) -> Result<Handle, hyper_compute::TensorError>,
    ) -> Res<Resource<TensorRes>> {
        self.meter.check(call)?;
        match f(self.tensors()) {
            Ok(h) => match self.table.push(TensorRes(h)) {
                Ok(r) => Ok(Ok(r)),
                Err(e) => {
                    let _ = self.tensors().drop_tensor(h);
                    Err(e.into())
                }
            },
            Err(e) => Ok(Err(convert(&mut self.meter, e)?)),
        }
    }

    fn with<T>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&mut TensorStore) -> Result<T, hyper_compute::TensorError>,
    ) -> Res<T> {
        self.meter.check(call)?;
        match f(self.tensors()) {
            Ok(v) => Ok(Ok(v)),
            Err(e) => Ok(Err(convert(&mut self.meter, e)?)),
        }
    }
}

impl wit::HostTensor for HostState {
    fn from_list(&mut self, data: Vec<f32>, shape: Vec<u32>) -> Res<Resource<TensorRes>> {
        self.meter
            .copy("tensor.from-list", 4 * data.len() + 4 * shape.len())?;
        self.make("tensor.from-list", |s| s.from_f32(&data, &dims(&shape)))
    }

    fn zeros(&mut self, shape: Vec<u32>) -> Res<Resource<TensorRes>> {
        self.make("tensor.zeros", |s| s.zeros(&dims(&shape)))
    }

    fn ones(&mut self, shape: Vec<u32>) -> Res<Resource<TensorRes>> {
        self.make("tensor.ones", |s| s.ones(&dims(&shape)))
    }

    fn randn(&mut self, shape: Vec<u32>, mean: f32, std: f32) -> Res<Resource<TensorRes>> {
        self.make("tensor.randn", |s| s.randn(&dims(&shape), mean, std))
    }

    fn uniform(&mut self, shape: Vec<u32>, low: f32, high: f32) -> Res<Resource<TensorRes>> {
        self.make("tensor.uniform", |s| {
            s.rand_uniform(&dims(&shape), low, high)
        })
    }

    fn shape(&mut self, this: Resource<TensorRes>) -> wasmtime::Result<Vec<u32>> {
        let h = self.handle(&this)?;
        Ok(self
            .tensors()
            .shape(h)
            .map(|d| d.iter().map(|&x| x as u32).collect())
            .unwrap_or_default())
    }

    fn to_list(&mut self, this: Resource<TensorRes>) -> Res<Vec<f32>> {
        let h = self.handle(&this)?;
        let bytes = self
            .tensors()
            .shape(h)
            .map(|d| 4 * d.iter().product::<usize>())
            .unwrap_or(0);
        self.meter.copy("tensor.to-list", bytes)?;
        self.with("tensor.to-list", |s| s.to_vec(h))
    }

    fn scalar(&mut self, this: Resource<TensorRes>) -> Res<f32> {
        let h = self.handle(&this)?;
        self.with("tensor.scalar", |s| s.scalar(h))
    }

    fn unary(&mut self, this: Resource<TensorRes>, op: UnaryOp) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        let op = match op {
            UnaryOp::Exp => Unary::Exp,
            UnaryOp::Log => Unary::Log,
            UnaryOp::Tanh => Unary::Tanh,
            UnaryOp::Gelu => Unary::Gelu,
            UnaryOp::Relu => Unary::Relu,
            UnaryOp::Silu => Unary::Silu,
            UnaryOp::Sqrt => Unary::Sqrt,
            UnaryOp::Neg => Unary::Neg,
            UnaryOp::Sqr => Unary::Sqr,
        };
        self.make("tensor.unary", |s| s.unary(h, op))
    }

    fn binary(
        &mut self,
        this: Resource<TensorRes>,
        op: BinaryOp,
        other: Resource<TensorRes>,
    ) -> Res<Resource<TensorRes>> {
        let (a, b) = (self.handle(&this)?, self.handle(&other)?);
        let op = match op {
            BinaryOp::Add => Binary::Add,
            BinaryOp::Sub => Binary::Sub,
            BinaryOp::Mul => Binary::Mul,
            BinaryOp::Div => Binary::Div,
        };
        self.make("tensor.binary", |s| s.binary(a, b, op))
    }

    fn affine(
        &mut self,
        this: Resource<TensorRes>,
        mul: f64,
        add: f64,
    ) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.affine", |s| s.affine(h, mul, add))
    }

    fn powf(&mut self, this: Resource<TensorRes>, exponent: f64) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.powf", |s| s.powf(h, exponent))
    }

    fn reduce(
        &mut self,
        this: Resource<TensorRes>,
        op: ReduceOp,
        dim: u32,
        keepdim: bool,
    ) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        let op = match op {
            ReduceOp::Sum => Reduce::Sum,
            ReduceOp::Mean => Reduce::Mean,
            ReduceOp::Max => Reduce::Max,
        };
        self.make("tensor.reduce", |s| s.reduce(h, dim as usize, op, keepdim))
    }

    fn sum_all(&mut self, this: Resource<TensorRes>) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.sum-all", |s| s.sum_all(h))
    }

    fn mean_all(&mut self, this: Resource<TensorRes>) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.mean-all", |s| s.mean_all(h))
    }

    fn softmax(&mut self, this: Resource<TensorRes>, dim: u32) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.softmax", |s| s.softmax(h, dim as usize))
    }

    fn log_softmax(&mut self, this: Resource<TensorRes>, dim: u32) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.log-softmax", |s| s.log_softmax(h, dim as usize))
    }

    fn matmul(
        &mut self,
        this: Resource<TensorRes>,
        other: Resource<TensorRes>,
    ) -> Res<Resource<TensorRes>> {
        let (a, b) = (self.handle(&this)?, self.handle(&other)?);
        self.make("tensor.matmul", |s| s.matmul(a, b))
    }

    fn reshape(&mut self, this: Resource<TensorRes>, shape: Vec<u32>) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.reshape", |s| s.reshape(h, &dims(&shape)))
    }

    fn transpose(
        &mut self,
        this: Resource<TensorRes>,
        dim1: u32,
        dim2: u32,
    ) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.transpose", |s| {
            s.transpose(h, dim1 as usize, dim2 as usize)
        })
    }

    fn narrow(
        &mut self,
        this: Resource<TensorRes>,
        dim: u32,
        start: u32,
        len: u32,
    ) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.narrow", |s| {
            s.narrow(h, dim as usize, start as usize, len as usize)
        })
    }

    fn embedding(&mut self, this: Resource<TensorRes>, ids: Vec<u32>) -> Res<Resource<TensorRes>> {
        self.meter.copy("tensor.embedding", 4 * ids.len())?;
        let h = self.handle(&this)?;
        self.make("tensor.embedding", |s| s.embedding(h, &ids))
    }

    fn layer_norm(
        &mut self,
        this: Resource<TensorRes>,
        weight: Resource<TensorRes>,
        bias: Resource<TensorRes>,
        eps: f64,
    ) -> Res<Resource<TensorRes>> {
        let (x, w, b) = (
            self.handle(&this)?,
            self.handle(&weight)?,
            self.handle(&bias)?,
        );
        self.make("tensor.layer-norm", |s| s.layer_norm(x, w, b, eps))
    }

    fn rms_norm(
        &mut self,
        this: Resource<TensorRes>,
        weight: Resource<TensorRes>,
        eps: f64,
    ) -> Res<Resource<TensorRes>> {
        let (x, w) = (self.handle(&this)?, self.handle(&weight)?);
        self.make("tensor.rms-norm", |s| s.rms_norm(x, w, eps))
    }

    fn cross_entropy(
        &mut self,
        this: Resource<TensorRes>,
        targets: Vec<u32>,
    ) -> Res<Resource<TensorRes>> {
        self.meter.copy("tensor.cross-entropy", 4 * targets.len())?;
        let h = self.handle(&this)?;
        self.make("tensor.cross-entropy", |s| s.cross_entropy(h, &targets))
    }

    fn make_variable(&mut self, this: Resource<TensorRes>) -> Res<()> {
        let h = self.handle(&this)?;
        self.with("tensor.make-variable", |s| s.variable(h))
    }

    fn grad(&mut self, this: Resource<TensorRes>) -> Res<Resource<TensorRes>> {
        let h = self.handle(&this)?;
        self.make("tensor.grad", |s| s.grad(h))
    }

    fn drop(&mut self, this: Resource<TensorRes>) -> wasmtime::Result<()> {
        let TensorRes(h) = self.table.delete(this)?;
        let _ = self.tensors().drop_tensor(h);
        Ok(())
    }
}

impl wit::Host for HostState {
    fn cat(&mut self, parts: Vec<Resource<TensorRes>>, dim: u32) -> Res<Resource<TensorRes>> {
        let hs = self.handles(&parts)?;
        self.make("tensor.cat", |s| s.cat(&hs, dim as usize))
    }

    fn backward(&mut self, loss: Resource<TensorRes>) -> Res<()> {
        let h = self.handle(&loss)?;
        self.with("tensor.backward", |s| s.backward(h))
    }

    fn clip_grad_norm(&mut self, vars: Vec<Resource<TensorRes>>, max_norm: f64) -> Res<f64> {
        let hs = self.handles(&vars)?;
        self.with("tensor.clip-grad-norm", |s| s.clip_grad_norm(&hs, max_norm))
    }

    fn sgd_step(&mut self, vars: Vec<Resource<TensorRes>>, lr: f64, momentum: f64) -> Res<()> {
        let hs = self.handles(&vars)?;
        self.with("tensor.sgd-step", |s| s.sgd_step(&hs, lr, momentum))
    }

    fn adamw_step(
        &mut self,
        vars: Vec<Resource<TensorRes>>,
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    ) -> Res<()> {
        let hs = self.handles(&vars)?;
        self.with("tensor.adamw-step", |s| {
            s.adamw_step(&hs, lr, beta1, beta2, eps, weight_decay)
        })
    }

    fn device(&mut self) -> wasmtime::Result<String> {
        Ok(self.tensors().device_name().to_string())
    }
}
