//! Declaring a parameter space and reading typed values from an experiment's parameters.

use crate::bindings::hyper::research::types::{
    ChoiceSet, Error, FloatRange, IntRange, Param, ParamKind, ParamValue,
};

/// Builders for the entries of a declared parameter space.
pub struct ParamSpec;

impl ParamSpec {
    /// An integer in `min..=max`.
    pub fn int(
        name: &str,
        description: &str,
        min: i64,
        max: i64,
        default: i64,
    ) -> crate::bindings::hyper::research::types::ParamSpec {
        spec(
            name,
            description,
            ParamKind::Int(IntRange { min, max, default }),
        )
    }

    /// A float in `min..=max`, mutated additively.
    pub fn float(
        name: &str,
        description: &str,
        min: f64,
        max: f64,
        default: f64,
    ) -> crate::bindings::hyper::research::types::ParamSpec {
        float_spec(name, description, min, max, default, false)
    }

    /// A positive float in `min..=max`, mutated multiplicatively (learning rates and such).
    pub fn log_float(
        name: &str,
        description: &str,
        min: f64,
        max: f64,
        default: f64,
    ) -> crate::bindings::hyper::research::types::ParamSpec {
        float_spec(name, description, min, max, default, true)
    }

    /// One of `options`.
    pub fn choice(
        name: &str,
        description: &str,
        options: &[&str],
        default: &str,
    ) -> crate::bindings::hyper::research::types::ParamSpec {
        spec(
            name,
            description,
            ParamKind::Choice(ChoiceSet {
                options: options.iter().map(|o| o.to_string()).collect(),
                default: default.to_string(),
            }),
        )
    }

    /// An on/off switch.
    pub fn flag(
        name: &str,
        description: &str,
        default: bool,
    ) -> crate::bindings::hyper::research::types::ParamSpec {
        spec(name, description, ParamKind::Flag(default))
    }
}

fn spec(
    name: &str,
    description: &str,
    kind: ParamKind,
) -> crate::bindings::hyper::research::types::ParamSpec {
    crate::bindings::hyper::research::types::ParamSpec {
        name: name.to_string(),
        description: description.to_string(),
        kind,
    }
}

fn float_spec(
    name: &str,
    description: &str,
    min: f64,
    max: f64,
    default: f64,
    log_scale: bool,
) -> crate::bindings::hyper::research::types::ParamSpec {
    spec(
        name,
        description,
        ParamKind::Float(FloatRange {
            min,
            max,
            default,
            log_scale,
        }),
    )
}

/// The parameters of one experiment, with typed getters that fail with `invalid-params`.
#[derive(Clone, Debug)]
pub struct Params(pub Vec<Param>);

impl Params {
    fn get(&self, name: &str) -> Result<&ParamValue, Error> {
        self.0
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
            .ok_or_else(|| Error::InvalidParams(format!("missing parameter `{name}`")))
    }

    pub fn int(&self, name: &str) -> Result<i64, Error> {
        match self.get(name)? {
            ParamValue::Int(v) => Ok(*v),
            other => Err(wrong_kind(name, "int", other)),
        }
    }

    pub fn float(&self, name: &str) -> Result<f64, Error> {
        match self.get(name)? {
            ParamValue::Float(v) => Ok(*v),
            ParamValue::Int(v) => Ok(*v as f64),
            other => Err(wrong_kind(name, "float", other)),
        }
    }

    pub fn choice(&self, name: &str) -> Result<&str, Error> {
        match self.get(name)? {
            ParamValue::Choice(v) => Ok(v.as_str()),
            other => Err(wrong_kind(name, "choice", other)),
        }
    }

    pub fn flag(&self, name: &str) -> Result<bool, Error> {
        match self.get(name)? {
            ParamValue::Flag(v) => Ok(*v),
            other => Err(wrong_kind(name, "flag", other)),
        }
    }
}

fn wrong_kind(name: &str, want: &str, got: &ParamValue) -> Error {
    Error::InvalidParams(format!("parameter `{name}` should be {want}, got {got:?}"))
}
