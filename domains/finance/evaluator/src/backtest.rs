//! Walk-forward backtest of a monthly stock/bond timing strategy on Shiller's S&P Composite
//! series. Pure Rust, tested natively.
//!
//! **No look-ahead, by construction**: the weight for month `t` is computed by
//! [`weight_at`], which is handed only the rows before `t` (`&months[..t]`); it cannot read
//! month `t` or later. The return of month `t` then applies that weight.
//!
//! Returns (documented approximations, the same for every strategy):
//! - stocks: `(P_t + D_t / 12) / P_{t-1} - 1` (price change plus a month of the annualised
//!   dividend);
//! - bonds: the 10-year yield's month of income minus duration 8 times the yield change,
//!   `y_{t-1}/1200 - 8 (y_t - y_{t-1})/100`;
//! - cash (the Sharpe ratio's risk-free rate): `y_{t-1}/1200`;
//! - costs: 10 basis points per unit of weight traded, fixed by the domain.

use serde::Deserialize;

/// One month of the series (zeros in Shiller's data mean "missing": only CAPE may be missing
/// in the rows the domain ships).
#[derive(Clone, Debug, PartialEq)]
pub struct Month {
    pub date: String,
    pub price: f64,
    /// Annualised dividend per index unit.
    pub dividend: f64,
    /// 10-year Treasury yield, percent.
    pub rate: f64,
    /// CAPE (PE10); `None` where the data has 0.
    pub cape: Option<f64>,
}

pub const COST_PER_UNIT_TRADED: f64 = 0.001;
pub const BOND_DURATION: f64 = 8.0;
const HEADER: &str = "Date,SP500,Dividend,Earnings,Consumer Price Index,Long Interest Rate,Real Price,Real Dividend,Real Earnings,PE10";

/// Parses the datahub CSV (the header must match; every used number must be finite, price,
/// dividend and rate positive).
pub fn parse_csv(text: &str) -> Result<Vec<Month>, String> {
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(HEADER) {
        return Err("unexpected header: not the datahub S&P 500 CSV".into());
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 10 {
            return Err(format!("row {}: {} fields, expected 10", i + 2, f.len()));
        }
        let num = |k: usize| -> Result<f64, String> {
            f[k].trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("row {}: `{}` is not a number", i + 2, f[k]))
        };
        let (price, dividend, rate, cape) = (num(1)?, num(2)?, num(5)?, num(9)?);
        if price <= 0.0 || dividend <= 0.0 || rate <= 0.0 {
            return Err(format!(
                "row {} ({}): price, dividend and rate must be positive",
                i + 2,
                f[0]
            ));
        }
        out.push(Month {
            date: f[0].to_string(),
            price,
            dividend,
            rate,
            cape: (cape > 0.0).then_some(cape),
        });
    }
    Ok(out)
}

/// A strategy: which signals decide the stock weight, how the weight is sized, and how it is
/// damped. Unknown fields are refused.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    pub version: u32,
    /// Stocks when the price rose over this many months (0: off).
    #[serde(default)]
    pub momentum_months: u32,
    /// Stocks when the price is above its moving average over this many months (0: off).
    #[serde(default)]
    pub trend_months: u32,
    /// CAPE valuation: weight 1 at or below `low`, 0 at or above `high`, linear between
    /// (both 0: off).
    #[serde(default)]
    pub cape_low: f64,
    #[serde(default)]
    pub cape_high: f64,
    /// Dividend-yield valuation (percent, trailing annual dividend / price): weight 0 at or
    /// below `dy_low`, 1 at or above `dy_high`, linear between (both 0: off).
    #[serde(default)]
    pub dy_low: f64,
    #[serde(default)]
    pub dy_high: f64,
    /// `binary`: all in stocks when the signals' average is at least 1/2, else bonds;
    /// `linear`: the average is the weight.
    pub sizing: String,
    /// Scale the weight down to this annualised stock volatility (0: off).
    #[serde(default)]
    pub vol_target: f64,
    /// Months of realised volatility for `vol_target`.
    #[serde(default = "default_vol_months")]
    pub vol_months: u32,
    /// Keep last month's weight when the new one differs by less than this.
    #[serde(default)]
    pub band: f64,
}

fn default_vol_months() -> u32 {
    12
}

impl Spec {
    pub fn check(&self) -> Result<(), String> {
        if self.version != 1 {
            return Err(format!(
                "strategy version {} (this evaluator reads 1)",
                self.version
            ));
        }
        if self.momentum_months > 60
            || self.trend_months > 60
            || !(2..=60).contains(&self.vol_months)
        {
            return Err("momentum_months and trend_months must be ≤ 60, vol_months 2..=60".into());
        }
        let cape_on = self.cape_low != 0.0 || self.cape_high != 0.0;
        if cape_on
            && !(self.cape_low.is_finite()
                && self.cape_high.is_finite()
                && 0.0 < self.cape_low
                && self.cape_low < self.cape_high)
        {
            return Err("cape_low must be positive and below cape_high".into());
        }
        let dy_on = self.dy_low != 0.0 || self.dy_high != 0.0;
        if dy_on
            && !(self.dy_low.is_finite()
                && self.dy_high.is_finite()
                && 0.0 <= self.dy_low
                && self.dy_low < self.dy_high)
        {
            return Err("dy_low must be non-negative and below dy_high".into());
        }
        if !(0.0..=1.0).contains(&self.vol_target) || !(0.0..=0.5).contains(&self.band) {
            return Err("vol_target must be in 0..=1 and band in 0..=0.5".into());
        }
        if self.sizing != "binary" && self.sizing != "linear" {
            return Err(format!("sizing `{}` is not binary or linear", self.sizing));
        }
        Ok(())
    }
}

fn stock_return(prev: &Month, now: &Month) -> f64 {
    (now.price + now.dividend / 12.0) / prev.price - 1.0
}

fn bond_return(prev: &Month, now: &Month) -> f64 {
    prev.rate / 1200.0 - BOND_DURATION * (now.rate - prev.rate) / 100.0
}

/// The stock weight for the month after `history` (which holds only earlier months), given
/// last month's weight.
pub fn weight_at(spec: &Spec, history: &[Month], previous: f64) -> f64 {
    let n = history.len();
    let Some(last) = history.last() else {
        return previous;
    };
    let mut votes = Vec::new();
    let m = spec.momentum_months as usize;
    if m > 0 && n > m {
        votes.push(if last.price > history[n - 1 - m].price {
            1.0
        } else {
            0.0
        });
    }
    let k = spec.trend_months as usize;
    if k > 0 && n >= k {
        let mean = history[n - k..].iter().map(|x| x.price).sum::<f64>() / k as f64;
        votes.push(if last.price > mean { 1.0 } else { 0.0 });
    }
    if spec.cape_low != 0.0 || spec.cape_high != 0.0 {
        // A missing CAPE (1871-1880) votes neutral.
        let v = match last.cape {
            Some(c) => ((spec.cape_high - c) / (spec.cape_high - spec.cape_low)).clamp(0.0, 1.0),
            None => 0.5,
        };
        votes.push(v);
    }
    if spec.dy_low != 0.0 || spec.dy_high != 0.0 {
        let dy = 100.0 * last.dividend / last.price;
        votes.push(((dy - spec.dy_low) / (spec.dy_high - spec.dy_low)).clamp(0.0, 1.0));
    }
    let score = if votes.is_empty() {
        1.0
    } else {
        votes.iter().sum::<f64>() / votes.len() as f64
    };
    let mut w = if spec.sizing == "binary" {
        if score >= 0.5 {
            1.0
        } else {
            0.0
        }
    } else {
        score
    };
    let v = spec.vol_months as usize;
    if spec.vol_target > 0.0 && n > v {
        let rets: Vec<f64> = (n - v..n)
            .map(|i| stock_return(&history[i - 1], &history[i]))
            .collect();
        let mean = rets.iter().sum::<f64>() / v as f64;
        let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (v - 1) as f64;
        let vol = (var * 12.0).sqrt();
        if vol > 0.0 {
            w *= (spec.vol_target / vol).min(1.0);
        }
    }
    if (w - previous).abs() < spec.band {
        previous
    } else {
        w
    }
}

/// One month of a backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub date: String,
    pub weight: f64,
    /// Strategy return after costs.
    pub ret: f64,
    /// Cash return (the risk-free proxy).
    pub cash: f64,
    pub traded: f64,
}

/// Runs the strategy over every month from the second on, walk-forward.
pub fn run(spec: &Spec, months: &[Month]) -> Vec<Step> {
    let mut out = Vec::with_capacity(months.len());
    let mut previous = 1.0;
    for t in 1..months.len() {
        let w = weight_at(spec, &months[..t], previous);
        let (prev, now) = (&months[t - 1], &months[t]);
        let traded = (w - previous).abs();
        let ret = w * stock_return(prev, now) + (1.0 - w) * bond_return(prev, now)
            - COST_PER_UNIT_TRADED * traded;
        out.push(Step {
            date: now.date.clone(),
            weight: w,
            ret,
            cash: prev.rate / 1200.0,
            traded,
        });
        previous = w;
    }
    out
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// Annualised Sharpe ratio of returns over cash.
    pub sharpe: f64,
    /// Largest peak-to-trough loss of wealth, as a positive fraction.
    pub max_drawdown: f64,
    /// Weight traded per year.
    pub turnover: f64,
    /// Compound annual growth rate.
    pub cagr: f64,
    pub months: usize,
}

/// Scores the steps dated in `[from, to)` (dates compare as `YYYY-MM-DD` strings).
pub fn score(steps: &[Step], from: &str, to: &str) -> Result<Scores, String> {
    let period: Vec<&Step> = steps
        .iter()
        .filter(|s| s.date.as_str() >= from && s.date.as_str() < to)
        .collect();
    let n = period.len();
    if n < 24 {
        return Err(format!("only {n} months between {from} and {to}"));
    }
    let excess: Vec<f64> = period.iter().map(|s| s.ret - s.cash).collect();
    let mean = excess.iter().sum::<f64>() / n as f64;
    let sd = (excess.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
    let sharpe = if sd > 0.0 {
        mean / sd * 12f64.sqrt()
    } else {
        0.0
    };
    let (mut wealth, mut peak, mut dd) = (1.0f64, 1.0f64, 0.0f64);
    for s in &period {
        wealth *= 1.0 + s.ret;
        peak = peak.max(wealth);
        dd = dd.max(1.0 - wealth / peak);
    }
    Ok(Scores {
        sharpe,
        max_drawdown: dd,
        turnover: period.iter().map(|s| s.traded).sum::<f64>() / n as f64 * 12.0,
        cagr: wealth.powf(12.0 / n as f64) - 1.0,
        months: n,
    })
}
