//! The finance domain's official skill. It sees the S&P Composite rows before 1960 at
//! `/data/train.csv`, fits its CAPE thresholds there (quantiles of the training years' CAPE),
//! and returns a strategy the evaluator runs walk-forward on the later years. It never
//! computes or reports a Sharpe ratio itself.

use hyper_sdk::prelude::*;

struct FinanceTiming;

/// CAPE values of the training rows (column 10; 0 means missing).
fn training_cape(csv: &str) -> Result<Vec<f64>, Error> {
    let mut out = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        let field = line
            .split(',')
            .nth(9)
            .ok_or_else(|| Error::Data(format!("train.csv row {}: no PE10 column", i + 1)))?;
        let v: f64 = field.trim().parse().map_err(|_| {
            Error::Data(format!(
                "train.csv row {}: PE10 `{field}` is not a number",
                i + 1
            ))
        })?;
        if v > 0.0 {
            out.push(v);
        }
    }
    if out.len() < 12 {
        return Err(Error::Data(
            "train.csv has fewer than 12 CAPE values".into(),
        ));
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted[i]
}

impl Skill for FinanceTiming {
    fn info() -> SkillInfo {
        SkillInfo::new("finance-timing", "0.1.0", "finance")
            .describe("stock/bond timing from momentum, trend and CAPE")
            .param(ParamSpec::int(
                "momentum_months",
                "stocks when the price rose over this many months (0: off)",
                0,
                24,
                12,
            ))
            .param(ParamSpec::int(
                "trend_months",
                "stocks when the price is above its moving average (0: off)",
                0,
                24,
                10,
            ))
            .param(ParamSpec::flag("cape", "use CAPE valuation", true))
            .param(ParamSpec::float(
                "cape_low_q",
                "training-years CAPE quantile at or below which CAPE votes fully for stocks",
                0.05,
                0.5,
                0.3,
            ))
            .param(ParamSpec::float(
                "cape_high_q",
                "quantile at or above which CAPE votes for bonds",
                0.5,
                0.95,
                0.8,
            ))
            .param(ParamSpec::choice(
                "sizing",
                "binary (all in or out) or linear (the signals' average)",
                &["linear", "binary"],
                "linear",
            ))
            .param(ParamSpec::float(
                "vol_target",
                "annualised volatility to scale stocks down to (0: off)",
                0.0,
                0.3,
                0.0,
            ))
            .param(ParamSpec::int(
                "vol_months",
                "months of realised volatility",
                3,
                24,
                12,
            ))
            .param(ParamSpec::float(
                "band",
                "no-trade band: keep last month's weight within this",
                0.0,
                0.2,
                0.05,
            ))
    }

    fn run(experiment: &Experiment) -> Result<Artifact, Error> {
        let p = &experiment.params;
        let (cape_low, cape_high) = if p.flag("cape")? {
            let cape = training_cape(&data::read_to_string("train.csv")?)?;
            let (lo, hi) = (
                quantile(&cape, p.float("cape_low_q")?),
                quantile(&cape, p.float("cape_high_q")?),
            );
            if lo < hi {
                (lo, hi)
            } else {
                (lo, lo + 1.0)
            }
        } else {
            (0.0, 0.0)
        };
        let spec = format!(
            r#"{{"version":1,"momentum_months":{},"trend_months":{},"cape_low":{cape_low},"cape_high":{cape_high},"sizing":"{}","vol_target":{},"vol_months":{},"band":{}}}"#,
            p.int("momentum_months")?,
            p.int("trend_months")?,
            p.choice("sizing")?,
            p.float("vol_target")?,
            p.int("vol_months")?,
            p.float("band")?,
        );
        Ok(Artifact::new(
            "application/vnd.hyper.strategy+json",
            spec.into_bytes(),
        ))
    }
}

register_skill!(FinanceTiming);
