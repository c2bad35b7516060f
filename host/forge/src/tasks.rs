//! The forge's tasks: each turns one third-party conformance suite (copied under
//! `domains/forge/<task>/`, see each SOURCE.md) into cases — an input for the tool and what
//! a correct tool answers — and says how an answer is judged.

use include_dir::{include_dir, Dir};
use serde_json::{json, Map, Value};

use crate::ForgeError;

static SUITES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../domains/forge");

/// What a correct tool does with a case.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// Accept (return `Ok`), with this JSON value as output.
    Output(Value),
    /// Accept with these html5lib tokens; adjacent `Character` tokens of the output are
    /// merged before comparing (the suite's own are merged when loading).
    Tokens(Value),
    /// Accept; the output must be a JSON object holding each of these fields with this value
    /// (fields the suite does not list are not judged).
    Fields(Map<String, Value>),
    /// Refuse with an error (an `error` result; a trap or timeout is not a refusal).
    Reject,
    /// The suite allows either answer: reported separately, not scored.
    Either,
}

#[derive(Clone, Debug)]
pub struct Case {
    /// Stable name within the task (file name, or file and index).
    pub id: String,
    pub input: Vec<u8>,
    pub expected: Expected,
}

/// A forge task: its name (what a tool's `describe().task` says), the suite and the protocol.
#[derive(Clone, Copy, Debug)]
pub struct Task {
    pub name: &'static str,
    pub suite: &'static str,
    /// What the tool gets and must return, in words (shown by `hyper forge tasks`).
    pub protocol: &'static str,
}

pub const TASKS: &[Task] = &[
    Task {
        name: "json-parse",
        suite: "JSONTestSuite test_parsing (nst, MIT): 95 y_, 188 n_, 35 i_",
        protocol: "input: a document's raw bytes. Accept with the parsed value as JSON (compared \
                   as values, duplicate keys last-wins) or refuse with an error. y_ must be \
                   accepted, n_ refused; i_ is reported, not scored.",
    },
    Task {
        name: "csv-parse",
        suite: "csv-spectrum (maxogden, BSD-2-Clause): 11 files",
        protocol: "input: CSV bytes whose first record is the header. Output: a JSON array with \
                   one object per later record, header -> field (all strings).",
    },
    Task {
        name: "url-parse",
        suite: "WHATWG URL urltestdata.json (wpt, W3C BSD): 891 cases",
        protocol: "input: {\"input\": string, \"base\": string|null}. Output: a JSON object with \
                   href, origin, protocol, username, password, host, hostname, port, pathname, \
                   search, hash as the URL API gives them; refuse with an error where the URL \
                   parser fails.",
    },
    Task {
        name: "html-entities",
        suite: "html5lib tokenizer tests entities, namedEntities, numericEntities (MIT): 4,626",
        protocol: "input: UTF-8 text tokenized from the data state. Output: the tokens as a JSON \
                   array in html5lib's test format ([\"Character\", text], [\"StartTag\", name, \
                   {attrs}] ...), adjacent characters merged, parse errors left out.",
    },
    Task {
        name: "format-validate",
        suite: "JSON-Schema-Test-Suite draft2020-12 optional/format (MIT): 764 cases",
        protocol: "input: {\"format\": name, \"data\": any JSON}. Output: {\"valid\": bool}, \
                   whether `data` is valid under JSON Schema's `format` assertion (non-strings \
                   are valid; unknown formats are valid).",
    },
];

pub fn find(name: &str) -> Result<&'static Task, ForgeError> {
    TASKS
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| ForgeError::UnknownTask {
            name: name.to_string(),
            known: TASKS.iter().map(|t| t.name).collect::<Vec<_>>().join(", "),
        })
}

/// A suite file's bytes. The suites are compiled in, so a missing file is a build mistake.
fn file(path: &str) -> Result<&'static [u8], ForgeError> {
    SUITES
        .get_file(path)
        .map(|f| f.contents())
        .ok_or_else(|| ForgeError::Suite(format!("{path} is not in the embedded suites")))
}

fn json_file(path: &str) -> Result<Value, ForgeError> {
    serde_json::from_slice(file(path)?)
        .map_err(|e| ForgeError::Suite(format!("{path} is not JSON: {e}")))
}

/// Files of a suite folder, sorted by name.
fn files(dir: &str) -> Result<Vec<&'static include_dir::File<'static>>, ForgeError> {
    let dir = SUITES
        .get_dir(dir)
        .ok_or_else(|| ForgeError::Suite(format!("{dir} is not in the embedded suites")))?;
    let mut files: Vec<_> = dir.files().collect();
    files.sort_by_key(|f| f.path());
    Ok(files)
}

fn name_of(f: &include_dir::File<'_>) -> String {
    f.path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Task {
    /// Every case of the task, in a fixed order.
    pub fn cases(&self) -> Result<Vec<Case>, ForgeError> {
        match self.name {
            "json-parse" => json_cases(),
            "csv-parse" => csv_cases(),
            "url-parse" => url_cases(),
            "html-entities" => html_cases(),
            "format-validate" => format_cases(),
            other => Err(ForgeError::Suite(format!("task {other} has no loader"))),
        }
    }

    /// SHA-256 over the task name and every case: the "evaluator hash" a result is pinned to.
    pub fn suite_hash(&self, cases: &[Case]) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        for case in cases {
            h.update((case.id.len() as u64).to_le_bytes());
            h.update(case.id.as_bytes());
            h.update((case.input.len() as u64).to_le_bytes());
            h.update(&case.input);
            h.update(format!("{:?}", case.expected).as_bytes());
        }
        hex::encode(h.finalize())
    }
}

fn json_cases() -> Result<Vec<Case>, ForgeError> {
    let mut cases = Vec::new();
    for f in files("json-parse/test_parsing")? {
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
    for f in files("csv-parse/csvs")? {
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

/// html5lib's output with adjacent `Character` tokens merged (the tests sometimes split them).
pub(crate) fn merge_characters(tokens: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for token in tokens {
        if let (Some("Character"), Some(text)) = (
            token.get(0).and_then(Value::as_str),
            token.get(1).and_then(Value::as_str),
        ) {
            if let Some(Value::Array(last)) = out.last_mut() {
                if last.first().and_then(Value::as_str) == Some("Character") {
                    if let Some(Value::String(prev)) = last.get_mut(1) {
                        prev.push_str(text);
                        continue;
                    }
                }
            }
        }
        out.push(token.clone());
    }
    out
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
                expected: Expected::Tokens(Value::Array(merge_characters(output))),
            });
        }
    }
    Ok(cases)
}

fn format_cases() -> Result<Vec<Case>, ForgeError> {
    let mut cases = Vec::new();
    for f in files("format-validate")? {
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
