//! A minimal hyper tool skill in Rust: `hyper skill new NAME --task TASK` starts from this.
//! The skill-forge domain calls `call` once per test case, inside the sandbox, and scores the
//! outputs against the task's conformance suite.

use hyper_sdk::prelude::*;

struct MyTool;

impl Tool for MyTool {
    fn info() -> ToolInfo {
        ToolInfo {
            name: "{{name}}".into(),
            version: "0.1.0".into(),
            task: "{{task}}".into(),
            description: "echoes its input (template)".into(),
        }
    }

    fn call(input: &[u8]) -> Result<Vec<u8>, Error> {
        if input.len() > 16 << 20 {
            return Err(Error::InvalidParams("input larger than 16 MiB".into()));
        }
        Ok(input.to_vec())
    }
}

register_tool!(MyTool);
