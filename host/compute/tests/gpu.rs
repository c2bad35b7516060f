//! GPU compute on the machine's adapter (lavapipe, the software Vulkan driver, in CI): a WGSL
//! kernel's numbers, and what a careless or hostile skill gets: bad WGSL, a 100 GB buffer,
//! oversized dispatches, wrong bindings.
//!
//! The timeout test's shader is long rather than endless: llvmpipe stops an invocation after
//! 65,535 loop iterations in all, so on lavapipe the work is many invocations (about 1.5 s on
//! 2 cores); on a real GPU each invocation's 4 × 10⁹ dependent steps take seconds.

use hyper_compute::gpu::{Gpu, GpuError, GpuLimits};

const ADD: &str = r#"
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i < arrayLength(&c)) {
        c[i] = a[i] * 2.0 + b[i];
    }
}
"#;

fn bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn floats(b: &[u8]) -> Vec<f32> {
    b.chunks(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn a_wgsl_kernel_computes_what_it_says() {
    let mut gpu =
        Gpu::open(GpuLimits::default()).expect("an adapter (install mesa-vulkan-drivers)");
    let n = 1000usize;
    let a: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let b: Vec<f32> = (0..n).map(|i| 0.5 * i as f32).collect();
    let (ba, bb, bc) = (
        gpu.create_buffer(4 * n as u64).expect("a"),
        gpu.create_buffer(4 * n as u64).expect("b"),
        gpu.create_buffer(4 * n as u64).expect("c"),
    );
    gpu.write(ba, 0, &bytes(&a)).expect("write a");
    gpu.write(bb, 0, &bytes(&b)).expect("write b");
    let p = gpu.pipeline(ADD, "main").expect("pipeline");
    gpu.dispatch(p, &[ba, bb, bc], [(n as u32).div_ceil(64), 1, 1])
        .expect("dispatch");
    let c = floats(&gpu.read(bc).expect("read"));
    let expected: Vec<f32> = (0..n).map(|i| 2.5 * i as f32).collect();
    assert_eq!(c, expected);
    assert!(!gpu.adapter().is_empty());
}

#[test]
fn mistakes_and_attacks_get_errors() {
    let mut gpu = Gpu::open(GpuLimits::default()).expect("adapter");
    let err = gpu.pipeline("fn main( {", "main").expect_err("bad wgsl");
    assert!(matches!(err, GpuError::Shader(_)), "{err}");
    let err = gpu.pipeline(ADD, "nope").expect_err("no such entry point");
    assert!(matches!(err, GpuError::Shader(_)), "{err}");
    assert!(matches!(
        gpu.create_buffer(100_000_000_000),
        Err(GpuError::Quota { .. })
    ));
    assert!(matches!(gpu.create_buffer(3), Err(GpuError::Invalid(_))));
    let buf = gpu.create_buffer(16).expect("buffer");
    assert!(matches!(
        gpu.write(buf, 8, &[0; 16]),
        Err(GpuError::Invalid(_))
    ));
    let p = gpu.pipeline(ADD, "main").expect("pipeline");
    assert!(matches!(
        gpu.dispatch(p, &[buf, buf, buf], [1_000_000, 1, 1]),
        Err(GpuError::Invalid(_))
    ));
    // Wrong number of bindings, and one buffer bound as both input and output: validation
    // errors, not panics.
    assert!(matches!(
        gpu.dispatch(p, &[buf], [1, 1, 1]),
        Err(GpuError::Invalid(_))
    ));
    assert!(matches!(
        gpu.dispatch(p, &[buf, buf, buf], [1, 1, 1]),
        Err(GpuError::Invalid(_))
    ));
    assert!(matches!(gpu.read(999), Err(GpuError::BadHandle(999))));
    // The device still works after all that.
    let (x, y) = (
        gpu.create_buffer(16).expect("x"),
        gpu.create_buffer(16).expect("y"),
    );
    gpu.dispatch(p, &[buf, x, y], [1, 1, 1])
        .expect("valid dispatch");
}

mod common;
use common::SLOW;

#[test]
fn a_dispatch_past_its_timeout_is_an_error_and_the_gpu_refuses_more_work() {
    let limits = GpuLimits {
        timeout: std::time::Duration::from_millis(200),
        ..GpuLimits::default()
    };
    let mut gpu = Gpu::open(limits).expect("adapter");
    let buf = gpu.create_buffer(4).expect("buffer");
    let p = gpu.pipeline(SLOW, "main").expect("pipeline");
    let started = std::time::Instant::now();
    let err = gpu.dispatch(p, &[buf], [2000, 1, 1]).expect_err("too slow");
    assert!(matches!(err, GpuError::Timeout(_)), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(matches!(gpu.read(buf), Err(GpuError::Timeout(_))));
    assert!(matches!(gpu.create_buffer(4), Err(GpuError::Timeout(_))));
    // Dropping a hung GPU returns at once (its device is leaked, not waited for).
    let dropped = std::time::Instant::now();
    drop(gpu);
    assert!(dropped.elapsed() < std::time::Duration::from_secs(1));
}
