//! The tensor store as a skill would drive it: numbers checked by hand, typed errors for bad
//! shapes, handles and quotas, autograd and optimiser steps, determinism.

use hyper_compute::{Binary, Limits, Reduce, TensorError, TensorStore, Unary};

fn store() -> TensorStore {
    TensorStore::new(Limits::default(), 7)
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn ops_compute_what_they_say() {
    let mut s = store();
    let a = s.from_f32(&[1., 2., 3., 4., 5., 6.], &[2, 3]).expect("a");
    let b = s.from_f32(&[1., 0., 0., 1., 1., 1.], &[3, 2]).expect("b");
    let m = s.matmul(a, b).expect("matmul");
    assert_eq!(s.shape(m).expect("shape"), vec![2, 2]);
    close(&s.to_vec(m).expect("v"), &[4., 5., 10., 11.]);
    // Broadcasting: a row added to every row.
    let row = s.from_f32(&[10., 20., 30.], &[3]).expect("row");
    let sum = s.binary(a, row, Binary::Add).expect("add");
    close(&s.to_vec(sum).expect("v"), &[11., 22., 33., 14., 25., 36.]);
    let r = s.reduce(a, 1, Reduce::Sum, false).expect("sum");
    close(&s.to_vec(r).expect("v"), &[6., 15.]);
    let mx = s.reduce(a, 0, Reduce::Max, true).expect("max");
    assert_eq!(s.shape(mx).expect("shape"), vec![1, 3]);
    close(&s.to_vec(mx).expect("v"), &[4., 5., 6.]);
    let sm = s.softmax(a, 1).expect("softmax");
    let v = s.to_vec(sm).expect("v");
    let e = [1f32.exp(), 2f32.exp(), 3f32.exp()];
    let z: f32 = e.iter().sum();
    close(&v[..3], &[e[0] / z, e[1] / z, e[2] / z]);
    let relu_in = s.from_f32(&[-1., 0., 2.], &[3]).expect("x");
    let relu = s.unary(relu_in, Unary::Relu).expect("relu");
    close(&s.to_vec(relu).expect("v"), &[0., 0., 2.]);
    let t = s.transpose(a, 0, 1).expect("t");
    close(&s.to_vec(t).expect("v"), &[1., 4., 2., 5., 3., 6.]);
    let n = s.narrow(a, 1, 1, 2).expect("narrow");
    close(&s.to_vec(n).expect("v"), &[2., 3., 5., 6.]);
    let c = s.cat(&[a, a], 0).expect("cat");
    assert_eq!(s.shape(c).expect("shape"), vec![4, 3]);
    let emb = s.embedding(b, &[2, 0]).expect("embedding");
    close(&s.to_vec(emb).expect("v"), &[1., 1., 1., 0.]);
    // Cross-entropy of uniform logits over 4 classes is ln 4.
    let logits = s.zeros(&[3, 4]).expect("zeros");
    let ce = s.cross_entropy(logits, &[0, 1, 3]).expect("ce");
    assert!((s.scalar(ce).expect("scalar") - 4f32.ln()).abs() < 1e-6);
    // Layer norm of [1, 2, 3] with unit scale and zero shift.
    let x = s.from_f32(&[1., 2., 3.], &[1, 3]).expect("x");
    let w = s.ones(&[3]).expect("w");
    let bias = s.zeros(&[3]).expect("b");
    let ln = s.layer_norm(x, w, bias, 0.0).expect("ln");
    let sd = (2f32 / 3.).sqrt();
    close(&s.to_vec(ln).expect("v"), &[-1. / sd, 0., 1. / sd]);
    let rms = s.rms_norm(x, w, 0.0).expect("rms");
    let r = (14f32 / 3.).sqrt();
    close(&s.to_vec(rms).expect("v"), &[1. / r, 2. / r, 3. / r]);
}

#[test]
fn mistakes_are_typed_errors() {
    let mut s = store();
    let a = s.zeros(&[2, 3]).expect("a");
    let b = s.zeros(&[2, 3]).expect("b");
    assert!(matches!(s.matmul(a, b), Err(TensorError::Shape(_))));
    assert!(matches!(s.reshape(a, &[4, 2]), Err(TensorError::Shape(_))));
    assert!(matches!(
        s.from_f32(&[1., 2., 3.], &[2, 2]),
        Err(TensorError::Shape(_))
    ));
    let c = s.zeros(&[4]).expect("c");
    assert!(matches!(
        s.binary(a, c, Binary::Mul),
        Err(TensorError::Shape(_))
    ));
    assert!(s.narrow(a, 1, 2, 5).is_err());
    assert!(s.reduce(a, 7, Reduce::Sum, false).is_err());
    assert!(matches!(s.embedding(a, &[9]), Err(TensorError::Invalid(_))));
    assert!(matches!(
        s.cross_entropy(a, &[0, 5]),
        Err(TensorError::Invalid(_))
    ));
    assert!(matches!(s.scalar(a), Err(TensorError::Shape(_))));
    s.drop_tensor(b).expect("drop");
    assert_eq!(s.to_vec(b), Err(TensorError::BadHandle(b)));
    assert_eq!(s.drop_tensor(b), Err(TensorError::BadHandle(b)));
    assert!(matches!(s.backward(a), Err(TensorError::Grad(_))));
    assert!(matches!(s.grad(a), Err(TensorError::Grad(_))));
}

#[test]
fn quotas_hold_and_dropping_frees() {
    let mut s = TensorStore::new(
        Limits {
            max_bytes: 4096,
            max_handles: 4,
            ..Limits::default()
        },
        0,
    );
    // A hostile request for a huge tensor is refused before anything is allocated.
    assert!(matches!(
        s.zeros(&[100_000, 100_000, 100]),
        Err(TensorError::MemoryQuota { .. })
    ));
    assert!(matches!(
        s.zeros(&[usize::MAX, 2]),
        Err(TensorError::Shape(_))
    ));
    let a = s.zeros(&[16, 16]).expect("1 KiB");
    let b = s.zeros(&[16, 16]).expect("1 KiB");
    // [16,16] x [16,16] is fine, but a matmul whose result would not fit is refused up front.
    let _ = s.matmul(a, b).expect("fits");
    let big = s.zeros(&[16, 1]).expect("col");
    assert_eq!(s.live_handles(), 4);
    assert!(matches!(s.ones(&[1]), Err(TensorError::HandleQuota(4))));
    s.drop_tensor(big).expect("drop");
    assert!(matches!(
        s.zeros(&[32, 32]),
        Err(TensorError::MemoryQuota { .. })
    ));
    assert_eq!(s.live_bytes(), 3 * 1024);
}

#[test]
fn gradients_and_optimisers_train_a_linear_model() {
    let mut s = store();
    // d/dx sum(x²) = 2x.
    let x = s.from_f32(&[1., -2., 3.], &[3]).expect("x");
    s.variable(x).expect("var");
    let sq = s.unary(x, Unary::Sqr).expect("sqr");
    let loss = s.sum_all(sq).expect("sum");
    s.backward(loss).expect("backward");
    let g = s.grad(x).expect("grad");
    close(&s.to_vec(g).expect("v"), &[2., -4., 6.]);
    // Clipping scales to the requested norm and reports the norm before.
    let norm = s.clip_grad_norm(&[x], 1.0).expect("clip");
    assert!((norm - 56f64.sqrt()).abs() < 1e-5);
    let g = s.grad(x).expect("grad");
    let v = s.to_vec(g).expect("v");
    assert!((v.iter().map(|a| a * a).sum::<f32>().sqrt() - 1.0).abs() < 1e-5);
    // Plain SGD: w ← w − lr·g.
    s.sgd_step(&[x], 0.5, 0.0).expect("sgd");
    let after: Vec<f32> = s.to_vec(x).expect("x");
    close(
        &after,
        &[1. - 0.5 * v[0], -2. - 0.5 * v[1], 3. - 0.5 * v[2]],
    );

    // Fit y = 3a − 2b + 1 with AdamW: the loss falls by orders of magnitude.
    let mut s = store();
    let inputs = s.randn(&[64, 2], 0.0, 1.0).expect("inputs");
    let xs = s.to_vec(inputs).expect("xs");
    let ys: Vec<f32> = xs.chunks(2).map(|p| 3. * p[0] - 2. * p[1] + 1.).collect();
    let target = s.from_f32(&ys, &[64, 1]).expect("target");
    let w = s.randn(&[2, 1], 0.0, 0.1).expect("w");
    let b = s.zeros(&[1]).expect("b");
    s.variable(w).expect("var");
    s.variable(b).expect("var");
    let mut losses = Vec::new();
    for _ in 0..300 {
        let before = s.live_handles();
        let product = s.matmul(inputs, w).expect("matmul");
        let pred = s.binary(product, b, Binary::Add).expect("add");
        let diff = s.binary(pred, target, Binary::Sub).expect("sub");
        let sq = s.unary(diff, Unary::Sqr).expect("sqr");
        let loss = s.mean_all(sq).expect("mean");
        losses.push(s.scalar(loss).expect("loss"));
        s.backward(loss).expect("backward");
        s.adamw_step(&[w, b], 0.05, 0.9, 0.999, 1e-8, 0.0)
            .expect("adamw");
        for h in [product, pred, diff, sq, loss] {
            s.drop_tensor(h).expect("drop");
        }
        // Nothing leaks from step to step.
        assert_eq!(s.live_handles(), before);
    }
    let (first, last) = (losses[0], *losses.last().expect("losses"));
    assert!(last < first / 1000.0, "loss {first} → {last}");
    let wv = s.to_vec(w).expect("w");
    close(
        &wv.iter()
            .map(|x| (x * 100.).round() / 100.)
            .collect::<Vec<_>>(),
        &[3.0, -2.0],
    );
}

#[test]
fn the_same_seed_gives_the_same_bits() {
    let run = |seed| {
        let mut s = TensorStore::new(Limits::default(), seed);
        let a = s.randn(&[8, 8], 0.0, 1.0).expect("a");
        let u = s.rand_uniform(&[5], -1.0, 1.0).expect("u");
        let m = s.matmul(a, a).expect("m");
        (s.to_vec(m).expect("m"), s.to_vec(u).expect("u"))
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    let (_, u) = run(3);
    assert!(u.iter().all(|x| (-1.0..1.0).contains(x)));
}

#[test]
fn peak_memory_counts_broadcast_copies_and_what_graphs_keep_alive() {
    let mut s = TensorStore::new(
        Limits {
            max_bytes: 100 << 20,
            ..Limits::default()
        },
        0,
    );
    // A broadcast matmul whose operands candle would copy to their full batch: refused
    // before anything runs, however small the inputs and the output are.
    let a = s.zeros(&[256, 1, 1, 256]).expect("a");
    let b = s.zeros(&[1, 256, 256, 1]).expect("b");
    let err = s
        .matmul(a, b)
        .expect_err("copies of 64 MiB + 64 MiB > 100 MiB");
    assert!(matches!(err, TensorError::MemoryQuota { .. }), "{err}");
    // A chain of ops on a variable: each result's graph holds its input, so dropping the old
    // handle gives nothing back until no tracked tensor is left.
    let x = s.ones(&[1 << 20]).expect("4 MiB");
    s.variable(x).expect("variable");
    let before = s.live_bytes();
    let mut y = s.unary(x, Unary::Tanh).expect("tanh");
    let mut steps = 0;
    let err = loop {
        match s.unary(y, Unary::Tanh) {
            Ok(next) => {
                s.drop_tensor(y).expect("drop");
                y = next;
                steps += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(matches!(err, TensorError::MemoryQuota { .. }), "{err}");
    assert!(
        (15..30).contains(&steps),
        "refused after {steps} steps of 4 MiB"
    );
    // Once the last tracked tensor goes, the graph is unreachable and is no longer counted.
    s.drop_tensor(y).expect("drop last");
    assert_eq!(s.live_bytes(), before);
}

#[test]
fn one_op_past_the_compute_cap_is_refused_before_it_runs() {
    let mut s = TensorStore::new(
        Limits {
            max_bytes: 4 << 30,
            max_op_work: 1e9,
            max_call_work: 3e9,
            ..Limits::default()
        },
        0,
    );
    let a = s.zeros(&[1024, 1024]).expect("a");
    // 2 · 1024³ ≈ 2.1e9 multiply-adds > 1e9.
    let err = s.matmul(a, a).expect_err("too much work for one op");
    assert!(
        matches!(
            err,
            TensorError::Compute {
                op: "matmul",
                scope: "for one op",
                ..
            }
        ),
        "{err}"
    );
    let small = s.zeros(&[512, 512]).expect("small");
    s.matmul(small, small).expect("2.7e8 fits");
    let mut n = 0;
    let err = loop {
        match s.matmul(small, small) {
            Ok(_) => n += 1,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            err,
            TensorError::Compute {
                scope: "for the whole call",
                ..
            }
        ),
        "{err}"
    );
    assert!(n < 12, "{n}");
}
