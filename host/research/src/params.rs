//! The host's view of a skill's declared parameter space: validation, defaults, conversion to
//! and from WIT values and JSON, and a normalised distance between assignments.

use std::collections::BTreeMap;

use hyper_runtime::{Param, ParamKind, ParamSpec, ParamValue};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Float(f64),
    Choice(String),
    Flag(bool),
}

/// One value per parameter, ordered by name.
pub type Assignment = BTreeMap<String, Value>;

/// Parameters a space may declare.
pub const MAX_PARAMS: usize = 256;
/// Longest parameter name or choice option.
pub const MAX_NAME_BYTES: usize = 128;
/// Longest parameter description.
pub const MAX_DESCRIPTION_BYTES: usize = 4096;
/// Options a choice may list.
pub const MAX_OPTIONS: usize = 1024;

fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "{what} `{}` must be 1 to {MAX_NAME_BYTES} bytes long (it is {})",
            hyper_runtime::escape_control(&hyper_runtime::bound_text(name, 64)),
            name.len()
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "{what} `{}` may only contain ASCII letters, digits, `_`, `-` and `.`",
            hyper_runtime::escape_control(name)
        ));
    }
    Ok(())
}

fn check_kind(name: &str, kind: &ParamKind) -> Result<(), String> {
    let bad = |rule: &str| Err(format!("parameter `{name}`: {rule}"));
    match kind {
        ParamKind::Int(r) if r.min > r.max => bad("min is above max"),
        ParamKind::Int(r) if !(r.min..=r.max).contains(&r.default) => {
            bad("the default is outside [min, max]")
        }
        ParamKind::Float(r)
            if !(r.min.is_finite() && r.max.is_finite() && r.default.is_finite()) =>
        {
            bad("min, max and default must be finite numbers")
        }
        ParamKind::Float(r) if r.min > r.max => bad("min is above max"),
        ParamKind::Float(r) if r.default < r.min || r.default > r.max => {
            bad("the default is outside [min, max]")
        }
        ParamKind::Float(r) if r.log_scale && r.min <= 0.0 => {
            bad("a log-scale range must lie above 0")
        }
        ParamKind::Choice(c) if c.options.is_empty() => bad("a choice needs at least one option"),
        ParamKind::Choice(c) if c.options.len() > MAX_OPTIONS => Err(format!(
            "parameter `{name}` lists {} options, more than the {MAX_OPTIONS} allowed",
            c.options.len()
        )),
        ParamKind::Choice(c) => {
            let mut seen = std::collections::HashSet::new();
            for o in &c.options {
                if o.is_empty() || o.len() > MAX_NAME_BYTES || o.chars().any(char::is_control) {
                    return bad("options must be 1 to 128 bytes without control characters");
                }
                if !seen.insert(o.as_str()) {
                    return Err(format!(
                        "parameter `{name}` lists the option `{}` twice",
                        hyper_runtime::escape_control(o)
                    ));
                }
            }
            if !seen.contains(c.default.as_str()) {
                return bad("the default is not one of the options");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A declaration as an author wrote it: `float in [0.1, 3] (default 1.2)`.
pub fn describe_kind(kind: &ParamKind) -> String {
    match kind {
        ParamKind::Int(r) => format!("int in [{}, {}] (default {})", r.min, r.max, r.default),
        ParamKind::Float(r) => format!(
            "float in [{}, {}]{} (default {})",
            r.min,
            r.max,
            if r.log_scale { " log scale" } else { "" },
            r.default
        ),
        ParamKind::Choice(c) => format!("one of {} (default {})", c.options.join(", "), c.default),
        ParamKind::Flag(d) => format!("flag (default {d})"),
    }
}

/// Whether `v` is a value the declared `kind` admits (finite and inside the bounds).
pub fn admits(kind: &ParamKind, v: &Value) -> bool {
    match (kind, v) {
        (ParamKind::Int(r), Value::Int(x)) => (r.min..=r.max).contains(x),
        (ParamKind::Float(r), Value::Float(x)) => x.is_finite() && *x >= r.min && *x <= r.max,
        (ParamKind::Choice(c), Value::Choice(x)) => c.options.contains(x),
        (ParamKind::Flag(_), Value::Flag(_)) => true,
        _ => false,
    }
}

/// The width of an int range as a float (no overflow even for `i64::MIN..=i64::MAX`).
pub fn int_span(min: i64, max: i64) -> f64 {
    (i128::from(max) - i128::from(min)) as f64
}

/// Where `x` lies in `[min, max]`, from 0 to 1, computed on halves so that ranges as wide as
/// ±f64::MAX do not overflow (0 for an empty range).
pub fn float_position(x: f64, min: f64, max: f64) -> f64 {
    let span = max / 2.0 - min / 2.0;
    if span <= 0.0 || !span.is_finite() {
        return 0.0;
    }
    ((x / 2.0 - min / 2.0) / span).clamp(0.0, 1.0)
}

/// One parameter's value as [`Space::coordinates`] sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Coordinate {
    /// A number's position in its range (log position for log-scale floats).
    Number(f64),
    /// A choice or flag (equal or not).
    Other(Value),
    Missing,
}

/// An assignment as coordinates of one space.
#[derive(Clone, Debug, PartialEq)]
pub struct Coordinates(pub Vec<Coordinate>);

impl Coordinates {
    /// [`Space::distance`] of the two assignments these came from.
    pub fn distance(&self, other: &Coordinates) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let total: f64 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|pair| match pair {
                (Coordinate::Number(x), Coordinate::Number(y)) => (x - y).abs().min(1.0),
                (Coordinate::Other(x), Coordinate::Other(y)) if x == y => 0.0,
                _ => 1.0,
            })
            .sum();
        total / self.0.len() as f64
    }
}

#[derive(Clone, Debug)]
pub struct Space {
    pub specs: Vec<ParamSpec>,
    /// Values the domain fixes (see [`Space::pin`]).
    pub pins: Assignment,
}

impl Space {
    /// Checks a declared space (it comes from a guest's `describe`, so from anyone): at most
    /// [`MAX_PARAMS`] parameters; unique names of 1–[`MAX_NAME_BYTES`] bytes of letters,
    /// digits, `_`, `-` and `.`; descriptions of at most [`MAX_DESCRIPTION_BYTES`] without
    /// control characters; finite bounds with `min <= max` and the default inside; log
    /// ranges above 0; at most [`MAX_OPTIONS`] distinct, non-empty choice options of at most
    /// [`MAX_NAME_BYTES`] printable bytes. Extreme but finite ranges (±1e308,
    /// `i64::MIN..=i64::MAX`) are accepted: every computation on them is overflow-safe. A
    /// space that breaks a rule is refused with a sentence naming the parameter and the rule
    /// (guest text in it escaped).
    pub fn new(specs: Vec<ParamSpec>) -> Result<Self, String> {
        if specs.len() > MAX_PARAMS {
            return Err(format!(
                "declares {} parameters, more than the {MAX_PARAMS} allowed",
                specs.len()
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &specs {
            check_name("parameter name", &s.name)?;
            let name = &s.name;
            if !seen.insert(name.clone()) {
                return Err(format!("parameter `{name}` is declared twice"));
            }
            if s.description.len() > MAX_DESCRIPTION_BYTES {
                return Err(format!(
                    "parameter `{name}` has a description of {} bytes, more than {MAX_DESCRIPTION_BYTES}",
                    s.description.len()
                ));
            }
            if s.description.chars().any(|c| c.is_control() && c != '\n') {
                return Err(format!(
                    "parameter `{name}` has control characters in its description"
                ));
            }
            check_kind(name, &s.kind)?;
        }
        Ok(Space {
            specs,
            pins: Assignment::new(),
        })
    }

    /// Pins the parameters a domain fixes (`[fixed]` in its manifest) to one value each: the
    /// range collapses to that value, so defaults, proposals and peers' assignments all carry
    /// it. A fixed parameter the skill does not declare, or a value of the wrong kind or out
    /// of the declared bounds, is an error naming it.
    pub fn pin(&mut self, fixed: &toml::Table) -> Result<(), String> {
        self.pin_by(fixed, "the domain")
    }

    /// [`Space::pin`] for values `who` fixes (the domain, or `--set` of the user).
    pub fn pin_by(&mut self, fixed: &toml::Table, who: &str) -> Result<(), String> {
        use hyper_runtime::bindings::v0_1_0::types::{ChoiceSet, FloatRange, IntRange};
        for (name, value) in fixed {
            let declared = || {
                self.specs
                    .iter()
                    .map(|s| s.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let Some(at) = self.specs.iter().position(|s| &s.name == name) else {
                return Err(format!(
                    "{who} fixes `{name}`, which the skill does not declare (it declares: {})",
                    declared()
                ));
            };
            let spec = &mut self.specs[at];
            let mismatch = || {
                format!(
                    "{who} fixes `{name}` = {value}, which does not fit the skill's declaration {}",
                    describe_kind(&spec.kind)
                )
            };
            // `k1=1` means 1.0 for a float parameter.
            let value = &match (&spec.kind, value) {
                (ParamKind::Float(_), toml::Value::Integer(i)) => toml::Value::Float(*i as f64),
                _ => value.clone(),
            };
            let pinned = match (&spec.kind, value) {
                (ParamKind::Int(r), toml::Value::Integer(v)) if (r.min..=r.max).contains(v) => {
                    ParamKind::Int(IntRange {
                        min: *v,
                        max: *v,
                        default: *v,
                    })
                }
                (ParamKind::Float(r), toml::Value::Float(v)) if *v >= r.min && *v <= r.max => {
                    ParamKind::Float(FloatRange {
                        min: *v,
                        max: *v,
                        default: *v,
                        log_scale: false,
                    })
                }
                (ParamKind::Choice(c), toml::Value::String(v)) if c.options.contains(v) => {
                    ParamKind::Choice(ChoiceSet {
                        options: vec![v.clone()],
                        default: v.clone(),
                    })
                }
                (ParamKind::Flag(_), toml::Value::Boolean(v)) => ParamKind::Flag(*v),
                _ => return Err(mismatch()),
            };
            let value = match &pinned {
                ParamKind::Int(r) => Value::Int(r.default),
                ParamKind::Float(r) => Value::Float(r.default),
                ParamKind::Choice(c) => Value::Choice(c.default.clone()),
                ParamKind::Flag(b) => Value::Flag(*b),
            };
            spec.kind = pinned;
            self.pins.insert(name.clone(), value);
        }
        Ok(())
    }

    /// `a` with the domain's fixed values (a proposer may flip a fixed flag: flags have no
    /// range to collapse).
    pub fn fix(&self, mut a: Assignment) -> Assignment {
        for (name, value) in &self.pins {
            a.insert(name.clone(), value.clone());
        }
        a
    }

    pub fn defaults(&self) -> Assignment {
        self.specs
            .iter()
            .map(|s| {
                let v = match &s.kind {
                    ParamKind::Int(r) => Value::Int(r.default),
                    ParamKind::Float(r) => Value::Float(r.default),
                    ParamKind::Choice(c) => Value::Choice(c.default.clone()),
                    ParamKind::Flag(d) => Value::Flag(*d),
                };
                (s.name.clone(), v)
            })
            .collect()
    }

    pub fn to_wit(&self, a: &Assignment) -> Vec<Param> {
        a.iter()
            .map(|(name, v)| Param {
                name: name.clone(),
                value: match v {
                    Value::Int(i) => ParamValue::Int(*i),
                    Value::Float(f) => ParamValue::Float(*f),
                    Value::Choice(c) => ParamValue::Choice(c.clone()),
                    Value::Flag(b) => ParamValue::Flag(*b),
                },
            })
            .collect()
    }

    pub fn to_json(a: &Assignment) -> serde_json::Value {
        serde_json::to_value(a).unwrap_or(serde_json::Value::Null)
    }

    /// Reads an assignment back from the journal's JSON; `None` if it does not fit this space
    /// (e.g. the skill changed its parameters).
    pub fn from_json(&self, json: &serde_json::Value) -> Option<Assignment> {
        let obj = json.as_object()?;
        let mut out = Assignment::new();
        for s in &self.specs {
            let v = obj.get(&s.name)?;
            let value = match &s.kind {
                ParamKind::Int(r) => {
                    Value::Int(v.as_i64().filter(|i| (r.min..=r.max).contains(i))?)
                }
                ParamKind::Float(r) => {
                    Value::Float(v.as_f64().filter(|f| *f >= r.min && *f <= r.max)?)
                }
                ParamKind::Choice(c) => Value::Choice(
                    v.as_str()
                        .filter(|o| c.options.iter().any(|x| x == o))?
                        .to_string(),
                ),
                ParamKind::Flag(_) => Value::Flag(v.as_bool()?),
            };
            out.insert(s.name.clone(), value);
        }
        Some(out)
    }

    /// `a` as one coordinate per parameter, for many [`Space::distance`]s at once: the same
    /// distance by [`Coordinates::distance`], without a map lookup per parameter.
    pub fn coordinates(&self, a: &Assignment) -> Coordinates {
        Coordinates(
            self.specs
                .iter()
                .map(|s| match (&s.kind, a.get(&s.name)) {
                    (ParamKind::Int(r), Some(Value::Int(x))) if r.max > r.min => {
                        Coordinate::Number(int_span(r.min, *x) / int_span(r.min, r.max))
                    }
                    (ParamKind::Int(_), Some(Value::Int(_))) => Coordinate::Number(0.0),
                    (ParamKind::Float(r), Some(Value::Float(x))) if r.log_scale => {
                        let span = r.max.ln() - r.min.ln();
                        let t = (x.ln() - r.min.ln()) / span;
                        Coordinate::Number(if span > 0.0 && t.is_finite() { t } else { 0.0 })
                    }
                    (ParamKind::Float(r), Some(Value::Float(x))) => {
                        Coordinate::Number(float_position(*x, r.min, r.max))
                    }
                    (_, Some(v)) => Coordinate::Other(v.clone()),
                    (_, None) => Coordinate::Missing,
                })
                .collect(),
        )
    }

    /// Distance in [0, 1] per parameter, averaged: range-normalised for numbers, 0/1 for
    /// choices and flags.
    pub fn distance(&self, a: &Assignment, b: &Assignment) -> f64 {
        if self.specs.is_empty() {
            return 0.0;
        }
        let mut total = 0.0;
        for s in &self.specs {
            let d = match (&s.kind, a.get(&s.name), b.get(&s.name)) {
                (ParamKind::Int(r), Some(Value::Int(x)), Some(Value::Int(y))) => {
                    if r.max == r.min {
                        0.0
                    } else {
                        (int_span(*y, *x).abs() / int_span(r.min, r.max)).min(1.0)
                    }
                }
                (ParamKind::Float(r), Some(Value::Float(x)), Some(Value::Float(y))) => {
                    if r.log_scale {
                        let span = r.max.ln() - r.min.ln();
                        let d = (x.ln() - y.ln()).abs() / span;
                        if span > 0.0 && d.is_finite() {
                            d.min(1.0)
                        } else {
                            0.0
                        }
                    } else {
                        (float_position(*x, r.min, r.max) - float_position(*y, r.min, r.max)).abs()
                    }
                }
                (_, Some(x), Some(y)) if x == y => 0.0,
                _ => 1.0,
            };
            total += d;
        }
        total / self.specs.len() as f64
    }
}

/// Parameter declarations for unit tests of this crate.
#[cfg(test)]
pub(crate) mod specs {
    use hyper_runtime::bindings::v0_1_0::types::{ChoiceSet, FloatRange, IntRange};
    use hyper_runtime::{ParamKind, ParamSpec};

    fn spec(name: &str, kind: ParamKind) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            description: String::new(),
            kind,
        }
    }

    pub fn float(name: &str, min: f64, max: f64, default: f64) -> ParamSpec {
        spec(
            name,
            ParamKind::Float(FloatRange {
                min,
                max,
                default,
                log_scale: false,
            }),
        )
    }

    pub fn int(name: &str, min: i64, max: i64, default: i64) -> ParamSpec {
        spec(name, ParamKind::Int(IntRange { min, max, default }))
    }

    pub fn choice(name: &str, options: &[&str], default: &str) -> ParamSpec {
        let options = options.iter().map(|o| o.to_string()).collect();
        let default = default.into();
        spec(name, ParamKind::Choice(ChoiceSet { options, default }))
    }

    pub fn flag(name: &str, default: bool) -> ParamSpec {
        spec(name, ParamKind::Flag(default))
    }
}
