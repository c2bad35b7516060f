//! The evaluator world: the [`Evaluator`] trait and [`register_evaluator!`].

use crate::bindings::exports::hyper::research::metric::{self, Guest};
use crate::bindings::hyper::research::types::{Artifact, Direction, Error, Metric, Split};

/// What an evaluator declares about its primary metric.
#[derive(Clone, Debug)]
pub struct MetricInfo {
    pub name: String,
    pub direction: Direction,
    pub description: String,
}

/// A domain evaluator: the only place a metric is computed.
pub trait Evaluator {
    fn info() -> MetricInfo;

    /// Score `artifact` on `split`; the first metric is the primary one.
    fn score(artifact: &Artifact, split: Split) -> Result<Vec<Metric>, Error>;
}

#[doc(hidden)]
pub struct EvaluatorExport<T>(core::marker::PhantomData<T>);

impl<T: Evaluator> Guest for EvaluatorExport<T> {
    fn describe() -> metric::MetricInfo {
        let info = T::info();
        metric::MetricInfo {
            name: info.name,
            direction: info.direction,
            description: info.description,
        }
    }

    fn score(artifact: Artifact, split: Split) -> Result<Vec<Metric>, Error> {
        T::score(&artifact, split)
    }
}

/// Exports an [`Evaluator`] implementation as this component's `metric` interface.
#[macro_export]
macro_rules! register_evaluator {
    ($evaluator:ty) => {
        type __HyperEvaluatorExport = $crate::EvaluatorExport<$evaluator>;
        $crate::bindings::__export_world!(__HyperEvaluatorExport with_types_in $crate::bindings);
    };
}
