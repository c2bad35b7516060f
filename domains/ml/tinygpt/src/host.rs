//! The model on the host's tensors (`hyper:compute/tensor`), for components.

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/compute/since_v0.1.0",
        world: "tensor-user",
    });
}

pub use bindings::hyper::compute::tensor::{self as wit, Tensor};
use bindings::hyper::compute::tensor::{BinaryOp, UnaryOp};

use crate::backend::{Act, Backend, Op, Res};

/// The host's tensor store, as seen from inside the sandbox.
pub struct HostTensors;

fn dims(shape: &[usize]) -> Vec<u32> {
    shape.iter().map(|&d| d as u32).collect()
}

fn err(e: wit::TensorError) -> String {
    format!("{e:?}")
}

impl Backend for HostTensors {
    type T = Tensor;

    fn upload(&mut self, data: &[f32], shape: &[usize]) -> Res<Tensor> {
        Tensor::from_list(data, &dims(shape)).map_err(err)
    }
    fn randn(&mut self, shape: &[usize], std: f32) -> Res<Tensor> {
        Tensor::randn(&dims(shape), 0.0, std).map_err(err)
    }
    fn zeros(&mut self, shape: &[usize]) -> Res<Tensor> {
        Tensor::zeros(&dims(shape)).map_err(err)
    }
    fn ones(&mut self, shape: &[usize]) -> Res<Tensor> {
        Tensor::ones(&dims(shape)).map_err(err)
    }
    fn shape(&mut self, x: &Tensor) -> Res<Vec<usize>> {
        Ok(x.shape().iter().map(|&d| d as usize).collect())
    }
    fn to_vec(&mut self, x: &Tensor) -> Res<Vec<f32>> {
        x.to_list().map_err(err)
    }
    fn scalar(&mut self, x: &Tensor) -> Res<f32> {
        x.scalar().map_err(err)
    }
    fn binary(&mut self, a: &Tensor, b: &Tensor, op: Op) -> Res<Tensor> {
        let op = match op {
            Op::Add => BinaryOp::Add,
            Op::Sub => BinaryOp::Sub,
            Op::Mul => BinaryOp::Mul,
        };
        a.binary(op, b).map_err(err)
    }
    fn affine(&mut self, x: &Tensor, mul: f64, add: f64) -> Res<Tensor> {
        x.affine(mul, add).map_err(err)
    }
    fn act(&mut self, x: &Tensor, act: Act) -> Res<Tensor> {
        let op = match act {
            Act::Gelu => UnaryOp::Gelu,
            Act::Relu => UnaryOp::Relu,
            Act::Silu => UnaryOp::Silu,
        };
        x.unary(op).map_err(err)
    }
    fn softmax(&mut self, x: &Tensor, dim: usize) -> Res<Tensor> {
        x.softmax(dim as u32).map_err(err)
    }
    fn matmul(&mut self, a: &Tensor, b: &Tensor) -> Res<Tensor> {
        a.matmul(b).map_err(err)
    }
    fn reshape(&mut self, x: &Tensor, shape: &[usize]) -> Res<Tensor> {
        x.reshape(&dims(shape)).map_err(err)
    }
    fn transpose(&mut self, x: &Tensor, d1: usize, d2: usize) -> Res<Tensor> {
        x.transpose(d1 as u32, d2 as u32).map_err(err)
    }
    fn narrow(&mut self, x: &Tensor, dim: usize, start: usize, len: usize) -> Res<Tensor> {
        x.narrow(dim as u32, start as u32, len as u32).map_err(err)
    }
    fn cat(&mut self, parts: &[&Tensor], dim: usize) -> Res<Tensor> {
        wit::cat(parts, dim as u32).map_err(err)
    }
    fn embedding(&mut self, table: &Tensor, ids: &[u32]) -> Res<Tensor> {
        table.embedding(ids).map_err(err)
    }
    fn layer_norm(&mut self, x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Res<Tensor> {
        x.layer_norm(w, b, eps).map_err(err)
    }
    fn rms_norm(&mut self, x: &Tensor, w: &Tensor, eps: f64) -> Res<Tensor> {
        x.rms_norm(w, eps).map_err(err)
    }
    fn cross_entropy(&mut self, logits: &Tensor, targets: &[u32]) -> Res<Tensor> {
        logits.cross_entropy(targets).map_err(err)
    }
    fn make_variable(&mut self, x: &Tensor) -> Res<()> {
        x.make_variable().map_err(err)
    }
    fn backward(&mut self, loss: &Tensor) -> Res<()> {
        wit::backward(loss).map_err(err)
    }
    fn clip_grad_norm(&mut self, vars: &[&Tensor], max_norm: f64) -> Res<f64> {
        wit::clip_grad_norm(vars, max_norm).map_err(err)
    }
    fn adamw_step(
        &mut self,
        vars: &[&Tensor],
        lr: f64,
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    ) -> Res<()> {
        wit::adamw_step(vars, lr, beta1, beta2, eps, weight_decay).map_err(err)
    }
}

/// Where the host keeps the tensors (`cpu`, `cuda`).
pub fn device() -> String {
    wit::device()
}
