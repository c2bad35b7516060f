//! Helpers shared by the integration tests and the benchmark: a runtime, the search domain
//! installed in a temporary home (optionally with a tighter budget), fixture components.

use std::path::{Path, PathBuf};

use hyper_research::{domain, Domain};
use hyper_runtime::{ExperimentSpec, Param, ParamValue, Runtime, RuntimeConfig};

pub use hyper_guests::fixtures;

pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

/// A fixture's bytes. A benchmark binary copied to another machine (the lent GPU machine) finds
/// its components by file name in `$HYPER_FIXTURE_DIR` instead of this checkout's build dir.
pub fn read(path: &str) -> Vec<u8> {
    let moved = std::env::var_os("HYPER_FIXTURE_DIR").and_then(|dir| {
        let name = Path::new(path).file_name()?;
        Some(Path::new(&dir).join(name))
    });
    let path = moved.as_deref().unwrap_or(Path::new(path));
    std::fs::read(path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// Installs the built-in search domain under `home` and returns it.
pub fn search_domain(home: &Path) -> Domain {
    let d = &hyper_guests::SEARCH;
    let dir = domain::install_embedded(home, d.name, d.files).expect("install search domain");
    Domain::load(dir).expect("load search domain")
}

/// The search domain with a different per-experiment deadline and memory budget (so that the
/// hostile tests take seconds, not minutes).
pub fn search_domain_with_budget(home: &Path, experiment_secs: u64, memory_mib: u64) -> Domain {
    let domain = search_domain(home);
    let manifest_path = domain.dir.join(domain::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).expect("manifest");
    let text = text
        .replace(
            "experiment_secs = 60",
            &format!("experiment_secs = {experiment_secs}"),
        )
        .replace("memory_mib = 512", &format!("memory_mib = {memory_mib}"));
    std::fs::write(&manifest_path, text).expect("write manifest");
    Domain::load(&domain.dir).expect("reload domain")
}

/// A skill and an evaluator loaded from fixture paths, and a fresh journal under `home`: what
/// a research loop needs besides its domain.
pub fn loop_parts(
    home: &Path,
    skill: &str,
    evaluator: &str,
) -> (
    hyper_runtime::Skill,
    hyper_runtime::Evaluator,
    hyper_journal::Journal,
) {
    let runtime = runtime();
    let skill = hyper_runtime::Skill::load(&runtime, &read(skill)).expect("skill");
    let evaluator = hyper_runtime::Evaluator::load(&runtime, &read(evaluator)).expect("evaluator");
    let journal = hyper_journal::Journal::open(home.join("journal.db")).expect("journal");
    (skill, evaluator, journal)
}

/// Runs a research loop for `experiments` experiments from `seed` (defaults otherwise),
/// observing nothing.
pub fn run_loop(
    domain: Domain,
    skill: hyper_runtime::Skill,
    evaluator: hyper_runtime::Evaluator,
    journal: &mut hyper_journal::Journal,
    experiments: u32,
    seed: u64,
) -> anyhow::Result<hyper_research::Summary> {
    let options = hyper_research::LoopOptions {
        experiments: Some(experiments),
        seed,
        ..hyper_research::LoopOptions::default()
    };
    run_loop_with(domain, skill, evaluator, journal, &options)
}

/// [`run_loop`] with any loop options (proposer, noise runs ...), events ignored.
pub fn run_loop_with(
    domain: Domain,
    skill: hyper_runtime::Skill,
    evaluator: hyper_runtime::Evaluator,
    journal: &mut hyper_journal::Journal,
    options: &hyper_research::LoopOptions,
) -> anyhow::Result<hyper_research::Summary> {
    hyper_research::ResearchLoop {
        domain,
        skill,
        evaluator,
        journal,
    }
    .run(options, &mut |_| {})
}

pub fn spec(id: &str, seed: u64, params: &[(&str, ParamValue)]) -> ExperimentSpec {
    ExperimentSpec {
        id: id.into(),
        domain: "search".into(),
        params: params
            .iter()
            .map(|(n, v)| Param {
                name: (*n).into(),
                value: v.clone(),
            })
            .collect(),
        seed,
        parent: None,
    }
}

pub fn attack(name: &str) -> ExperimentSpec {
    spec(
        &format!("attack-{name}"),
        1,
        &[("attack", ParamValue::Choice(name.into()))],
    )
}

/// Runs the hostile fixture's attack `name` under `policy` and checks it fails with `kind`
/// and a reason naming each of `words`; returns the reason and how long the call took.
pub fn attack_fails(
    skill: &hyper_runtime::Skill,
    policy: &hyper_runtime::SandboxPolicy,
    name: &str,
    kind: hyper_runtime::FailureKind,
    words: &[&str],
) -> (String, std::time::Duration) {
    let start = std::time::Instant::now();
    let (result, _report) = skill.run(policy, &attack(name), None);
    let took = start.elapsed();
    let failure = match result {
        Ok(artifact) => panic!(
            "attack `{name}` was not stopped: returned {} ({} bytes)",
            artifact.media_type,
            artifact.bytes.len()
        ),
        Err(f) => f,
    };
    assert_eq!(failure.kind, kind, "attack `{name}`: {failure:?}");
    for w in words {
        assert!(
            failure.reason.contains(w),
            "attack `{name}`: reason `{}` should mention `{w}`",
            failure.reason
        );
    }
    (failure.reason, took)
}

pub fn temp_home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("hyper-home");
    (dir, home)
}

/// Installs a built-in domain (`hyper_guests::ML`, `ML_SCITLDR`, …) under `home`, with the
/// listed `[fixed]` values replaced (e.g. a smaller `train_tokens`, so a test trains for
/// seconds).
pub fn embedded_domain(
    home: &Path,
    d: &hyper_guests::EmbeddedDomain,
    fixed: &[(&str, toml::Value)],
) -> Domain {
    let dir = domain::install_embedded(home, d.name, d.files).expect("install domain");
    let mut domain = Domain::load(dir).expect("load domain");
    for (name, value) in fixed {
        domain.manifest.fixed.insert((*name).into(), value.clone());
    }
    domain
}

/// Bits per byte of `heldout` under a unigram model of `train` (add-one smoothing): the
/// baseline a language model must beat.
pub fn unigram_bpb(train: &[u8], heldout: &[u8]) -> f64 {
    let mut counts = [1f64; 256];
    for &b in train {
        counts[b as usize] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    heldout
        .iter()
        .map(|&b| -(counts[b as usize] / total).log2())
        .sum::<f64>()
        / heldout.len() as f64
}

/// The ML domain's reference model run natively on `hyper_compute::TensorStore` (the store
/// the sandbox's `hyper:compute/tensor` calls reach), for the throughput benchmark and to check
/// that a skill computes in the sandbox exactly what it computes natively.
pub mod native {
    use std::cell::RefCell;
    use std::rc::Rc;

    use hyper_compute::{Binary, Handle, Limits, TensorError, TensorStore, Unary};
    use tinygpt::backend::{Act, Backend, Op, Res};
    use tinygpt::{Activation, Config, Norm, Positions, Schedule, TrainConfig};

    /// The architecture `ml-tinygpt` trains with its default parameters.
    pub fn default_config() -> Config {
        Config {
            depth: 2,
            width: 64,
            heads: 4,
            context: 64,
            norm: Norm::LayerNorm,
            activation: Activation::Gelu,
            positions: Positions::Learned,
            tied: false,
        }
    }

    /// `ml-tinygpt`'s default recipe for `tokens` training tokens.
    pub fn default_recipe(tokens: u64) -> TrainConfig {
        TrainConfig {
            tokens,
            batch: 16,
            lr: 3e-3,
            schedule: Schedule::Cosine,
            warmup: 0.05,
            weight_decay: 0.01,
            init_scale: 0.02,
            clip: 1.0,
        }
    }

    /// Trains the reference model natively as `ml-tinygpt` does in the sandbox for an
    /// experiment with `seed`; returns the artifact's bytes and the tokens trained.
    pub fn train(config: Config, recipe: &TrainConfig, text: &[u8], seed: u64) -> (Vec<u8>, u64) {
        let mut b = StoreBackend::new(seed);
        let mut model =
            tinygpt::Model::init(&mut b, config, recipe.init_scale as f32).expect("init");
        let trained = tinygpt::train::train(&mut b, &mut model, recipe, text, seed, |_, _, _| {})
            .expect("train");
        let bytes = tinygpt::format::save(&mut b, &model).expect("save");
        (bytes, trained.tokens)
    }

    pub struct StoreBackend(Rc<RefCell<TensorStore>>);

    /// A handle that frees its tensor when dropped, like a component's resource.
    pub struct StoreTensor {
        h: Handle,
        store: Rc<RefCell<TensorStore>>,
    }

    impl Drop for StoreTensor {
        fn drop(&mut self) {
            let _ = self.store.borrow_mut().drop_tensor(self.h);
        }
    }

    impl StoreBackend {
        /// A store seeded like the sandbox's for a call with `seed`.
        pub fn new(seed: u64) -> Self {
            StoreBackend(Rc::new(RefCell::new(TensorStore::new(
                Limits {
                    max_bytes: 4 << 30,
                    max_handles: 65_536,
                    ..Limits::default()
                },
                seed,
            ))))
        }

        fn wrap(&self, r: std::result::Result<Handle, TensorError>) -> Res<StoreTensor> {
            r.map(|h| StoreTensor {
                h,
                store: self.0.clone(),
            })
            .map_err(|e| e.to_string())
        }

        fn with<X>(
            &self,
            f: impl FnOnce(&mut TensorStore) -> std::result::Result<X, TensorError>,
        ) -> Res<X> {
            f(&mut self.0.borrow_mut()).map_err(|e| e.to_string())
        }

        fn make(
            &self,
            f: impl FnOnce(&mut TensorStore) -> std::result::Result<Handle, TensorError>,
        ) -> Res<StoreTensor> {
            let r = f(&mut self.0.borrow_mut());
            self.wrap(r)
        }
    }

    fn hs(ts: &[&StoreTensor]) -> Vec<Handle> {
        ts.iter().map(|t| t.h).collect()
    }

    impl Backend for StoreBackend {
        type T = StoreTensor;

        fn upload(&mut self, data: &[f32], shape: &[usize]) -> Res<StoreTensor> {
            self.make(|s| s.from_f32(data, shape))
        }
        fn randn(&mut self, shape: &[usize], std: f32) -> Res<StoreTensor> {
            self.make(|s| s.randn(shape, 0.0, std))
        }
        fn zeros(&mut self, shape: &[usize]) -> Res<StoreTensor> {
            self.make(|s| s.zeros(shape))
        }
        fn ones(&mut self, shape: &[usize]) -> Res<StoreTensor> {
            self.make(|s| s.ones(shape))
        }
        fn shape(&mut self, x: &StoreTensor) -> Res<Vec<usize>> {
            self.with(|s| s.shape(x.h))
        }
        fn to_vec(&mut self, x: &StoreTensor) -> Res<Vec<f32>> {
            self.with(|s| s.to_vec(x.h))
        }
        fn scalar(&mut self, x: &StoreTensor) -> Res<f32> {
            self.with(|s| s.scalar(x.h))
        }
        fn binary(&mut self, a: &StoreTensor, b: &StoreTensor, op: Op) -> Res<StoreTensor> {
            let op = match op {
                Op::Add => Binary::Add,
                Op::Sub => Binary::Sub,
                Op::Mul => Binary::Mul,
            };
            self.make(|s| s.binary(a.h, b.h, op))
        }
        fn affine(&mut self, x: &StoreTensor, mul: f64, add: f64) -> Res<StoreTensor> {
            self.make(|s| s.affine(x.h, mul, add))
        }
        fn act(&mut self, x: &StoreTensor, act: Act) -> Res<StoreTensor> {
            let op = match act {
                Act::Gelu => Unary::Gelu,
                Act::Relu => Unary::Relu,
                Act::Silu => Unary::Silu,
            };
            self.make(|s| s.unary(x.h, op))
        }
        fn softmax(&mut self, x: &StoreTensor, dim: usize) -> Res<StoreTensor> {
            self.make(|s| s.softmax(x.h, dim))
        }
        fn matmul(&mut self, a: &StoreTensor, b: &StoreTensor) -> Res<StoreTensor> {
            self.make(|s| s.matmul(a.h, b.h))
        }
        fn reshape(&mut self, x: &StoreTensor, shape: &[usize]) -> Res<StoreTensor> {
            self.make(|s| s.reshape(x.h, shape))
        }
        fn transpose(&mut self, x: &StoreTensor, d1: usize, d2: usize) -> Res<StoreTensor> {
            self.make(|s| s.transpose(x.h, d1, d2))
        }
        fn narrow(
            &mut self,
            x: &StoreTensor,
            dim: usize,
            start: usize,
            len: usize,
        ) -> Res<StoreTensor> {
            self.make(|s| s.narrow(x.h, dim, start, len))
        }
        fn cat(&mut self, parts: &[&StoreTensor], dim: usize) -> Res<StoreTensor> {
            self.make(|s| s.cat(&hs(parts), dim))
        }
        fn embedding(&mut self, table: &StoreTensor, ids: &[u32]) -> Res<StoreTensor> {
            self.make(|s| s.embedding(table.h, ids))
        }
        fn layer_norm(
            &mut self,
            x: &StoreTensor,
            w: &StoreTensor,
            b: &StoreTensor,
            eps: f64,
        ) -> Res<StoreTensor> {
            self.make(|s| s.layer_norm(x.h, w.h, b.h, eps))
        }
        fn rms_norm(&mut self, x: &StoreTensor, w: &StoreTensor, eps: f64) -> Res<StoreTensor> {
            self.make(|s| s.rms_norm(x.h, w.h, eps))
        }
        fn cross_entropy(&mut self, logits: &StoreTensor, targets: &[u32]) -> Res<StoreTensor> {
            self.make(|s| s.cross_entropy(logits.h, targets))
        }
        fn make_variable(&mut self, x: &StoreTensor) -> Res<()> {
            self.with(|s| s.variable(x.h))
        }
        fn backward(&mut self, loss: &StoreTensor) -> Res<()> {
            self.with(|s| s.backward(loss.h))
        }
        fn clip_grad_norm(&mut self, vars: &[&StoreTensor], max_norm: f64) -> Res<f64> {
            self.with(|s| s.clip_grad_norm(&hs(vars), max_norm))
        }
        fn adamw_step(
            &mut self,
            vars: &[&StoreTensor],
            lr: f64,
            beta1: f64,
            beta2: f64,
            eps: f64,
            weight_decay: f64,
        ) -> Res<()> {
            self.with(|s| s.adamw_step(&hs(vars), lr, beta1, beta2, eps, weight_decay))
        }
    }
}

#[path = "fuzz_targets.rs"]
pub mod fuzz_targets;

#[path = "swarm_harness.rs"]
pub mod swarm_harness;

#[path = "flags.rs"]
pub mod flags;
