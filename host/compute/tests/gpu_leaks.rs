//! A long-running node that keeps meeting shaders that never finish does not accumulate
//! spinning devices: each timed-out device is counted when it is leaked, and past
//! `MAX_LEAKED_DEVICES` no new device is opened. Its own test binary (the count is
//! process-wide).

use std::time::Duration;

use hyper_compute::gpu::{leaked_devices, Gpu, GpuError, GpuLimits, MAX_LEAKED_DEVICES};

mod common;
use common::SLOW;

#[test]
fn past_the_bound_of_leaked_devices_gpu_work_is_refused() {
    let limits = GpuLimits {
        timeout: Duration::from_millis(100),
        ..GpuLimits::default()
    };
    for i in 0..MAX_LEAKED_DEVICES {
        let mut gpu = Gpu::open(limits).unwrap_or_else(|e| panic!("device {i}: {e}"));
        let buf = gpu.create_buffer(4).expect("buffer");
        let p = gpu.pipeline(SLOW, "main").expect("pipeline");
        assert!(matches!(
            gpu.dispatch(p, &[buf], [2000, 1, 1]),
            Err(GpuError::Timeout(_))
        ));
        drop(gpu);
        assert_eq!(leaked_devices(), i + 1);
    }
    let err = Gpu::open(limits).err().expect("refused");
    assert!(
        matches!(&err, GpuError::Limit(m) if m.contains("still held")),
        "{err}"
    );
}
