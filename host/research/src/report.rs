//! `hyper report`: what a domain's journal says, as markdown a person reads — the best
//! configuration and how the loop got there, each parameter's effect on the metric with its
//! spread, what was tried and did not work, and the gap between validation and test (where
//! overfitting to the validation split shows) — plus an SVG plot of the metric over
//! experiments.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use hyper_journal::{describe_params, Record, Status};

/// Mean and sample standard deviation.
fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let sd = if xs.len() > 1 {
        (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    } else {
        0.0
    };
    (mean, sd)
}

fn higher(records: &[Record]) -> bool {
    records.first().is_none_or(|r| r.direction == "higher")
}

/// The best record the loop kept (baseline or keep) on validation, the earliest of equals.
pub fn best(records: &[Record]) -> Option<&Record> {
    let up = higher(records);
    let mut best: Option<(&Record, f64)> = None;
    for r in records
        .iter()
        .filter(|r| matches!(r.status, Status::Baseline | Status::Keep))
    {
        let Some(v) = r.val.filter(|v| v.is_finite()) else {
            continue;
        };
        if best.is_none_or(|(_, b)| if up { v > b } else { v < b }) {
            best = Some((r, v));
        }
    }
    best.map(|(r, _)| r)
}

/// The chain of parents from `record` back to the first experiment of its lineage (ids from
/// other nodes, `author/id`, end the chain: their records live in the swarm's boards).
pub fn lineage<'a>(records: &'a [Record], record: &'a Record) -> Vec<&'a Record> {
    let by_id: HashMap<&str, &Record> = records.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut chain = vec![record];
    let mut current = record;
    while let Some(parent) = current.parent.as_deref().and_then(|p| by_id.get(p)) {
        if chain.iter().any(|r| r.id == parent.id) || chain.len() > 10_000 {
            break;
        }
        chain.push(parent);
        current = parent;
    }
    chain.reverse();
    chain
}

/// One row of the parameter-effects table.
#[derive(Clone, Debug, PartialEq)]
pub struct Effect {
    pub param: String,
    /// The value, or for numbers the half of the range (`≤ median`, `> median`).
    pub group: String,
    pub n: usize,
    pub mean: f64,
    pub sd: f64,
}

/// Each parameter's effect on the validation metric: scored experiments grouped by the
/// parameter's value (numbers split at their median), mean and spread per group. Parameters
/// that never varied are left out.
pub fn effects(records: &[Record]) -> Vec<Effect> {
    let scored: Vec<&Record> = records
        .iter()
        .filter(|r| r.val.is_some_and(f64::is_finite))
        .collect();
    let mut names: Vec<String> = scored
        .iter()
        .filter_map(|r| r.params.as_object())
        .flat_map(|o| o.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for name in names {
        let values: Vec<(&serde_json::Value, f64)> = scored
            .iter()
            .filter_map(|r| Some((r.params.get(&name)?, r.val?)))
            .collect();
        let numbers: Vec<f64> = values.iter().filter_map(|(v, _)| v.as_f64()).collect();
        let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        if numbers.len() == values.len() && !numbers.is_empty() {
            let mut sorted = numbers.clone();
            sorted.sort_by(f64::total_cmp);
            let median = sorted[sorted.len() / 2];
            if sorted.first() == sorted.last() {
                continue;
            }
            for (v, val) in &values {
                let x = v.as_f64().unwrap_or(median);
                let key = if x <= median {
                    format!("≤ {median}")
                } else {
                    format!("> {median}")
                };
                groups.entry(key).or_default().push(*val);
            }
        } else {
            for (v, val) in &values {
                let key = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                groups.entry(key).or_default().push(*val);
            }
            if groups.len() < 2 {
                continue;
            }
        }
        for (group, vals) in groups {
            let (mean, sd) = mean_sd(&vals);
            out.push(Effect {
                param: name.clone(),
                group,
                n: vals.len(),
                mean,
                sd,
            });
        }
    }
    out
}

fn f(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_else(|| "–".into())
}

/// The report, in markdown. `plot` is the SVG file's name to link, if one was written.
pub fn markdown(domain: &str, records: &[Record], plot: Option<&str>) -> String {
    // Parameter names, choice values and failure reasons come from guests: whatever shows
    // the report (a terminal, an editor) gets their control characters escaped.
    hyper_runtime::escape_control(&markdown_raw(domain, records, plot))
}

fn markdown_raw(domain: &str, records: &[Record], plot: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Research report: `{domain}`\n");
    if records.is_empty() {
        let _ = writeln!(s, "No experiments yet: run `hyper run {domain}`.");
        return s;
    }
    let metric = &records[0].metric_name;
    let up = higher(records);
    let scored: Vec<&Record> = records.iter().filter(|r| r.val.is_some()).collect();
    let crashed: Vec<&Record> = records
        .iter()
        .filter(|r| r.status == Status::Crash)
        .collect();
    let mut skills: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{} ({})",
                r.skill_name,
                &r.skill_hash[..12.min(r.skill_hash.len())]
            )
        })
        .collect();
    skills.sort();
    skills.dedup();
    let _ = writeln!(
        s,
        "{} experiments ({} scored, {} crashed), metric `{metric}` ({} is better), skills: {}.\n",
        records.len(),
        scored.len(),
        crashed.len(),
        if up { "higher" } else { "lower" },
        skills.join(", ")
    );
    if let Some(plot) = plot {
        let _ = writeln!(s, "![{metric} over experiments]({plot})\n");
    }

    let _ = writeln!(s, "## Best configuration\n");
    match best(records) {
        None => {
            let _ = writeln!(s, "Nothing scored yet.\n");
        }
        Some(b) => {
            let _ = writeln!(
                s,
                "`{}`: {metric} **{}** on validation, {} on test (seed {}, {} ms).\n",
                b.id,
                f(b.val),
                f(b.test),
                b.seed,
                b.duration_ms
            );
            let _ = writeln!(s, "| parameter | value |\n|---|---|");
            if let Some(o) = b.params.as_object() {
                for (k, v) in o {
                    let _ = writeln!(
                        s,
                        "| {k} | {} |",
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    );
                }
            }
            let chain = lineage(records, b);
            let _ = writeln!(
                s,
                "\nLineage ({} steps from its first experiment):\n",
                chain.len() - 1
            );
            let _ = writeln!(
                s,
                "| experiment | status | validation | test | changed |\n|---|---|---|---|---|"
            );
            let mut before: Option<&serde_json::Value> = None;
            for r in &chain {
                let changed = match (before.and_then(|p| p.as_object()), r.params.as_object()) {
                    (Some(p), Some(now)) => now
                        .iter()
                        .filter(|(k, v)| p.get(*k) != Some(*v))
                        .map(|(k, v)| {
                            format!(
                                "{k}={}",
                                v.as_str()
                                    .map(str::to_string)
                                    .unwrap_or_else(|| v.to_string())
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" "),
                    _ => "(start)".into(),
                };
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {changed} |",
                    r.id,
                    r.status.as_str(),
                    f(r.val),
                    f(r.test)
                );
                before = Some(&r.params);
            }
            if let Some(parent) = chain.first().and_then(|r| r.parent.as_deref()) {
                let _ = writeln!(s, "\n(The lineage continues on another node: `{parent}`.)");
            }
            s.push('\n');
        }
    }

    let _ = writeln!(s, "## Validation vs test\n");
    let pairs: Vec<(f64, f64)> = scored
        .iter()
        .filter_map(|r| Some((r.val?, r.test?)))
        .collect();
    if !pairs.is_empty() {
        let gaps: Vec<f64> = pairs.iter().map(|(v, t)| v - t).collect();
        let (gap, gap_sd) = mean_sd(&gaps);
        let baseline = records.iter().find(|r| r.status == Status::Baseline);
        let _ = writeln!(
            s,
            "Mean validation − test over {} scored experiments: {gap:.4} (sd {gap_sd:.4}).",
            pairs.len()
        );
        if let (Some(b), Some(base)) = (best(records), baseline) {
            let _ = writeln!(
                s,
                "Baseline `{}`: {} → {}; best `{}`: {} → {}.",
                base.id,
                f(base.val),
                f(base.test),
                b.id,
                f(b.val),
                f(b.test)
            );
            if let (Some(bv), Some(bt), Some(sv), Some(st)) = (b.val, b.test, base.val, base.test) {
                let sign = if up { 1.0 } else { -1.0 };
                let (gain_val, gain_test) = (sign * (bv - sv), sign * (bt - st));
                let verdict = if gain_test < 0.0 {
                    "the best on validation is **worse than the baseline on test**: the search has overfitted the validation split"
                } else if gain_test < gain_val / 2.0 {
                    "less than half of the validation gain holds on test: part of it is overfitting"
                } else {
                    "the gain holds on test"
                };
                let _ = writeln!(s, "Gain over the baseline: {gain_val:.4} on validation, {gain_test:.4} on test — {verdict}.");
            }
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Parameter effects\n");
    let effects = effects(records);
    if effects.is_empty() {
        let _ = writeln!(s, "No parameter varied yet.\n");
    } else {
        let _ = writeln!(s, "Validation {metric} of the scored experiments, grouped by each parameter (numbers split at their median):\n");
        let _ = writeln!(
            s,
            "| parameter | group | n | mean | sd |\n|---|---|---|---|---|"
        );
        for e in &effects {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.4} | {:.4} |",
                e.param, e.group, e.n, e.mean, e.sd
            );
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## What did not work\n");
    let discarded = records
        .iter()
        .filter(|r| r.status == Status::Discard)
        .count();
    let _ = writeln!(
        s,
        "{discarded} experiments scored below the best at their time (discarded)."
    );
    if let Some(base) = records
        .iter()
        .find(|r| r.status == Status::Baseline)
        .and_then(|b| b.val)
    {
        let worse: Vec<&&Record> = scored
            .iter()
            .filter(|r| r.val.is_some_and(|v| if up { v < base } else { v > base }))
            .collect();
        let _ = writeln!(
            s,
            "{} scored worse than the baseline ({base:.4}); the worst:\n",
            worse.len()
        );
        let mut worst = worse.clone();
        worst.sort_by(|a, b| {
            let (x, y) = (a.val.unwrap_or(0.0), b.val.unwrap_or(0.0));
            if up {
                x.total_cmp(&y)
            } else {
                y.total_cmp(&x)
            }
        });
        for r in worst.iter().take(5) {
            let _ = writeln!(
                s,
                "- `{}` {}: {}",
                r.id,
                f(r.val),
                describe_params(&r.params)
            );
        }
    }
    if !crashed.is_empty() {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for r in &crashed {
            let reason = r.reason.clone().unwrap_or_default();
            let first = reason
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(160)
                .collect::<String>();
            *reasons.entry(first).or_default() += 1;
        }
        let _ = writeln!(s, "\nCrashes:\n");
        for (reason, n) in reasons {
            let _ = writeln!(s, "- {n} × {reason}");
        }
    }
    s
}

/// The metric over experiments as SVG: every scored experiment's validation (dots) and test
/// (crosses) value, and the running best on validation (line).
pub fn svg(records: &[Record]) -> Result<String, String> {
    use plotters::prelude::*;
    let points: Vec<(f64, f64, Option<f64>)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            Some((
                i as f64,
                r.val.filter(|v| v.is_finite())?,
                r.test.filter(|t| t.is_finite()),
            ))
        })
        .collect();
    if points.is_empty() {
        return Err("nothing scored to plot".into());
    }
    let up = higher(records);
    let mut running = Vec::new();
    let mut best: Option<f64> = None;
    for &(x, v, _) in &points {
        best = Some(match best {
            Some(b) if (up && b >= v) || (!up && b <= v) => b,
            _ => v,
        });
        running.push((x, best.unwrap_or(v)));
    }
    let ys = points
        .iter()
        .flat_map(|(_, v, t)| std::iter::once(*v).chain(*t));
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    let pad = ((hi - lo) * 0.08).max(1e-6);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (800, 450)).into_drawing_area();
        let e = |e: DrawingAreaErrorKind<_>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let metric = &records[0].metric_name;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{metric} over experiments ({})", records[0].domain),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(-0.5..(records.len() as f64 - 0.5), (lo - pad)..(hi + pad))
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc("experiment")
            .y_desc(metric.as_str())
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(running, BLUE.stroke_width(2)))
            .map_err(e)?
            .label("best so far (validation)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLUE));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&(x, v, _)| Circle::new((x, v), 3, BLUE.filled())),
            )
            .map_err(e)?
            .label("validation")
            .legend(|(x, y)| Circle::new((x + 8, y), 3, BLUE.filled()));
        chart
            .draw_series(
                points
                    .iter()
                    .filter_map(|&(x, _, t)| Some(Cross::new((x, t?), 4, RED))),
            )
            .map_err(e)?
            .label("test")
            .legend(|(x, y)| Cross::new((x + 8, y), 4, RED));
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}
