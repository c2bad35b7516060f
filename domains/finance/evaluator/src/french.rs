//! Kenneth French's data library files in their published CSV layout (industry portfolios,
//! Fama/French factors), and industry rotation run walk-forward on them.
//!
//! Layout: free text, then tables; each table is a title line, a header line starting with
//! `,` (column names), then `YYYYMM, v1, v2, …` rows (percent returns) up to a blank line.
//! The first table of a file is the monthly one we use (value-weighted returns for the
//! industry files; `Mkt-RF, SMB, HML, RF` for the factors). `-99.99` and `-999` mean
//! missing. Not shipped with hyper (no open license): a user points the `finance-industries`
//! domain to their copy.

use serde::Deserialize;

use crate::backtest::{Step, COST_PER_UNIT_TRADED};

/// One table: column names and monthly rows (`None` = missing).
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    /// (YYYYMM, values in percent)
    pub rows: Vec<(u32, Vec<Option<f64>>)>,
}

/// The first table of a French data library CSV.
pub fn parse_first_table(text: &str) -> Result<Table, String> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let header = lines
        .by_ref()
        .find(|l| l.starts_with(','))
        .ok_or("no table header (a line starting with `,`): not a French data library CSV")?;
    let columns: Vec<String> = header[1..]
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    if columns.is_empty() || columns.iter().any(String::is_empty) {
        return Err(format!("bad table header `{header}`"));
    }
    let mut rows: Vec<(u32, Vec<Option<f64>>)> = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            break;
        }
        let mut fields = line.split(',').map(str::trim);
        let date = fields.next().unwrap_or_default();
        let yyyymm: u32 = date
            .parse()
            .ok()
            .filter(|d| (100_001..=999_912).contains(d) && (1..=12).contains(&(d % 100)))
            .ok_or_else(|| format!("`{date}` is not a YYYYMM month"))?;
        if rows.last().is_some_and(|(prev, _)| *prev >= yyyymm) {
            return Err(format!("month {yyyymm} is out of order"));
        }
        let values = fields
            .map(|f| {
                let v: f64 = f
                    .parse()
                    .map_err(|_| format!("{yyyymm}: `{f}` is not a number"))?;
                Ok((v.is_finite() && v != -99.99 && v != -999.0).then_some(v))
            })
            .collect::<Result<Vec<_>, String>>()?;
        if values.len() != columns.len() {
            return Err(format!(
                "{yyyymm}: {} values for {} columns",
                values.len(),
                columns.len()
            ));
        }
        rows.push((yyyymm, values));
    }
    if rows.len() < 24 {
        return Err(format!("only {} monthly rows", rows.len()));
    }
    Ok(Table { columns, rows })
}

/// Hold the `top` industries by trailing return, rebalanced monthly.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// Months of trailing return that rank the industries.
    pub lookback: u32,
    /// Most recent months left out of the ranking (short-term reversal).
    #[serde(default)]
    pub skip: u32,
    /// How many industries to hold.
    pub top: u32,
    /// `equal`, or `inverse_vol` (weights ∝ 1 / trailing volatility over `vol_months`).
    pub weighting: String,
    #[serde(default = "twelve")]
    pub vol_months: u32,
}

fn twelve() -> u32 {
    12
}

impl Rotation {
    pub fn check(&self, industries: usize) -> Result<(), String> {
        if !(1..=36).contains(&self.lookback)
            || self.skip > 3
            || !(2..=36).contains(&self.vol_months)
        {
            return Err("lookback must be 1..=36, skip ≤ 3, vol_months 2..=36".into());
        }
        if self.top == 0 || self.top as usize > industries {
            return Err(format!(
                "top {} is not between 1 and the {industries} industries",
                self.top
            ));
        }
        if self.weighting != "equal" && self.weighting != "inverse_vol" {
            return Err(format!(
                "weighting `{}` is not equal or inverse_vol",
                self.weighting
            ));
        }
        Ok(())
    }
}

/// Weights for the month after `history` (only earlier months), one per industry.
pub fn rotation_weights(
    spec: &Rotation,
    history: &[(u32, Vec<Option<f64>>)],
    industries: usize,
) -> Vec<f64> {
    let n = history.len();
    let (look, skip) = (spec.lookback as usize, spec.skip as usize);
    let mut weights = vec![0.0; industries];
    if n < look + skip {
        return weights; // not enough history yet: all cash
    }
    let window = &history[n - look - skip..n - skip];
    let mut ranked: Vec<(usize, f64)> = (0..industries)
        .filter_map(|i| {
            window
                .iter()
                .try_fold(1.0, |acc, (_, r)| r[i].map(|v| acc * (1.0 + v / 100.0)))
                .map(|g| (i, g))
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let chosen: Vec<usize> = ranked
        .iter()
        .take(spec.top as usize)
        .map(|(i, _)| *i)
        .collect();
    let v = spec.vol_months as usize;
    let raw: Vec<f64> = chosen
        .iter()
        .map(|&i| {
            if spec.weighting == "inverse_vol" && n >= v {
                let rs: Vec<f64> = history[n - v..].iter().filter_map(|(_, r)| r[i]).collect();
                let mean = rs.iter().sum::<f64>() / rs.len().max(1) as f64;
                let var = rs.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
                    / (rs.len().max(2) - 1) as f64;
                if var > 0.0 {
                    1.0 / var.sqrt()
                } else {
                    1.0
                }
            } else {
                1.0
            }
        })
        .collect();
    let total: f64 = raw.iter().sum();
    for (&i, w) in chosen.iter().zip(raw) {
        weights[i] = w / total;
    }
    weights
}

/// Runs the rotation walk-forward over the industries, with the factors file's `RF` as cash.
/// Months where an industry held has no return count it as 0.
pub fn run_rotation(
    spec: &Rotation,
    industries: &Table,
    factors: &Table,
) -> Result<Vec<Step>, String> {
    let rf_col = factors
        .columns
        .iter()
        .position(|c| c == "RF")
        .ok_or("the factors table has no RF column")?;
    let rf: std::collections::HashMap<u32, f64> = factors
        .rows
        .iter()
        .filter_map(|(d, v)| v[rf_col].map(|x| (*d, x)))
        .collect();
    let k = industries.columns.len();
    spec.check(k)?;
    let mut previous = vec![0.0; k];
    let mut out = Vec::new();
    for t in 1..industries.rows.len() {
        let weights = rotation_weights(spec, &industries.rows[..t], k);
        let (date, returns) = &industries.rows[t];
        let Some(&cash) = rf.get(date) else {
            continue;
        };
        let traded: f64 = weights
            .iter()
            .zip(&previous)
            .map(|(a, b)| (a - b).abs())
            .sum();
        let invested: f64 = weights.iter().sum();
        let gross: f64 = weights
            .iter()
            .zip(returns)
            .map(|(w, r)| w * r.unwrap_or(0.0) / 100.0)
            .sum::<f64>()
            + (1.0 - invested) * cash / 100.0;
        out.push(Step {
            date: format!("{:04}-{:02}-01", date / 100, date % 100),
            weight: invested,
            ret: gross - COST_PER_UNIT_TRADED * traded,
            cash: cash / 100.0,
            traded,
        });
        previous = weights;
    }
    Ok(out)
}
