//! The GPT itself: parameter names, shapes and initialisation, the forward pass for every
//! variant, and bits per byte.
//!
//! Layout: token embedding [256, width] (+ learned positions [context, width]); `depth`
//! pre-norm blocks of causal multi-head attention (no biases) and an MLP, each added to the
//! residual stream; a final norm; an output head [width, 256] or the tied embedding. Linear
//! weights are stored [in, out] (`x · W`).

use std::collections::{BTreeMap, HashMap};

use crate::backend::{Act, Backend, Op, Res};
use crate::config::{Activation, Config, Norm, Positions};
use crate::VOCAB;

/// How a parameter starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Normal(f32),
    Ones,
    Zeros,
}

/// Every parameter of `config`: name, shape and initialisation (for `init_scale`).
pub fn parameters(config: &Config, init_scale: f32) -> Vec<(String, Vec<usize>, Init)> {
    let (d, h) = (config.width, config.hidden());
    let residual = Init::Normal(init_scale / (2.0 * config.depth as f32).sqrt());
    let normal = Init::Normal(init_scale);
    let mut out = vec![("tok_emb".to_string(), vec![VOCAB, d], normal)];
    if config.positions == Positions::Learned {
        out.push(("pos_emb".into(), vec![config.context, d], normal));
    }
    let norm = |out: &mut Vec<(String, Vec<usize>, Init)>, prefix: String| {
        out.push((format!("{prefix}.weight"), vec![d], Init::Ones));
        if config.norm == Norm::LayerNorm {
            out.push((format!("{prefix}.bias"), vec![d], Init::Zeros));
        }
    };
    for i in 0..config.depth {
        let p = format!("blocks.{i}");
        norm(&mut out, format!("{p}.norm1"));
        for w in ["wq", "wk", "wv"] {
            out.push((format!("{p}.attn.{w}"), vec![d, d], normal));
        }
        out.push((format!("{p}.attn.wo"), vec![d, d], residual));
        norm(&mut out, format!("{p}.norm2"));
        out.push((format!("{p}.mlp.w1"), vec![d, h], normal));
        if config.activation == Activation::SwiGlu {
            out.push((format!("{p}.mlp.w3"), vec![d, h], normal));
        }
        out.push((format!("{p}.mlp.w2"), vec![h, d], residual));
    }
    norm(&mut out, "norm_f".into());
    if !config.tied {
        out.push(("head".into(), vec![d, VOCAB], normal));
    }
    out
}

/// Number of scalar parameters.
pub fn parameter_count(config: &Config) -> usize {
    parameters(config, 0.0)
        .iter()
        .map(|(_, s, _)| s.iter().product::<usize>())
        .sum()
}

/// Constants of one sequence length: the causal mask and the rotary tables.
struct Consts<T> {
    mask: T,
    rotary: Option<(T, T)>,
}

pub struct Model<T> {
    pub config: Config,
    /// By name, in the order of [`parameters`] sorted by name.
    pub params: BTreeMap<String, T>,
    consts: HashMap<usize, Consts<T>>,
}

const NORM_EPS: f64 = 1e-5;

impl<T> Model<T> {
    /// Fresh weights drawn from the backend's seeded generator.
    pub fn init<B: Backend<T = T>>(b: &mut B, config: Config, init_scale: f32) -> Res<Self> {
        config.check()?;
        let mut params = BTreeMap::new();
        for (name, shape, init) in parameters(&config, init_scale) {
            let t = match init {
                Init::Normal(std) => b.randn(&shape, std)?,
                Init::Ones => b.ones(&shape)?,
                Init::Zeros => b.zeros(&shape)?,
            };
            params.insert(name, t);
        }
        Ok(Model::from_params(config, params))
    }

    pub fn from_params(config: Config, params: BTreeMap<String, T>) -> Self {
        Model {
            config,
            params,
            consts: HashMap::new(),
        }
    }

    fn p(&self, name: &str) -> Res<&T> {
        self.params
            .get(name)
            .ok_or_else(|| format!("the model has no parameter `{name}`"))
    }

    /// Every parameter, for the optimiser.
    pub fn variables(&self) -> Vec<&T> {
        self.params.values().collect()
    }

    fn consts<B: Backend<T = T>>(&mut self, b: &mut B, t: usize) -> Res<&Consts<T>> {
        if !self.consts.contains_key(&t) {
            let mut mask = vec![0f32; t * t];
            for i in 0..t {
                for j in i + 1..t {
                    mask[i * t + j] = -1e9;
                }
            }
            let rotary = if self.config.positions == Positions::Rotary {
                let half = self.config.head_dim() / 2;
                let (mut cos, mut sin) =
                    (Vec::with_capacity(t * half), Vec::with_capacity(t * half));
                for pos in 0..t {
                    for i in 0..half {
                        let freq = 10_000f64.powf(-(i as f64) / half as f64);
                        let angle = pos as f64 * freq;
                        cos.push(angle.cos() as f32);
                        sin.push(angle.sin() as f32);
                    }
                }
                Some((b.upload(&cos, &[t, half])?, b.upload(&sin, &[t, half])?))
            } else {
                None
            };
            let consts = Consts {
                mask: b.upload(&mask, &[t, t])?,
                rotary,
            };
            self.consts.insert(t, consts);
        }
        self.consts
            .get(&t)
            .ok_or_else(|| "constants vanished".to_string())
    }

    fn norm<B: Backend<T = T>>(&self, b: &mut B, x: &T, prefix: &str) -> Res<T> {
        let w = self.p(&format!("{prefix}.weight"))?;
        match self.config.norm {
            Norm::LayerNorm => b.layer_norm(x, w, self.p(&format!("{prefix}.bias"))?, NORM_EPS),
            Norm::RmsNorm => b.rms_norm(x, w, NORM_EPS),
        }
    }

    /// Rotates the two halves of each head's vector [.., t, head_dim] by position.
    fn rope<B: Backend<T = T>>(b: &mut B, x: &T, cos: &T, sin: &T, half: usize) -> Res<T> {
        let x1 = b.narrow(x, 3, 0, half)?;
        let x2 = b.narrow(x, 3, half, half)?;
        let a = b.binary(&x1, cos, Op::Mul)?;
        let c = b.binary(&x2, sin, Op::Mul)?;
        let first = b.binary(&a, &c, Op::Sub)?;
        let a = b.binary(&x1, sin, Op::Mul)?;
        let c = b.binary(&x2, cos, Op::Mul)?;
        let second = b.binary(&a, &c, Op::Add)?;
        b.cat(&[&first, &second], 3)
    }

    /// [batch·t, width] → [batch, heads, t, head_dim].
    fn split_heads<B: Backend<T = T>>(&self, b: &mut B, x: &T, batch: usize, t: usize) -> Res<T> {
        let (h, hd) = (self.config.heads, self.config.head_dim());
        let x = b.reshape(x, &[batch, t, h, hd])?;
        b.transpose(&x, 1, 2)
    }

    /// Logits [batch·t, 256] for `ids` (batch rows of t bytes, row-major).
    pub fn logits<B: Backend<T = T>>(
        &mut self,
        b: &mut B,
        ids: &[u32],
        batch: usize,
        t: usize,
    ) -> Res<T> {
        let config = self.config.clone();
        if t == 0 || t > config.context || ids.len() != batch * t {
            return Err(format!(
                "{} ids are not {batch} rows of 1..={} tokens",
                ids.len(),
                config.context
            ));
        }
        let (d, hd) = (config.width, config.head_dim());
        self.consts(b, t)?;
        let consts = self.consts.get(&t).ok_or("constants vanished")?;
        let mut x = b.embedding(self.p("tok_emb")?, ids)?;
        if config.positions == Positions::Learned {
            let pos = b.narrow(self.p("pos_emb")?, 0, 0, t)?;
            let x3 = b.reshape(&x, &[batch, t, d])?;
            let x3 = b.binary(&x3, &pos, Op::Add)?;
            x = b.reshape(&x3, &[batch * t, d])?;
        }
        for i in 0..config.depth {
            let p = format!("blocks.{i}");
            let a = self.norm(b, &x, &format!("{p}.norm1"))?;
            let q = b.matmul(&a, self.p(&format!("{p}.attn.wq"))?)?;
            let k = b.matmul(&a, self.p(&format!("{p}.attn.wk"))?)?;
            let v = b.matmul(&a, self.p(&format!("{p}.attn.wv"))?)?;
            let mut q = self.split_heads(b, &q, batch, t)?;
            let mut k = self.split_heads(b, &k, batch, t)?;
            let v = self.split_heads(b, &v, batch, t)?;
            if let Some((cos, sin)) = &consts.rotary {
                q = Self::rope(b, &q, cos, sin, hd / 2)?;
                k = Self::rope(b, &k, cos, sin, hd / 2)?;
            }
            let kt = b.transpose(&k, 2, 3)?;
            let scores = b.matmul(&q, &kt)?;
            let scores = b.affine(&scores, 1.0 / (hd as f64).sqrt(), 0.0)?;
            let scores = b.binary(&scores, &consts.mask, Op::Add)?;
            let weights = b.softmax(&scores, 3)?;
            let y = b.matmul(&weights, &v)?;
            let y = b.transpose(&y, 1, 2)?;
            let y = b.reshape(&y, &[batch * t, d])?;
            let y = b.matmul(&y, self.p(&format!("{p}.attn.wo"))?)?;
            x = b.binary(&x, &y, Op::Add)?;

            let m = self.norm(b, &x, &format!("{p}.norm2"))?;
            let up = b.matmul(&m, self.p(&format!("{p}.mlp.w1"))?)?;
            let hidden = match config.activation {
                Activation::Gelu => b.act(&up, Act::Gelu)?,
                Activation::Relu => b.act(&up, Act::Relu)?,
                Activation::SwiGlu => {
                    let gate = b.act(&up, Act::Silu)?;
                    let lin = b.matmul(&m, self.p(&format!("{p}.mlp.w3"))?)?;
                    b.binary(&gate, &lin, Op::Mul)?
                }
            };
            let down = b.matmul(&hidden, self.p(&format!("{p}.mlp.w2"))?)?;
            x = b.binary(&x, &down, Op::Add)?;
        }
        let x = self.norm(b, &x, "norm_f")?;
        if config.tied {
            let head = b.transpose(self.p("tok_emb")?, 0, 1)?;
            b.matmul(&x, &head)
        } else {
            b.matmul(&x, self.p("head")?)
        }
    }

    /// Mean cross-entropy (nats) of predicting each next byte of `windows` (batch rows of
    /// t + 1 bytes).
    pub fn loss<B: Backend<T = T>>(
        &mut self,
        b: &mut B,
        windows: &[u8],
        batch: usize,
        t: usize,
    ) -> Res<T> {
        let (ids, targets) = inputs_and_targets(windows, batch, t)?;
        let logits = self.logits(b, &ids, batch, t)?;
        b.cross_entropy(&logits, &targets)
    }

    /// Bits per byte of predicting `text` after its first byte: the text is cut into
    /// non-overlapping windows of `context + 1` bytes (consecutive windows share one byte),
    /// each predicted from its own start, `batch` windows at a time.
    pub fn bits_per_byte<B: Backend<T = T>>(
        &mut self,
        b: &mut B,
        text: &[u8],
        batch: usize,
    ) -> Res<f64> {
        let ctx = self.config.context;
        if text.len() < 2 {
            return Err("text too short to score".into());
        }
        let starts: Vec<usize> = (0..text.len() - 1).step_by(ctx).collect();
        let (full, partial): (Vec<usize>, Vec<usize>) =
            starts.into_iter().partition(|&s| s + ctx < text.len());
        let mut nats = 0f64;
        let mut predicted = 0usize;
        for chunk in full.chunks(batch.max(1)) {
            let windows: Vec<u8> = chunk
                .iter()
                .flat_map(|&s| text[s..s + ctx + 1].iter().copied())
                .collect();
            let loss = self.loss(b, &windows, chunk.len(), ctx)?;
            let n = chunk.len() * ctx;
            nats += f64::from(b.scalar(&loss)?) * n as f64;
            predicted += n;
        }
        for s in partial {
            let t = text.len() - 1 - s;
            let loss = self.loss(b, &text[s..], 1, t)?;
            nats += f64::from(b.scalar(&loss)?) * t as f64;
            predicted += t;
        }
        if !nats.is_finite() {
            return Err("the model's loss is not finite".into());
        }
        Ok(nats / std::f64::consts::LN_2 / predicted as f64)
    }
}

/// Splits batch rows of t + 1 bytes into model inputs and next-byte targets.
pub fn inputs_and_targets(windows: &[u8], batch: usize, t: usize) -> Res<(Vec<u32>, Vec<u32>)> {
    if windows.len() != batch * (t + 1) {
        return Err(format!(
            "{} bytes are not {batch} windows of {}",
            windows.len(),
            t + 1
        ));
    }
    let mut ids = Vec::with_capacity(batch * t);
    let mut targets = Vec::with_capacity(batch * t);
    for row in windows.chunks(t + 1) {
        ids.extend(row[..t].iter().map(|&c| u32::from(c)));
        targets.extend(row[1..].iter().map(|&c| u32::from(c)));
    }
    Ok((ids, targets))
}
