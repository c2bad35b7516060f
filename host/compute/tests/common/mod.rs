//! Shared by the GPU test binaries.

/// Runs for seconds on any adapter when dispatched over 2,000 workgroups (see the module docs).
pub const SLOW: &str = r#"
@group(0) @binding(0) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let slot = id.x % arrayLength(&out);
    var x = out[slot];
    for (var i = 0u; i < 65535u; i++) {
        for (var j = 0u; j < 65535u; j++) {
            x = x * 0.999999 + f32(j & 7u);
        }
    }
    out[slot] = x;
}
"#;
