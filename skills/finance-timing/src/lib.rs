//! The finance domain's official skill. It sees the S&P Composite rows before 1960 at
//! `/data/train.csv`, fits its CAPE and dividend-yield thresholds there (quantiles of the
//! training years' values), and returns a strategy the evaluator runs walk-forward on the
//! later years. It never computes or reports a Sharpe ratio itself.

use hyper_sdk::prelude::*;

struct FinanceTiming;

/// One derived value per training row, sorted, without missing values (0). `value` gets the
/// row's nine numbers after the date: SP500, Dividend, Earnings, CPI, Long rate, Real price,
/// Real dividend, Real earnings, PE10.
fn training_values(csv: &str, value: impl Fn(&[f64]) -> f64) -> Result<Vec<f64>, Error> {
    let mut out = Vec::new();
    for (i, line) in csv.lines().enumerate().skip(1) {
        let fields = line
            .split(',')
            .skip(1)
            .map(|f| f.trim().parse::<f64>())
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|_| Error::Data(format!("train.csv row {}: not all numbers", i + 1)))?;
        if fields.len() != 9 {
            return Err(Error::Data(format!(
                "train.csv row {}: {} numbers, expected 9",
                i + 1,
                fields.len()
            )));
        }
        let v = value(&fields);
        if v.is_finite() && v > 0.0 {
            out.push(v);
        }
    }
    if out.len() < 12 {
        return Err(Error::Data(
            "train.csv has fewer than 12 usable rows".into(),
        ));
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    sorted[i]
}

/// Thresholds at two quantiles (kept apart if they coincide).
fn thresholds(values: &[f64], low_q: f64, high_q: f64) -> (f64, f64) {
    let (lo, hi) = (quantile(values, low_q), quantile(values, high_q));
    if lo < hi {
        (lo, hi)
    } else {
        (lo, lo + 0.01)
    }
}

impl Skill for FinanceTiming {
    fn info() -> SkillInfo {
        let q = |name: &str, what: &str, lo: f64, hi: f64, default: f64| {
            ParamSpec::float(name, what, lo, hi, default)
        };
        SkillInfo::new("finance-timing", "0.1.0", "finance")
            .describe("stock/bond timing from momentum, trend, CAPE and dividend yield")
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
            .param(q(
                "cape_low_q",
                "training-years CAPE quantile at or below which CAPE votes fully for stocks",
                0.05,
                0.5,
                0.3,
            ))
            .param(q(
                "cape_high_q",
                "quantile at or above which CAPE votes for bonds",
                0.5,
                0.95,
                0.8,
            ))
            .param(ParamSpec::flag(
                "dividend_yield",
                "use the dividend yield (a high yield votes for stocks)",
                false,
            ))
            .param(q(
                "dy_low_q",
                "training-years dividend-yield quantile at or below which it votes for bonds",
                0.05,
                0.5,
                0.2,
            ))
            .param(q(
                "dy_high_q",
                "quantile at or above which it votes fully for stocks",
                0.5,
                0.95,
                0.7,
            ))
            .param(ParamSpec::choice(
                "sizing",
                "binary (all in or out) or linear (the signals' average)",
                &["linear", "binary"],
                "linear",
            ))
            .param(q(
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
            .param(q(
                "band",
                "no-trade band: keep last month's weight within this",
                0.0,
                0.2,
                0.05,
            ))
    }

    fn run(experiment: &Experiment) -> Result<Artifact, Error> {
        let p = &experiment.params;
        let csv = data::read_to_string("train.csv")?;
        let (cape_low, cape_high) = if p.flag("cape")? {
            let cape = training_values(&csv, |f| f[8])?;
            thresholds(&cape, p.float("cape_low_q")?, p.float("cape_high_q")?)
        } else {
            (0.0, 0.0)
        };
        let (dy_low, dy_high) = if p.flag("dividend_yield")? {
            let dy = training_values(&csv, |f| 100.0 * f[1] / f[0])?;
            thresholds(&dy, p.float("dy_low_q")?, p.float("dy_high_q")?)
        } else {
            (0.0, 0.0)
        };
        let spec = format!(
            r#"{{"version":1,"momentum_months":{},"trend_months":{},"cape_low":{cape_low},"cape_high":{cape_high},"dy_low":{dy_low},"dy_high":{dy_high},"sizing":"{}","vol_target":{},"vol_months":{},"band":{}}}"#,
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
