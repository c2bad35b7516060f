//! The finance domain's evaluator. A skill's artifact is a strategy (JSON, [`backtest::Spec`]);
//! this evaluator alone runs it walk-forward over the S&P Composite series that the host
//! mounts for it at `/data/sp500.csv` (skills only see the rows before 1960) and computes the
//! Sharpe ratio: validation 1960-01 … 1999-12 (keep/discard), test 2000-01 … 2023-06
//! (reported beside it), with maximum drawdown, turnover, CAGR and buy-and-hold's Sharpe
//! over the same months for reference.

pub mod backtest;

use hyper_sdk::prelude::*;

pub const MEDIA_TYPE: &str = "application/vnd.hyper.strategy+json";
const MAX_SPEC_BYTES: usize = 64 << 10;

/// `[from, to)` of a split, as `YYYY-MM-DD` strings.
pub fn period(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Validation => ("1960-01-01", "2000-01-01"),
        Split::Test => ("2000-01-01", "2023-07-01"),
    }
}

/// Parses and checks a strategy artifact.
pub fn read_spec(artifact: &Artifact) -> Result<backtest::Spec, Error> {
    if artifact.media_type != MEDIA_TYPE {
        return Err(Error::BadArtifact(format!(
            "media type `{}` is not `{MEDIA_TYPE}`",
            artifact.media_type
        )));
    }
    if artifact.bytes.len() > MAX_SPEC_BYTES {
        return Err(Error::BadArtifact(format!(
            "a strategy of {} bytes is larger than {MAX_SPEC_BYTES}",
            artifact.bytes.len()
        )));
    }
    let spec: backtest::Spec = serde_json::from_slice(&artifact.bytes)
        .map_err(|e| Error::BadArtifact(format!("not a strategy: {e}")))?;
    spec.check().map_err(Error::BadArtifact)?;
    Ok(spec)
}

struct FinanceEvaluator;

impl Evaluator for FinanceEvaluator {
    fn info() -> MetricInfo {
        MetricInfo {
            name: "sharpe".into(),
            direction: Direction::HigherIsBetter,
            description: "annualised Sharpe ratio over cash of a monthly stock/bond strategy run walk-forward on the S&P Composite (validation 1960-1999, test 2000-2023-06), after 10 bp costs per unit traded".into(),
        }
    }

    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        let spec = read_spec(artifact)?;
        let months =
            backtest::parse_csv(&data::read_to_string("sp500.csv")?).map_err(Error::Data)?;
        let (from, to) = period(split);
        let scores =
            backtest::score(&backtest::run(&spec, &months), from, to).map_err(Error::Failed)?;
        let hold = backtest::Spec {
            version: 1,
            momentum_months: 0,
            trend_months: 0,
            cape_low: 0.0,
            cape_high: 0.0,
            sizing: "linear".into(),
            vol_target: 0.0,
            vol_months: 12,
            band: 0.0,
        };
        let reference =
            backtest::score(&backtest::run(&hold, &months), from, to).map_err(Error::Failed)?;
        Ok(vec![
            Metric::new("sharpe", scores.sharpe, Direction::HigherIsBetter),
            Metric::new(
                "max_drawdown",
                scores.max_drawdown,
                Direction::LowerIsBetter,
            ),
            Metric::new("turnover", scores.turnover, Direction::LowerIsBetter),
            Metric::new("cagr", scores.cagr, Direction::HigherIsBetter),
            Metric::new(
                "buy_and_hold_sharpe",
                reference.sharpe,
                Direction::HigherIsBetter,
            ),
            Metric::new("months", scores.months as f64, Direction::HigherIsBetter),
        ])
    }
}

register_evaluator!(FinanceEvaluator);

#[cfg(test)]
mod tests {
    use super::backtest::*;

    fn month(i: usize, price: f64, rate: f64) -> Month {
        Month {
            date: format!("{:04}-{:02}-01", 1900 + i / 12, i % 12 + 1),
            price,
            dividend: 0.0,
            rate,
            cape: None,
        }
    }

    fn hold() -> Spec {
        serde_json::from_str(r#"{"version":1,"sizing":"linear"}"#).expect("spec")
    }

    #[test]
    fn sharpe_drawdown_and_turnover_match_hand_computation() {
        // Prices alternate +10% / -5%, rates flat at 1.2% (cash 0.1% a month), no dividends.
        let mut months = vec![month(0, 100.0, 1.2)];
        for i in 1..=48 {
            let p = months[i - 1].price * if i % 2 == 1 { 1.10 } else { 0.95 };
            months.push(month(i, p, 1.2));
        }
        let steps = run(&hold(), &months);
        let s = score(&steps, "1900-01-01", "1905-01-01").expect("score");
        // Excess returns alternate 0.099 and -0.051: mean 0.024, sample sd 0.075·sqrt(48/47).
        let sd = 0.075 * (48.0f64 / 47.0).sqrt();
        assert!(
            (s.sharpe - 0.024 / sd * 12f64.sqrt()).abs() < 1e-9,
            "{}",
            s.sharpe
        );
        assert!((s.max_drawdown - 0.05).abs() < 1e-9);
        assert_eq!(s.turnover, 0.0);
        assert_eq!(s.months, 48);
        // Wealth after 48 months: (1.1 · 0.95)^24.
        assert!((s.cagr - (1.045f64.powi(24)).powf(12.0 / 48.0) + 1.0).abs() < 1e-9);
    }

    #[test]
    fn weights_never_depend_on_the_month_they_are_for_or_later() {
        let months = parse_csv(include_str!("../../heldout/sp500.csv")).expect("data");
        let spec: Spec = serde_json::from_str(
            r#"{"version":1,"momentum_months":12,"trend_months":10,"cape_low":12,"cape_high":25,"sizing":"linear","vol_target":0.12,"vol_months":12,"band":0.02}"#,
        )
        .expect("spec");
        let before = run(&spec, &months);
        for t in [200usize, 1000, 1500] {
            let mut future = months.clone();
            for m in &mut future[t..] {
                m.price *= 3.0;
                m.rate += 5.0;
                m.cape = Some(99.0);
            }
            let after = run(&spec, &future);
            // Step k is month k + 1; its weight uses months[..=k] only.
            for k in 0..t {
                assert_eq!(
                    before[k].weight, after[k].weight,
                    "month {k} saw the future of {t}"
                );
            }
            assert_ne!(before[t..], after[t..]);
        }
    }

    #[test]
    fn the_real_series_scores_sensibly() {
        let months = parse_csv(include_str!("../../heldout/sp500.csv")).expect("data");
        assert_eq!(months.len(), 1830);
        let steps = run(&hold(), &months);
        let v = score(&steps, "1960-01-01", "2000-01-01").expect("validation");
        let t = score(&steps, "2000-01-01", "2023-07-01").expect("test");
        assert_eq!((v.months, t.months), (480, 282));
        // Buy and hold of US stocks: Sharpe about 0.3-0.6 in both periods.
        assert!((0.2..0.8).contains(&v.sharpe), "{v:?}");
        assert!((0.1..0.8).contains(&t.sharpe), "{t:?}");
        assert!(t.max_drawdown > 0.4, "2000-2009 had a >40% fall: {t:?}");
    }

    #[test]
    fn bad_specs_and_data_are_refused() {
        for (json, why) in [
            (r#"{"version":2,"sizing":"linear"}"#, "version"),
            (r#"{"version":1,"sizing":"all-in"}"#, "sizing"),
            (
                r#"{"version":1,"sizing":"linear","cape_low":30,"cape_high":20}"#,
                "cape_low",
            ),
            (r#"{"version":1,"sizing":"linear","band":0.9}"#, "band"),
            (
                r#"{"version":1,"sizing":"linear","vol_months":1}"#,
                "vol_months",
            ),
        ] {
            let spec: Spec = serde_json::from_str(json).expect("parses");
            assert!(spec.check().expect_err(why).contains(why), "{json}");
        }
        assert!(
            serde_json::from_str::<Spec>(r#"{"version":1,"sizing":"linear","peek":true}"#).is_err()
        );
        assert!(parse_csv("a,b\n1,2").is_err());
        let header = include_str!("../../heldout/sp500.csv")
            .lines()
            .next()
            .expect("header");
        assert!(parse_csv(&format!(
            "{header}\n1871-01-01,4.44,0.26,0.4,12.46,-1,109.05,6.39,9.82,0.0"
        ))
        .is_err());
        assert!(parse_csv(&format!(
            "{header}\n1871-01-01,x,0.26,0.4,12.46,5.32,109.05,6.39,9.82,0.0"
        ))
        .is_err());
    }
}
