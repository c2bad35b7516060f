//! Host bindings of the `hyper:research` WIT package, one module per frozen API version
//! (`wit/since_vX.Y.Z`). A new version adds a module here; the old ones stay so that old
//! skills keep running.

pub mod v0_1_0 {
    mod research_skill {
        wasmtime::component::bindgen!({
            path: "../../wit/since_v0.1.0",
            world: "research-skill",
            imports: { default: trappable },
        });
    }
    mod evaluator {
        wasmtime::component::bindgen!({
            path: "../../wit/since_v0.1.0",
            world: "evaluator",
            imports: { default: trappable },
            with: {
                "hyper:research/types": super::research_skill::hyper::research::types,
                "hyper:research/log": super::research_skill::hyper::research::log,
            },
        });
    }
    mod tool_skill {
        wasmtime::component::bindgen!({
            path: "../../wit/since_v0.1.0",
            world: "tool-skill",
            imports: { default: trappable },
            with: {
                "hyper:research/types": super::research_skill::hyper::research::types,
                "hyper:research/log": super::research_skill::hyper::research::log,
            },
        });
    }

    pub use evaluator::exports::hyper::research::metric::MetricInfo;
    pub use evaluator::{Evaluator, EvaluatorPre};
    pub use research_skill::exports::hyper::research::experiment::SkillInfo;
    pub use research_skill::hyper::research::{log, progress, types};
    pub use research_skill::{ResearchSkill, ResearchSkillPre};
    pub use tool_skill::exports::hyper::research::tool::ToolInfo;
    pub use tool_skill::{ToolSkill, ToolSkillPre};

    /// The package version these bindings implement.
    pub const VERSION: &str = "0.1.0";
}
