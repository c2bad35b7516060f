//! # hyper-sdk: write hyper research skills, evaluators and tools in Rust
//!
//! A skill is a type implementing [`Skill`] plus one [`register_skill!`] line. The host gives
//! it the domain's data read-only under [`DATA_DIR`], a scratch directory under
//! [`SCRATCH_DIR`], seeded randomness and clocks, and nothing else.
//!
//! ```ignore
//! use hyper_sdk::prelude::*;
//!
//! struct Echo;
//!
//! impl Skill for Echo {
//!     fn info() -> SkillInfo {
//!         SkillInfo::new("echo", "0.1.0", "search")
//!             .describe("ranks every document by its id")
//!             .param(ParamSpec::int("depth", "documents per query", 1, 100, 10))
//!     }
//!
//!     fn run(spec: &Experiment) -> Result<Artifact, Error> {
//!         let depth = spec.params.int("depth")?;
//!         log::info(&format!("running {} with depth {depth}", spec.id));
//!         let docs = data::read_to_string("cran.all.1400")?;
//!         Ok(Artifact::new("text/plain", docs.len().to_string().into_bytes()))
//!     }
//! }
//!
//! register_skill!(Echo);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (see sdk/README.md): the output is
//! already a component. Enable the `evaluator` or `tool` feature (and disable the defaults) to
//! write a domain evaluator ([`Evaluator`], [`register_evaluator!`]) or a forge tool ([`Tool`],
//! [`register_tool!`]) instead.

#[cfg(any(
    all(feature = "research", feature = "evaluator"),
    all(feature = "research", feature = "tool"),
    all(feature = "evaluator", feature = "tool")
))]
compile_error!("enable exactly one of the features `research`, `evaluator`, `tool`: a component targets one world");

/// The raw wit-bindgen bindings of the world this build targets.
#[doc(hidden)]
pub mod bindings {
    #[cfg(feature = "research")]
    wit_bindgen::generate!({
        path: "../../wit/since_v0.1.0",
        world: "research-skill",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "hyper_sdk::bindings",
    });
    #[cfg(feature = "evaluator")]
    wit_bindgen::generate!({
        path: "../../wit/since_v0.1.0",
        world: "evaluator",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "hyper_sdk::bindings",
    });
    #[cfg(feature = "tool")]
    wit_bindgen::generate!({
        path: "../../wit/since_v0.1.0",
        world: "tool-skill",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "hyper_sdk::bindings",
    });
}

mod params;
pub use params::{ParamSpec, Params};

pub use bindings::hyper::research::types::{
    Artifact, Direction, Error, Metric, Param, ParamKind, ParamValue, Split,
};

/// Where the host mounts the domain's data, read-only.
pub const DATA_DIR: &str = "/data";
/// A per-experiment directory the skill may write; it is deleted after the experiment.
pub const SCRATCH_DIR: &str = "/scratch";

impl Artifact {
    pub fn new(media_type: impl Into<String>, bytes: Vec<u8>) -> Self {
        Artifact {
            media_type: media_type.into(),
            bytes,
        }
    }
}

impl Metric {
    pub fn new(name: impl Into<String>, value: f64, direction: Direction) -> Self {
        Metric {
            name: name.into(),
            value,
            direction,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Failed(format!("i/o: {e}"))
    }
}

/// Read-only access to the domain data the host granted.
pub mod data {
    use super::{Error, DATA_DIR};

    /// Reads `DATA_DIR/name` as UTF-8 text.
    pub fn read_to_string(name: &str) -> Result<String, Error> {
        let path = format!("{DATA_DIR}/{name}");
        std::fs::read_to_string(&path).map_err(|e| Error::Data(format!("cannot read {path}: {e}")))
    }

    /// Reads `DATA_DIR/name` as bytes.
    pub fn read(name: &str) -> Result<Vec<u8>, Error> {
        let path = format!("{DATA_DIR}/{name}");
        std::fs::read(&path).map_err(|e| Error::Data(format!("cannot read {path}: {e}")))
    }
}

/// Logging through the host (bounded per experiment; the host drops nothing silently: a skill
/// that logs past its quota is stopped).
pub mod log {
    use super::bindings::hyper::research::log::{log, Level};
    pub fn trace(msg: &str) {
        log(Level::Trace, msg)
    }
    pub fn debug(msg: &str) {
        log(Level::Debug, msg)
    }
    pub fn info(msg: &str) {
        log(Level::Info, msg)
    }
    pub fn warn(msg: &str) {
        log(Level::Warn, msg)
    }
    pub fn error(msg: &str) {
        log(Level::Error, msg)
    }
}

#[cfg(feature = "research")]
mod research;
#[cfg(feature = "research")]
pub use research::*;

#[cfg(feature = "evaluator")]
mod evaluator;
#[cfg(feature = "evaluator")]
pub use evaluator::*;

#[cfg(feature = "tool")]
mod tool;
#[cfg(feature = "tool")]
pub use tool::*;

/// Everything a skill usually needs.
pub mod prelude {
    pub use crate::{data, log, Artifact, Direction, Error, Metric, ParamSpec, Params, Split};
    #[cfg(feature = "research")]
    pub use crate::{progress, register_skill, Experiment, Skill, SkillInfo};
    #[cfg(feature = "evaluator")]
    pub use crate::{register_evaluator, Evaluator, MetricInfo};
    #[cfg(feature = "tool")]
    pub use crate::{register_tool, Tool, ToolInfo};
}
