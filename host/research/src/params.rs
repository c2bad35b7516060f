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

#[derive(Clone, Debug)]
pub struct Space {
    pub specs: Vec<ParamSpec>,
    /// Values the domain fixes (see [`Space::pin`]).
    pub pins: Assignment,
}

impl Space {
    /// Checks a declared space: unique names, sane bounds, defaults inside them. A skill that
    /// declares nonsense is refused with the first problem found.
    pub fn new(specs: Vec<ParamSpec>) -> Result<Self, String> {
        let mut seen = std::collections::HashSet::new();
        for s in &specs {
            if s.name.is_empty() || !seen.insert(s.name.clone()) {
                return Err(format!(
                    "parameter name `{}` is empty or declared twice",
                    s.name
                ));
            }
            let ok = match &s.kind {
                ParamKind::Int(r) => r.min <= r.max && (r.min..=r.max).contains(&r.default),
                ParamKind::Float(r) => {
                    r.min.is_finite()
                        && r.max.is_finite()
                        && r.min <= r.max
                        && r.default >= r.min
                        && r.default <= r.max
                        && (!r.log_scale || r.min > 0.0)
                }
                ParamKind::Choice(c) => !c.options.is_empty() && c.options.contains(&c.default),
                ParamKind::Flag(_) => true,
            };
            if !ok {
                return Err(format!(
                    "parameter `{}` has invalid bounds or a default outside them",
                    s.name
                ));
            }
        }
        if specs.len() > 256 {
            return Err("more than 256 parameters".into());
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
        use hyper_runtime::bindings::v0_1_0::types::{ChoiceSet, FloatRange, IntRange};
        for (name, value) in fixed {
            let spec = self
                .specs
                .iter_mut()
                .find(|s| &s.name == name)
                .ok_or_else(|| {
                    format!("the domain fixes `{name}`, which the skill does not declare")
                })?;
            let mismatch = || {
                format!("the domain fixes `{name}` = {value}, which does not fit the skill's declaration {:?}", spec.kind)
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
                        (x - y).abs() as f64 / (r.max - r.min) as f64
                    }
                }
                (ParamKind::Float(r), Some(Value::Float(x)), Some(Value::Float(y))) => {
                    if r.log_scale {
                        let span = (r.max / r.min).ln();
                        if span == 0.0 {
                            0.0
                        } else {
                            (x / y).ln().abs() / span
                        }
                    } else if r.max == r.min {
                        0.0
                    } else {
                        (x - y).abs() / (r.max - r.min)
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
