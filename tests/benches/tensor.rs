//! Host tensors through the component boundary: `cargo bench -p hyper-tests --bench tensor`.
//!
//! - per-call overhead of a tiny tensor op (a one-element affine plus its drop) from a skill,
//!   against the same op called natively on `hyper_compute::TensorStore` (target ≤ 1 µs extra);
//! - training steps per second of the same model (a linear regression fitted with AdamW, 64
//!   rows) from the skill against a native program doing the same ops (target ≥ 0.9×).
//!   The transformer comparison in tokens/s waits for the ML domain's skill.

use std::time::{Duration, Instant};

use hyper_compute::{Binary, Limits, TensorStore, Unary};
use hyper_runtime::{ParamValue, SandboxPolicy, Skill};
use hyper_tests::*;

fn run_case(skill: &Skill, case: &str, steps: i64) -> Duration {
    let policy = SandboxPolicy::default();
    let spec = spec(
        "b",
        1,
        &[
            ("case", ParamValue::Choice(case.into())),
            ("steps", ParamValue::Int(steps)),
        ],
    );
    let t0 = Instant::now();
    let (result, _) = skill.run(&policy, &spec, None);
    result.expect("run");
    t0.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn native_train(steps: u32) -> f32 {
    let mut s = TensorStore::new(Limits::default(), 1);
    let inputs = s.randn(&[64, 2], 0.0, 1.0).expect("x");
    let xs = s.to_vec(inputs).expect("xs");
    let ys: Vec<f32> = xs
        .chunks(2)
        .map(|p| 3.0 * p[0] - 2.0 * p[1] + 1.0)
        .collect();
    let target = s.from_f32(&ys, &[64, 1]).expect("y");
    let w = s.randn(&[2, 1], 0.0, 0.1).expect("w");
    let b = s.zeros(&[1]).expect("b");
    s.variable(w).expect("var");
    s.variable(b).expect("var");
    let mut last = 0.0;
    for _ in 0..steps {
        let m = s.matmul(inputs, w).expect("mm");
        let pred = s.binary(m, b, Binary::Add).expect("add");
        let diff = s.binary(pred, target, Binary::Sub).expect("sub");
        let sq = s.unary(diff, Unary::Sqr).expect("sqr");
        let loss = s.mean_all(sq).expect("mean");
        last = s.scalar(loss).expect("loss");
        s.backward(loss).expect("backward");
        s.adamw_step(&[w, b], 0.05, 0.9, 0.999, 1e-8, 0.0)
            .expect("adamw");
        for h in [m, pred, diff, sq, loss] {
            s.drop_tensor(h).expect("drop");
        }
    }
    last
}

fn main() {
    let runtime = runtime();
    let skill = Skill::load(&runtime, &read(fixtures::TENSOR_USER)).expect("load");
    println!("host tensors through the component boundary (hyper:compute/tensor, CPU)");

    // 1. Per-call overhead.
    let n = 200_000i64;
    let _ = run_case(&skill, "calls", 1);
    let base = median((0..5).map(|_| run_case(&skill, "calls", 1)).collect());
    let many = median((0..5).map(|_| run_case(&skill, "calls", n)).collect());
    let per_call = (many.saturating_sub(base)).as_secs_f64() / (2 * n) as f64;
    let mut s = TensorStore::new(Limits::default(), 0);
    let x = s.ones(&[1]).expect("x");
    let t0 = Instant::now();
    for _ in 0..n {
        let y = s.affine(x, 1.0, 0.0).expect("affine");
        s.drop_tensor(y).expect("drop");
    }
    let native = t0.elapsed().as_secs_f64() / (2 * n) as f64;
    println!(
        "tiny op + drop: {:.2} µs per call from the skill, {:.2} µs natively: {:.2} µs of boundary   (target ≤ 1 µs)",
        per_call * 1e6,
        native * 1e6,
        (per_call - native) * 1e6
    );

    // 2. Training throughput, same model and ops.
    let steps = 2_000u32;
    let sandbox = median(
        (0..3)
            .map(|_| run_case(&skill, "train", i64::from(steps)))
            .collect(),
    );
    let native_time = median(
        (0..3)
            .map(|_| {
                let t0 = Instant::now();
                std::hint::black_box(native_train(steps));
                t0.elapsed()
            })
            .collect(),
    );
    let (a, b) = (
        f64::from(steps) / sandbox.as_secs_f64(),
        f64::from(steps) / native_time.as_secs_f64(),
    );
    println!(
        "linear model, AdamW, {steps} steps: {a:.0} steps/s in the sandbox, {b:.0} natively: {:.2}x   (target ≥ 0.9x)",
        a / b
    );
}
