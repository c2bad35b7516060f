//! How the built-in tasks' `cases.jsonl` are made from the upstream suites copied beside
//! them (`domains/forge/<task>/`, see each SOURCE.md). Only tests use it: one proves each
//! shipped `cases.jsonl` is its upstream suite converted, case for case (so the built-in
//! tasks' suite hashes, and every pass rate journaled on them, are unchanged), and with
//! `HYPER_FORGE_WRITE_CASES=1` the same test rewrites the files after a suite update.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::tasks::{Case, Expected};
use crate::ForgeError;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../domains/forge")
}

/// The upstream suite of a built-in task, converted.
pub(crate) fn cases(task: &str) -> Result<Vec<Case>, ForgeError> {
    match task {
        "json-parse" => json_cases(),
        "csv-parse" => csv_cases(),
        "url-parse" => url_cases(),
        "html-entities" => html_cases(),
        "format-validate" => format_cases(),
        other => Err(ForgeError::Suite(format!(
            "task {other} has no upstream converter"
        ))),
    }
}

/// A named file of an upstream suite, read.
struct SuiteFile {
    name: String,
    bytes: Vec<u8>,
}

impl SuiteFile {
    fn contents(&self) -> &[u8] {
        &self.bytes
    }
}

fn file(path: &str) -> Result<Vec<u8>, ForgeError> {
    std::fs::read(root().join(path)).map_err(|e| ForgeError::Suite(format!("{path}: {e}")))
}

fn json_file(path: &str) -> Result<Value, ForgeError> {
    serde_json::from_slice(&file(path)?)
        .map_err(|e| ForgeError::Suite(format!("{path} is not JSON: {e}")))
}

/// Files of a suite folder, sorted by name.
fn files(dir: &str) -> Result<Vec<SuiteFile>, ForgeError> {
    let read = std::fs::read_dir(root().join(dir))
        .map_err(|e| ForgeError::Suite(format!("{dir}: {e}")))?;
    let mut files = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| ForgeError::Suite(e.to_string()))?;
        if !entry
            .file_type()
            .map_err(|e| ForgeError::Suite(e.to_string()))?
            .is_file()
        {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let bytes =
            std::fs::read(entry.path()).map_err(|e| ForgeError::Suite(format!("{name}: {e}")))?;
        files.push(SuiteFile { name, bytes });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn name_of(f: &SuiteFile) -> String {
    f.name.clone()
}

fn json_cases() -> Result<Vec<Case>, ForgeError> {
    let mut cases = Vec::new();
    for f in &files("json-parse/test_parsing")? {
        let id = name_of(f);
        let expected = match id.get(..2) {
            // The reference value is what a strict parser (serde_json) reads.
            Some("y_") => Expected::Output(serde_json::from_slice(f.contents()).map_err(|e| {
                ForgeError::Suite(format!("{id}: the reference parser cannot read it: {e}"))
            })?),
            Some("n_") => Expected::Reject,
            Some("i_") => Expected::Either,
            _ => continue,
        };
        cases.push(Case {
            id,
            input: f.contents().to_vec(),
            expected,
        });
    }
    Ok(cases)
}

fn csv_cases() -> Result<Vec<Case>, ForgeError> {
    let mut cases = Vec::new();
    for f in &files("csv-parse/csvs")? {
        let name = name_of(f);
        let stem = name.trim_end_matches(".csv");
        cases.push(Case {
            id: stem.to_string(),
            input: f.contents().to_vec(),
            expected: Expected::Output(json_file(&format!("csv-parse/json/{stem}.json"))?),
        });
    }
    Ok(cases)
}

const URL_FIELDS: &[&str] = &[
    "href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname",
    "search", "hash",
];

fn url_cases() -> Result<Vec<Case>, ForgeError> {
    let data = json_file("url-parse/urltestdata.json")?;
    let entries = data
        .as_array()
        .ok_or_else(|| ForgeError::Suite("urltestdata.json is not an array".into()))?;
    let mut cases = Vec::new();
    // Strings in the array are section comments.
    for (i, entry) in entries.iter().enumerate() {
        let Some(obj) = entry.as_object() else {
            continue;
        };
        let Some(input) = obj.get("input").and_then(Value::as_str) else {
            continue;
        };
        let base = obj.get("base").cloned().unwrap_or(Value::Null);
        let expected = if obj.get("failure").and_then(Value::as_bool) == Some(true) {
            Expected::Reject
        } else {
            Expected::Fields(
                URL_FIELDS
                    .iter()
                    .filter_map(|k| obj.get(*k).map(|v| (k.to_string(), v.clone())))
                    .collect(),
            )
        };
        cases.push(Case {
            id: format!("urltestdata[{i}] {input:?}"),
            input: serde_json::to_vec(&json!({"input": input, "base": base}))
                .map_err(|e| ForgeError::Suite(e.to_string()))?,
            expected,
        });
    }
    Ok(cases)
}

fn html_cases() -> Result<Vec<Case>, ForgeError> {
    let mut cases = Vec::new();
    for file_name in [
        "entities.test",
        "namedEntities.test",
        "numericEntities.test",
    ] {
        let data = json_file(&format!("html-entities/{file_name}"))?;
        let tests = data
            .get("tests")
            .and_then(Value::as_array)
            .ok_or_else(|| ForgeError::Suite(format!("{file_name} has no tests array")))?;
        for (i, test) in tests.iter().enumerate() {
            let (Some(input), Some(output)) = (
                test.get("input").and_then(Value::as_str),
                test.get("output").and_then(Value::as_array),
            ) else {
                return Err(ForgeError::Suite(format!(
                    "{file_name} test {i} lacks input/output"
                )));
            };
            cases.push(Case {
                id: format!("{file_name}[{i}] {input:?}"),
                input: input.as_bytes().to_vec(),
                expected: Expected::Tokens(Value::Array(crate::tasks::merge_characters(output))),
            });
        }
    }
    Ok(cases)
}

fn format_cases() -> Result<Vec<Case>, ForgeError> {
    let mut cases = Vec::new();
    for f in &files("format-validate")? {
        let name = name_of(f);
        if !name.ends_with(".json") {
            continue;
        }
        let groups: Value = serde_json::from_slice(f.contents())
            .map_err(|e| ForgeError::Suite(format!("{name}: {e}")))?;
        let mut n = 0usize;
        for group in groups.as_array().into_iter().flatten() {
            let format = group
                .pointer("/schema/format")
                .and_then(Value::as_str)
                .ok_or_else(|| ForgeError::Suite(format!("{name}: a group without format")))?;
            for test in group
                .get("tests")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                n += 1;
                let valid = test
                    .get("valid")
                    .and_then(Value::as_bool)
                    .ok_or_else(|| ForgeError::Suite(format!("{name}: a test without valid")))?;
                let data = test.get("data").cloned().unwrap_or(Value::Null);
                let description = test
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                cases.push(Case {
                    id: format!("{format}[{n}] {description}"),
                    input: serde_json::to_vec(&json!({"format": format, "data": data}))
                        .map_err(|e| ForgeError::Suite(e.to_string()))?,
                    expected: Expected::Output(json!({ "valid": valid })),
                });
            }
        }
    }
    Ok(cases)
}
