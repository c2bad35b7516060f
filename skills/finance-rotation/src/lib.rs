//! The `finance-industries` domain's official skill: an industry-rotation strategy is all
//! parameters, so the skill turns its parameters into the strategy the evaluator runs
//! walk-forward on the industry returns only it can read.

use hyper_sdk::prelude::*;

struct FinanceRotation;

impl Skill for FinanceRotation {
    fn info() -> SkillInfo {
        SkillInfo::new("finance-rotation", "0.1.0", "finance-industries")
            .describe("hold the top industries by trailing return")
            .param(ParamSpec::int(
                "lookback",
                "months of trailing return that rank industries",
                1,
                24,
                12,
            ))
            .param(ParamSpec::int(
                "skip",
                "most recent months left out of the ranking",
                0,
                2,
                1,
            ))
            .param(ParamSpec::int("top", "industries held", 1, 6, 3))
            .param(ParamSpec::choice(
                "weighting",
                "equal, or inverse trailing volatility",
                &["equal", "inverse_vol"],
                "equal",
            ))
            .param(ParamSpec::int(
                "vol_months",
                "months of volatility for inverse_vol",
                3,
                24,
                12,
            ))
    }

    fn run(experiment: &Experiment) -> Result<Artifact, Error> {
        let p = &experiment.params;
        let spec = format!(
            r#"{{"version":1,"rotation":{{"lookback":{},"skip":{},"top":{},"weighting":"{}","vol_months":{}}}}}"#,
            p.int("lookback")?,
            p.int("skip")?,
            p.int("top")?,
            p.choice("weighting")?,
            p.int("vol_months")?,
        );
        Ok(Artifact::new(
            "application/vnd.hyper.strategy+json",
            spec.into_bytes(),
        ))
    }
}

register_skill!(FinanceRotation);
