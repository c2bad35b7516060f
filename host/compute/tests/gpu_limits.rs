//! What a call holds on the GPU is counted (the staging copy of a read-back, pipelines), and
//! its waits are capped at the time the caller has left. One test binary of its own: the
//! timed-out device leaks, which is counted process-wide.

use std::time::{Duration, Instant};

use hyper_compute::gpu::{Gpu, GpuError, GpuLimits};

mod common;
use common::SLOW;

#[test]
fn a_read_back_counts_its_staging_buffer() {
    let mut gpu = Gpu::open(GpuLimits {
        max_bytes: 1024,
        ..GpuLimits::default()
    })
    .expect("adapter");
    let small = gpu.create_buffer(256).expect("small");
    assert_eq!(gpu.read(small).expect("256 + 256 staging fit").len(), 256);
    let big = gpu.create_buffer(600).expect("600 of 1024");
    let err = gpu
        .read(big)
        .expect_err("600 + 256 + 600 staging do not fit");
    assert!(
        matches!(err, GpuError::Quota { requested: 600, .. }),
        "{err}"
    );
}

#[test]
fn pipelines_are_capped() {
    let mut gpu = Gpu::open(GpuLimits {
        max_pipelines: 2,
        ..GpuLimits::default()
    })
    .expect("adapter");
    let a = gpu.pipeline(SLOW, "main").expect("1");
    gpu.pipeline(SLOW, "main").expect("2");
    let err = gpu.pipeline(SLOW, "main").expect_err("3");
    assert!(matches!(err, GpuError::Limit(_)), "{err}");
    gpu.drop_pipeline(a).expect("drop");
    gpu.pipeline(SLOW, "main").expect("room again");
}

#[test]
fn a_wait_ends_when_the_callers_time_is_up() {
    let mut gpu = Gpu::open(GpuLimits {
        timeout: Duration::from_secs(30),
        ..GpuLimits::default()
    })
    .expect("adapter");
    let buf = gpu.create_buffer(4).expect("buffer");
    let p = gpu.pipeline(SLOW, "main").expect("pipeline");
    gpu.set_time_left(Duration::from_millis(300));
    let started = Instant::now();
    let err = gpu
        .dispatch(p, &[buf], [2000, 1, 1])
        .expect_err("out of time");
    assert!(
        matches!(err, GpuError::Timeout(d) if d == Duration::from_millis(300)),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
