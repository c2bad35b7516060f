//! The tool world: the [`Tool`] trait and [`register_tool!`].

use crate::bindings::exports::hyper::research::tool::{self, Guest};
use crate::bindings::hyper::research::types::Error;

#[derive(Clone, Debug)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    pub task: String,
    pub description: String,
}

/// A tool skill: one function that a forge task tests case by case.
pub trait Tool {
    fn info() -> ToolInfo;
    fn call(input: &[u8]) -> Result<Vec<u8>, Error>;
}

#[doc(hidden)]
pub struct ToolExport<T>(core::marker::PhantomData<T>);

impl<T: Tool> Guest for ToolExport<T> {
    fn describe() -> tool::ToolInfo {
        let info = T::info();
        tool::ToolInfo {
            name: info.name,
            version: info.version,
            task: info.task,
            description: info.description,
        }
    }

    fn call(input: Vec<u8>) -> Result<Vec<u8>, Error> {
        T::call(&input)
    }
}

/// Exports a [`Tool`] implementation as this component's `tool` interface.
#[macro_export]
macro_rules! register_tool {
    ($tool:ty) => {
        type __HyperToolExport = $crate::ToolExport<$tool>;
        $crate::bindings::__export_world!(__HyperToolExport with_types_in $crate::bindings);
    };
}
