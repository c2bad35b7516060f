//! GPU compute for skills: `cargo bench -p hyper-tests --bench gpu [-- --n 1024]`.
//!
//! On this machine's adapter (lavapipe, the software Vulkan driver, without a GPU; the real
//! GPU where there is one):
//! - a WGSL matrix product (n × n, 16×16 tiles) through `hyper_compute::gpu` natively:
//!   GFLOP/s, checked against a CPU product on a few entries;
//! - the same `axpy` kernel from a skill in the sandbox (`hyper:compute/gpu`) and natively:
//!   time per dispatch incl. upload and read-back;
//! - an endless shader from a skill: the dispatch times out with an error (2 s here), the
//!   host stays up and the next call's GPU works.
//!
//! To run the binary on another machine, put the fixture's `.wasm` in `$HYPER_FIXTURE_DIR`.

use hyper_tests::flags::OrExit;
use std::time::{Duration, Instant};

use hyper_compute::gpu::{Gpu, GpuLimits};
use hyper_runtime::{ParamValue, SandboxPolicy, Skill};
use hyper_tests::*;

const MATMUL: &str = r#"
struct Dims { n: u32 }
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> dims: Dims;

var<workgroup> ta: array<array<f32, 16>, 16>;
var<workgroup> tb: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let n = dims.n;
    let row = g.y;
    let col = g.x;
    var acc = 0.0;
    for (var t = 0u; t < n; t += 16u) {
        ta[l.y][l.x] = a[row * n + t + l.x];
        tb[l.y][l.x] = b[(t + l.y) * n + col];
        workgroupBarrier();
        for (var k = 0u; k < 16u; k++) {
            acc += ta[l.y][k] * tb[k][l.x];
        }
        workgroupBarrier();
    }
    c[row * n + col] = acc;
}
"#;

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn floats(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(skill: &Skill, policy: &SandboxPolicy, case: &str, n: i64) -> (Duration, String) {
    let spec = spec(
        "gpu",
        1,
        &[
            ("case", ParamValue::Choice(case.into())),
            ("n", ParamValue::Int(n)),
        ],
    );
    let t0 = Instant::now();
    let (result, _) = skill.run(policy, &spec, None);
    let out = match result {
        Ok(a) => String::from_utf8_lossy(&a.bytes).into_owned(),
        Err(f) => format!("failed: {f}"),
    };
    (t0.elapsed(), out)
}

fn main() {
    let n: usize = hyper_tests::flags::value("--n", 512);
    let n = n.div_ceil(16) * 16;
    let mut gpu = Gpu::open(GpuLimits::default()).or_exit("a GPU adapter (mesa-vulkan-drivers)");
    println!("adapter: {}", gpu.adapter());

    // 1. Matrix product.
    let a: Vec<f32> = (0..n * n).map(|i| ((i * 7) % 13) as f32 * 0.1).collect();
    let b: Vec<f32> = (0..n * n).map(|i| ((i * 5) % 11) as f32 * 0.1).collect();
    let size = (4 * n * n) as u64;
    let (ba, bb, bc, bd) = (
        gpu.create_buffer(size).or_exit("a"),
        gpu.create_buffer(size).or_exit("b"),
        gpu.create_buffer(size).or_exit("c"),
        gpu.create_buffer(4).or_exit("dims"),
    );
    gpu.write(ba, 0, &bytes(&a)).or_exit("write a");
    gpu.write(bb, 0, &bytes(&b)).or_exit("write b");
    gpu.write(bd, 0, &(n as u32).to_le_bytes())
        .or_exit("write n");
    let p = gpu.pipeline(MATMUL, "main").or_exit("matmul pipeline");
    let groups = [(n / 16) as u32, (n / 16) as u32, 1];
    gpu.dispatch(p, &[ba, bb, bc, bd], groups)
        .or_exit("warm-up");
    let times: Vec<Duration> = (0..5)
        .map(|_| {
            let t0 = Instant::now();
            gpu.dispatch(p, &[ba, bb, bc, bd], groups)
                .or_exit("dispatch");
            t0.elapsed()
        })
        .collect();
    let c = floats(&gpu.read(bc).or_exit("read c"));
    for (i, j) in [(0, 0), (n / 2, n / 3), (n - 1, n - 1)] {
        let want: f32 = (0..n).map(|k| a[i * n + k] * b[k * n + j]).sum();
        let got = c[i * n + j];
        assert!(
            (got - want).abs() <= 1e-3 * want.abs().max(1.0),
            "c[{i}][{j}] = {got}, expected {want}"
        );
    }
    let t = median(times);
    println!(
        "WGSL matmul {n}×{n} (16×16 tiles): {:.2} ms per dispatch, {:.1} GFLOP/s (checked against the CPU)",
        t.as_secs_f64() * 1e3,
        2.0 * (n as f64).powi(3) / t.as_secs_f64() / 1e9
    );

    // 2. axpy from a skill and natively.
    let runtime = runtime();
    let skill = Skill::load(&runtime, &read(fixtures::GPU_USER)).or_exit("gpu fixture loads");
    let policy = SandboxPolicy::default();
    let elements = 1i64 << 20;
    let _ = run(&skill, &policy, "axpy", elements);
    let sandbox = median(
        (0..5)
            .map(|_| {
                let (t, out) = run(&skill, &policy, "axpy", elements);
                assert!(out.starts_with("n=1048576 first=0 "), "{out}");
                t
            })
            .collect(),
    );
    println!(
        "axpy of {elements} floats from a skill (open device, 3 buffers, upload, dispatch, read back): {:.1} ms per call",
        sandbox.as_secs_f64() * 1e3
    );

    // 3. An endless shader from a skill.
    let policy = SandboxPolicy {
        gpu_timeout: Duration::from_secs(2),
        ..SandboxPolicy::default()
    };
    let (t, out) = run(&skill, &policy, "endless", 4096);
    println!(
        "endless shader from a skill: `{}` after {:.2} s",
        out.trim(),
        t.as_secs_f64()
    );
    let (_, after) = run(&skill, &SandboxPolicy::default(), "axpy", 64);
    println!("next call: {}", after.trim());
}
