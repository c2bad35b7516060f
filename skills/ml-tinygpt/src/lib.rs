//! The ML domain's official skill: trains a small byte-level GPT on `/data/train.txt` through
//! the host's tensors (`hyper:compute/tensor`) and returns the weights as safetensors with the
//! architecture in the metadata. It never reports a loss as a result: the domain's evaluator
//! reloads the weights and measures bits per byte on text this skill cannot read.
//!
//! `train_tokens` is declared like any parameter, but the domain pins it (`[fixed]` in
//! `hyper-domain.toml`) so every experiment trains on the same number of tokens. With the
//! token count fixed, time grows with the model: the ranges keep the largest model here
//! (4 blocks × 128 wide, context 128) within about 8× the default's minute on 2 cores, and
//! the domain's deadline stops anything slower.

use hyper_sdk::prelude::*;
use tinygpt::host::HostTensors;
use tinygpt::{Activation, Config, Model, Norm, Positions, Schedule, TrainConfig};

struct TinyGpt;

fn failed(what: &str) -> impl Fn(String) -> Error + '_ {
    move |e| Error::Failed(format!("{what}: {e}"))
}

fn architecture(p: &Params) -> Result<Config, Error> {
    let number = |name: &str| -> Result<usize, Error> {
        p.choice(name)?
            .parse()
            .map_err(|_| Error::Failed(format!("`{name}` is not a number")))
    };
    let config = Config {
        depth: p.int("depth")? as usize,
        width: number("width")?,
        heads: number("heads")?,
        context: p.int("context")? as usize,
        norm: match p.choice("norm")? {
            "rmsnorm" => Norm::RmsNorm,
            _ => Norm::LayerNorm,
        },
        activation: match p.choice("activation")? {
            "relu" => Activation::Relu,
            "swiglu" => Activation::SwiGlu,
            _ => Activation::Gelu,
        },
        positions: match p.choice("positions")? {
            "rotary" => Positions::Rotary,
            _ => Positions::Learned,
        },
        tied: p.flag("tied")?,
    };
    config.check().map_err(Error::Failed)?;
    Ok(config)
}

fn recipe(p: &Params) -> Result<TrainConfig, Error> {
    Ok(TrainConfig {
        tokens: p.int("train_tokens")? as u64,
        batch: p.int("batch")? as usize,
        lr: p.float("lr")?,
        schedule: match p.choice("schedule")? {
            "constant" => Schedule::Constant,
            "linear" => Schedule::Linear,
            _ => Schedule::Cosine,
        },
        warmup: p.float("warmup")?,
        weight_decay: p.float("weight_decay")?,
        init_scale: p.float("init_scale")?,
        clip: 1.0,
    })
}

impl Skill for TinyGpt {
    fn info() -> SkillInfo {
        SkillInfo::new("ml-tinygpt", "0.1.0", "ml")
            .describe("a small byte-level GPT trained through host tensors")
            .param(ParamSpec::int("depth", "transformer blocks", 1, 4, 2))
            .param(ParamSpec::choice(
                "width",
                "model width",
                &["32", "48", "64", "96", "128"],
                "64",
            ))
            .param(ParamSpec::choice(
                "heads",
                "attention heads (width must split evenly)",
                &["1", "2", "4", "8"],
                "4",
            ))
            .param(ParamSpec::int(
                "context",
                "sequence length in bytes",
                32,
                128,
                64,
            ))
            .param(ParamSpec::log_float(
                "lr",
                "peak learning rate (AdamW)",
                1e-4,
                3e-2,
                3e-3,
            ))
            .param(ParamSpec::choice(
                "schedule",
                "learning-rate decay after warmup",
                &["cosine", "linear", "constant"],
                "cosine",
            ))
            .param(ParamSpec::float(
                "warmup",
                "share of steps warming up",
                0.0,
                0.3,
                0.05,
            ))
            .param(ParamSpec::float(
                "weight_decay",
                "AdamW weight decay",
                0.0,
                0.3,
                0.01,
            ))
            .param(ParamSpec::int("batch", "sequences per step", 8, 32, 16))
            .param(ParamSpec::log_float(
                "init_scale",
                "standard deviation of initial weights",
                0.005,
                0.2,
                0.02,
            ))
            .param(ParamSpec::choice(
                "norm",
                "normalisation",
                &["layernorm", "rmsnorm"],
                "layernorm",
            ))
            .param(ParamSpec::choice(
                "activation",
                "MLP activation",
                &["gelu", "relu", "swiglu"],
                "gelu",
            ))
            .param(ParamSpec::choice(
                "positions",
                "position encoding",
                &["learned", "rotary"],
                "learned",
            ))
            .param(ParamSpec::flag(
                "tied",
                "output head shares the token embedding",
                false,
            ))
            .param(ParamSpec::int(
                "train_tokens",
                "training tokens (fixed by the domain)",
                1_000,
                100_000_000,
                1_000_000,
            ))
    }

    fn run(experiment: &Experiment) -> Result<Artifact, Error> {
        let p = &experiment.params;
        let mut config = architecture(p)?;
        if config.width % config.heads != 0 || config.head_dim() % 2 != 0 {
            // Proposals may pair a narrow width with many heads: use fewer heads rather than
            // fail (the artifact records what was trained).
            config.heads = (1..=config.heads)
                .rev()
                .find(|h| config.width % h == 0 && (config.width / h) % 2 == 0)
                .unwrap_or(1);
        }
        let recipe = recipe(p)?;
        let text = data::read("train.txt")?;
        let mut b = HostTensors;
        let mut model =
            Model::init(&mut b, config, recipe.init_scale as f32).map_err(failed("init"))?;
        let every = (recipe.steps(model.config.context) / 20).max(1);
        let trained = tinygpt::train::train(
            &mut b,
            &mut model,
            &recipe,
            &text,
            experiment.seed,
            |step, total, loss| {
                if step % every == 0 || step == total {
                    progress::report(
                        step as u32,
                        total as u32,
                        &[Metric::new(
                            "train_loss",
                            f64::from(loss),
                            Direction::LowerIsBetter,
                        )],
                    );
                }
            },
        )
        .map_err(failed("training"))?;
        log::info(&format!(
            "trained {} steps, {} tokens, loss {:.3} -> {:.3}, {} parameters on {}",
            trained.steps,
            trained.tokens,
            trained.first_loss,
            trained.last_loss,
            tinygpt::model::parameter_count(&model.config),
            tinygpt::host::device()
        ));
        let bytes = tinygpt::format::save(&mut b, &model).map_err(failed("saving"))?;
        Ok(Artifact::new(tinygpt::MEDIA_TYPE, bytes))
    }
}

register_skill!(TinyGpt);
