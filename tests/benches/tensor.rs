//! Host tensors through the component boundary: `cargo bench -p hyper-tests --bench tensor`.
//!
//! - per-call overhead of a tiny tensor op (a one-element affine plus its drop) from a skill,
//!   against the same op called natively on `hyper_compute::TensorStore` (target ≤ 1 µs extra);
//! - training steps per second of the same model (a linear regression fitted with AdamW, 64
//!   rows) from the skill against a native program doing the same ops (target ≥ 0.9×);
//! - training throughput in tokens/s of the ML domain's GPT (`ml-tinygpt` with its default
//!   parameters: 2 blocks, width 64, context 64, batch 16): the official skill in the sandbox
//!   against the same model code (`domains/ml/tinygpt`) compiled natively and run on the same
//!   host tensor store, same seed, same data (target ≥ 0.9×). Both sides include
//!   initialisation and writing the safetensors artifact; the weights come out bit-identical
//!   (tests/ml.rs checks that).
//!
//! `--tokens N` sets the transformer's training tokens (default 200,000). Built with
//! `--features cuda`, tensors live on the GPU (`HYPER_TENSOR_DEVICE=cpu` keeps them on the
//! CPU); to run the binary on another machine, put the fixtures' `.wasm` files in
//! `$HYPER_FIXTURE_DIR`.

use hyper_tests::flags::OrExit;
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
    result.or_exit("the tensor skill's run");
    t0.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn native_train(steps: u32) -> f32 {
    let mut s = TensorStore::new(Limits::default(), 1);
    let inputs = s.randn(&[64, 2], 0.0, 1.0).or_exit("x");
    let xs = s.to_vec(inputs).or_exit("xs");
    let ys: Vec<f32> = xs
        .chunks(2)
        .map(|p| 3.0 * p[0] - 2.0 * p[1] + 1.0)
        .collect();
    let target = s.from_f32(&ys, &[64, 1]).or_exit("y");
    let w = s.randn(&[2, 1], 0.0, 0.1).or_exit("w");
    let b = s.zeros(&[1]).or_exit("b");
    s.variable(w).or_exit("var");
    s.variable(b).or_exit("var");
    let mut last = 0.0;
    for _ in 0..steps {
        let m = s.matmul(inputs, w).or_exit("mm");
        let pred = s.binary(m, b, Binary::Add).or_exit("add");
        let diff = s.binary(pred, target, Binary::Sub).or_exit("sub");
        let sq = s.unary(diff, Unary::Sqr).or_exit("sqr");
        let loss = s.mean_all(sq).or_exit("mean");
        last = s.scalar(loss).or_exit("loss");
        s.backward(loss).or_exit("backward");
        s.adamw_step(&[w, b], 0.05, 0.9, 0.999, 1e-8, 0.0)
            .or_exit("adamw");
        for h in [m, pred, diff, sq, loss] {
            s.drop_tensor(h).or_exit("drop");
        }
    }
    last
}

fn main() {
    let runtime = runtime();
    let skill = Skill::load(&runtime, &read(fixtures::TENSOR_USER)).or_exit("load");
    println!(
        "host tensors through the component boundary (hyper:compute/tensor, device {})",
        TensorStore::new(Limits::default(), 0).device_name()
    );

    // 1. Per-call overhead.
    let n = 200_000i64;
    let _ = run_case(&skill, "calls", 1);
    let base = median((0..5).map(|_| run_case(&skill, "calls", 1)).collect());
    let many = median((0..5).map(|_| run_case(&skill, "calls", n)).collect());
    let per_call = (many.saturating_sub(base)).as_secs_f64() / (2 * n) as f64;
    let mut s = TensorStore::new(Limits::default(), 0);
    let x = s.ones(&[1]).or_exit("x");
    let t0 = Instant::now();
    for _ in 0..n {
        let y = s.affine(x, 1.0, 0.0).or_exit("affine");
        s.drop_tensor(y).or_exit("drop");
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

    // 3. The ML domain's transformer, tokens per second.
    let tokens: u64 = hyper_tests::flags::value("--tokens", 200_000);
    // `--large`: the skill's largest model (4 blocks × 128, context 128, batch 32), where each
    // host call does more work (on a GPU the default model is launch-bound).
    let large = hyper_tests::flags::switch("--large");
    transformer(&runtime, tokens, large);
}

fn transformer(runtime: &hyper_runtime::Runtime, tokens: u64, large: bool) {
    let (_t, home) = temp_home();
    let domain = embedded_domain(
        &home,
        &hyper_guests::ML,
        &[("train_tokens", toml::Value::Integer(tokens as i64))],
    );
    let text = std::fs::read(domain.data_dir().join("train.txt")).or_exit("train.txt");
    let skill = Skill::load(runtime, &read(fixtures::ML_TINYGPT)).or_exit("skill");
    let policy = domain.skill_policy();
    let info = skill.describe(&policy).or_exit("describe");
    let mut space = hyper_research::Space::new(info.params).or_exit("space");
    space.pin(&domain.manifest.fixed).or_exit("pin");
    let mut params = space.defaults();
    let mut config = native::default_config();
    let mut recipe = native::default_recipe(tokens);
    if large {
        use hyper_research::Value;
        params.insert("depth".into(), Value::Int(4));
        params.insert("width".into(), Value::Choice("128".into()));
        params.insert("context".into(), Value::Int(128));
        params.insert("batch".into(), Value::Int(32));
        (config.depth, config.width, config.context, recipe.batch) = (4, 128, 128, 32);
    }
    let spec = hyper_runtime::ExperimentSpec {
        domain: "ml".into(),
        params: space.to_wit(&params),
        ..spec("bench", 11, &[])
    };
    let trained = recipe.steps(config.context as usize) * (recipe.batch * config.context) as u64;
    let mut sandbox = Vec::new();
    let mut natively = Vec::new();
    // Alternating, so that neither side gets the warmer machine.
    for _ in 0..3 {
        let t0 = Instant::now();
        let (result, _) = skill.run(&policy, &spec, None);
        result.or_exit("the tinygpt skill's training run");
        sandbox.push(t0.elapsed());
        let t0 = Instant::now();
        let (_, n) = native::train(config.clone(), &recipe, &text, 11);
        assert_eq!(n, trained);
        natively.push(t0.elapsed());
    }
    let (a, b) = (
        trained as f64 / median(sandbox).as_secs_f64(),
        trained as f64 / median(natively).as_secs_f64(),
    );
    println!(
        "ml-tinygpt ({}×{}, context {}, batch {}), {trained} tokens: {a:.0} tokens/s in the sandbox, {b:.0} natively: {:.2}x   (target ≥ 0.9x)",
        config.depth,
        config.width,
        config.context,
        recipe.batch,
        a / b
    );
}
