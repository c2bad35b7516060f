//! The finance domain's evaluator. A skill's artifact is a strategy (JSON); this evaluator
//! alone runs it walk-forward over the data the host mounts for it at `/data` and computes the
//! Sharpe ratio over cash: validation 1960-01 … 1999-12 (keep/discard), test 2000-01 to the end
//! of the data (reported beside it), with maximum drawdown, turnover, CAGR and a passive
//! reference's Sharpe over the same months.
//!
//! Two kinds of strategy, one per kind of data:
//! - stock/bond timing ([`backtest::Spec`]) on Shiller's S&P series (`/data/sp500.csv`, the
//!   `finance` domain; skills see the rows before 1960); reference: buy and hold;
//! - industry rotation (`{"version": 1, "rotation": {…}}`, [`french::Rotation`]) on Kenneth
//!   French's industry portfolios and factors in their published layout (the
//!   `finance-industries` domain, data supplied by the user); reference: all industries,
//!   equally weighted.

pub mod backtest;
pub mod french;

use hyper_sdk::prelude::*;
use serde::Deserialize;

pub const MEDIA_TYPE: &str = "application/vnd.hyper.strategy+json";
const MAX_SPEC_BYTES: usize = 64 << 10;
/// The factors file a rotation needs beside an industry file.
pub const FACTORS_FILE: &str = "F-F_Research_Data_Factors.CSV";

/// `[from, to)` of a split, as `YYYY-MM-DD` strings (the test split runs to the data's end).
pub fn period(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Validation => ("1960-01-01", "2000-01-01"),
        Split::Test => ("2000-01-01", "9999-12-31"),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotationSpec {
    version: u32,
    rotation: french::Rotation,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    Timing(backtest::Spec),
    Rotation(french::Rotation),
}

/// Parses and checks a strategy artifact.
pub fn read_strategy(artifact: &Artifact) -> Result<Strategy, Error> {
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
    let bad = |e: serde_json::Error| Error::BadArtifact(format!("not a strategy: {e}"));
    let value: serde_json::Value = serde_json::from_slice(&artifact.bytes).map_err(bad)?;
    if value.get("rotation").is_some() {
        let spec: RotationSpec = serde_json::from_value(value).map_err(bad)?;
        if spec.version != 1 {
            return Err(Error::BadArtifact(format!(
                "strategy version {} (this evaluator reads 1)",
                spec.version
            )));
        }
        Ok(Strategy::Rotation(spec.rotation))
    } else {
        let spec: backtest::Spec = serde_json::from_value(value).map_err(bad)?;
        spec.check().map_err(Error::BadArtifact)?;
        Ok(Strategy::Timing(spec))
    }
}

/// The one industry-portfolio file in `/data`.
fn industry_file() -> Result<String, Error> {
    let entries =
        std::fs::read_dir("/data").map_err(|e| Error::Data(format!("cannot list /data: {e}")))?;
    let mut found: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("Industry_Portfolios") && n.to_lowercase().ends_with(".csv"))
        .collect();
    found.sort();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Data("a rotation strategy needs an industry-portfolio file (e.g. 12_Industry_Portfolios.CSV) in this domain's data; this domain has none".into())),
        _ => Err(Error::Data(format!("more than one industry file in the data ({}): keep one", found.join(", ")))),
    }
}

fn steps(strategy: &Strategy) -> Result<(Vec<backtest::Step>, Vec<backtest::Step>), Error> {
    match strategy {
        Strategy::Timing(spec) => {
            let text = data::read_to_string("sp500.csv").map_err(|_| {
                Error::Data("a timing strategy needs the S&P series (sp500.csv); this domain's data has none".into())
            })?;
            let months = backtest::parse_csv(&text).map_err(Error::Data)?;
            let hold = backtest::Spec {
                version: 1,
                momentum_months: 0,
                trend_months: 0,
                cape_low: 0.0,
                cape_high: 0.0,
                dy_low: 0.0,
                dy_high: 0.0,
                sizing: "linear".into(),
                vol_target: 0.0,
                vol_months: 12,
                band: 0.0,
            };
            Ok((backtest::run(spec, &months), backtest::run(&hold, &months)))
        }
        Strategy::Rotation(spec) => {
            let name = industry_file()?;
            let industries = french::parse_first_table(&data::read_to_string(&name)?)
                .map_err(|e| Error::Data(format!("{name}: {e}")))?;
            let factors = french::parse_first_table(&data::read_to_string(FACTORS_FILE)?)
                .map_err(|e| Error::Data(format!("{FACTORS_FILE}: {e}")))?;
            spec.check(industries.columns.len())
                .map_err(Error::BadArtifact)?;
            let all = french::Rotation {
                lookback: 1,
                skip: 0,
                top: industries.columns.len() as u32,
                weighting: "equal".into(),
                vol_months: 12,
            };
            let run = |s: &french::Rotation| {
                french::run_rotation(s, &industries, &factors).map_err(Error::Failed)
            };
            Ok((run(spec)?, run(&all)?))
        }
    }
}

struct FinanceEvaluator;

impl Evaluator for FinanceEvaluator {
    fn info() -> MetricInfo {
        MetricInfo {
            name: "sharpe".into(),
            direction: Direction::HigherIsBetter,
            description: "annualised Sharpe ratio over cash of a monthly strategy run walk-forward (validation 1960-1999, test 2000 to the data's end), after 10 bp costs per unit traded".into(),
        }
    }

    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        let strategy = read_strategy(artifact)?;
        let (run, reference) = steps(&strategy)?;
        let (from, to) = period(split);
        let scores = backtest::score(&run, from, to).map_err(Error::Failed)?;
        let passive = backtest::score(&reference, from, to).map_err(Error::Failed)?;
        Ok(vec![
            Metric::new("sharpe", scores.sharpe, Direction::HigherIsBetter),
            Metric::new(
                "max_drawdown",
                scores.max_drawdown,
                Direction::LowerIsBetter,
            ),
            Metric::new("turnover", scores.turnover, Direction::LowerIsBetter),
            Metric::new("cagr", scores.cagr, Direction::HigherIsBetter),
            Metric::new("passive_sharpe", passive.sharpe, Direction::HigherIsBetter),
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
            r#"{"version":1,"momentum_months":12,"trend_months":10,"cape_low":12,"cape_high":25,"dy_low":2,"dy_high":6,"sizing":"linear","vol_target":0.12,"vol_months":12,"band":0.02}"#,
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

    /// Kenneth French's files are not shipped (no open license): tests read them from the
    /// shared data folder beside the checkout (`$HYPER_SHARED_DATA` overrides).
    fn french(name: &str) -> String {
        let candidates = [
            std::env::var("HYPER_SHARED_DATA").unwrap_or_default(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../../../shared/data").to_string(),
            "/work/shared/data".to_string(),
        ];
        for dir in candidates.iter().filter(|d| !d.is_empty()) {
            let path = std::path::Path::new(dir)
                .join("french-data-library")
                .join(name);
            if let Ok(text) = std::fs::read_to_string(&path) {
                return text;
            }
        }
        panic!("{name} not found under {candidates:?}: set HYPER_SHARED_DATA to the folder holding french-data-library/")
    }

    #[test]
    fn french_tables_parse_and_rotation_is_walk_forward() {
        use crate::french::*;
        let industries =
            parse_first_table(&french("12_Industry_Portfolios.CSV")).expect("industries");
        let factors = parse_first_table(&french("F-F_Research_Data_Factors.CSV")).expect("factors");
        assert_eq!(industries.columns.len(), 12);
        assert_eq!(industries.columns[0], "NoDur");
        assert_eq!(industries.rows.first().map(|r| r.0), Some(192607));
        assert_eq!(industries.rows.last().map(|r| r.0), Some(202412));
        assert_eq!(industries.rows[0].1[0], Some(1.45));
        assert_eq!(factors.columns, ["Mkt-RF", "SMB", "HML", "RF"]);
        assert_eq!(
            factors.rows[0],
            (
                192607,
                vec![Some(2.96), Some(-2.56), Some(-2.43), Some(0.22)]
            )
        );

        let spec = Rotation {
            lookback: 12,
            skip: 1,
            top: 3,
            weighting: "inverse_vol".into(),
            vol_months: 12,
        };
        let steps = run_rotation(&spec, &industries, &factors).expect("run");
        for w in [0usize, 500, 1000] {
            let weights = rotation_weights(&spec, &industries.rows[..w + 20], 12);
            let held = weights.iter().filter(|&&x| x > 0.0).count();
            assert_eq!(held, 3);
            assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
        // Changing every month from t on moves no weight before t.
        let t = 700;
        let mut future = industries.clone();
        for row in &mut future.rows[t..] {
            for v in row.1.iter_mut() {
                *v = Some(-50.0);
            }
        }
        let after = run_rotation(&spec, &future, &factors).expect("run");
        let k = steps
            .iter()
            .position(|s| s.date.as_str() >= "1984-11-01")
            .expect("month");
        assert_eq!(
            steps[..k].iter().map(|s| s.traded).collect::<Vec<_>>(),
            after[..k].iter().map(|s| s.traded).collect::<Vec<_>>()
        );

        // All 12 industries equally weighted is a diversified stock portfolio: Sharpe about 0.3-0.8.
        let all = Rotation {
            lookback: 1,
            skip: 0,
            top: 12,
            weighting: "equal".into(),
            vol_months: 12,
        };
        let passive = run_rotation(&all, &industries, &factors).expect("run");
        let v = score(&passive, "1960-01-01", "2000-01-01").expect("validation");
        assert!((0.3..0.8).contains(&v.sharpe), "{v:?}");
        assert!(v.turnover < 0.3, "equal weights barely trade: {v:?}");
        assert!(Rotation {
            top: 13,
            ..all.clone()
        }
        .check(12)
        .is_err());
        assert!(Rotation {
            weighting: "max".into(),
            ..all
        }
        .check(12)
        .is_err());
        assert!(parse_first_table("no table here").is_err());
        assert!(parse_first_table(",A\n192613, 1.0\n").is_err());
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
                r#"{"version":1,"sizing":"linear","dy_low":5,"dy_high":2}"#,
                "dy_low",
            ),
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
