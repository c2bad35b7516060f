//! Forge tasks: what a tool is tested on. A task is a folder holding `hyper-task.toml` (its
//! name, what the tool gets and returns, how answers are compared, the suite's license) and
//! `cases.jsonl` (one case per line), with the suite's SOURCE.md — the format is documented
//! in `domains/forge/README.md`. The five built-in tasks are such folders under
//! `domains/forge/`, compiled into the binary; anyone can install more (`install`), each
//! pinned by the SHA-256 of its cases so that pass rates journaled on it stay comparable.
//!
//! A task folder may come from a stranger: every file is bounded in size, every case is
//! checked when loaded, and an installed task whose cases no longer hash to its pin is
//! refused rather than scored.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ForgeError;

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
    /// Accept with exactly these bytes.
    Bytes(Vec<u8>),
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

/// How a tool's output is compared with a case's `expect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compare {
    /// Byte for byte (`expect` is text, or `expect_base64`).
    Bytes,
    /// As JSON values (key order and number spelling do not matter).
    Json,
    /// As a JSON object, only the manifest's `fields` (or, with none listed, the fields the
    /// case's `expect` holds).
    Fields,
    /// As html5lib tokenizer tokens, adjacent `Character` tokens merged on both sides.
    Tokens,
}

/// `hyper-task.toml`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskManifest {
    /// What a tool's `describe().task` says (a-z, 0-9, -).
    pub name: String,
    /// One line: where the cases come from and how many there are.
    pub suite: String,
    /// What the tool gets and must return, in words (shown by `hyper forge tasks`).
    pub protocol: String,
    pub compare: Compare,
    /// With `compare = "fields"`: the fields judged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The suite's license (SPDX id or words), as its SOURCE.md states it.
    pub license: String,
    /// The cases file, beside the manifest.
    #[serde(default = "default_cases")]
    pub cases: String,
}

fn default_cases() -> String {
    CASES_FILE.into()
}

pub const MANIFEST_FILE: &str = "hyper-task.toml";
pub const CASES_FILE: &str = "cases.jsonl";
pub const LOCK_FILE: &str = "hyper-task.lock";
/// Files an install copies besides the manifest and the cases.
const COPIED: &[&str] = &["SOURCE.md", "LICENSE", "README.md"];

/// Bounds on a task folder: a stranger's task must not exhaust memory or the terminal.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 10;
pub const MAX_CASES_BYTES: u64 = 64 << 20;
pub const MAX_DOC_BYTES: u64 = 1 << 20;
pub const MAX_CASES: usize = 100_000;
/// html5lib's longest test names one case with 970 characters.
pub const MAX_ID_CHARS: usize = 1024;
const MAX_SUITE_CHARS: usize = 300;
const MAX_PROTOCOL_CHARS: usize = 4000;
const MAX_FIELDS: usize = 64;

/// Where a task comes from.
#[derive(Clone, Debug)]
pub enum Origin {
    BuiltIn,
    /// Installed under `$HYPER_HOME/forge-tasks/NAME`, pinned by its lock.
    Installed {
        dir: PathBuf,
        lock: TaskLock,
    },
}

/// `hyper-task.lock`, written at install.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskLock {
    pub suite_sha256: String,
    pub cases: usize,
    pub source: String,
    pub installed_at: String,
}

/// A loaded task: its manifest's words, its checked cases and their hash.
#[derive(Clone, Debug)]
pub struct Task {
    pub name: String,
    pub suite: String,
    pub protocol: String,
    pub compare: Compare,
    pub license: String,
    pub origin: Origin,
    cases: Vec<Case>,
    suite_hash: String,
}

macro_rules! built_in {
    ($($dir:literal),*) => {
        &[$((
            $dir,
            include_str!(concat!("../../../domains/forge/", $dir, "/hyper-task.toml")),
            include_str!(concat!("../../../domains/forge/", $dir, "/cases.jsonl")),
        )),*]
    };
}

/// The built-in tasks' manifests and cases, compiled in (`hyper forge test` works offline
/// from any folder).
const BUILT_IN: &[(&str, &str, &str)] = built_in!(
    "json-parse",
    "csv-parse",
    "url-parse",
    "html-entities",
    "format-validate"
);

/// The built-in task names (reserved: an installed task cannot take one).
pub fn built_in_names() -> Vec<&'static str> {
    BUILT_IN.iter().map(|(name, _, _)| *name).collect()
}

/// Every built-in task. They are compiled in, so an error here is a build mistake (a test
/// loads them all).
pub fn built_in() -> Result<Vec<Task>, ForgeError> {
    BUILT_IN
        .iter()
        .map(|(dir, manifest, cases)| {
            let at = format!("domains/forge/{dir}");
            let manifest = parse_manifest(manifest, &at)?;
            Task::new(manifest, cases, &at, Origin::BuiltIn)
        })
        .collect()
}

/// A built-in task by name.
pub fn find(name: &str) -> Result<Task, ForgeError> {
    built_in()?
        .into_iter()
        .find(|t| t.name == name)
        .ok_or_else(|| unknown(name, None))
}

/// A built-in or installed task by name; an installed one is checked against its pin.
pub fn find_in(home: &Path, name: &str) -> Result<Task, ForgeError> {
    if built_in_names().contains(&name) {
        return find(name);
    }
    let dir = installed_dir(home).join(name);
    if !valid_name(name) || !dir.join(LOCK_FILE).is_file() {
        return Err(unknown(name, Some(home)));
    }
    load_installed(&dir)
}

/// Built-in tasks, then installed ones by name. An installed task that fails its checks is
/// returned as the error it gives, so a listing can say what is wrong with it.
pub fn all(home: &Path) -> Result<Vec<Result<Task, ForgeError>>, ForgeError> {
    let mut tasks: Vec<_> = built_in()?.into_iter().map(Ok).collect();
    tasks.extend(
        installed_names(home)
            .iter()
            .map(|n| load_installed(&installed_dir(home).join(n))),
    );
    Ok(tasks)
}

fn unknown(name: &str, home: Option<&Path>) -> ForgeError {
    let mut known: Vec<String> = built_in_names().into_iter().map(String::from).collect();
    if let Some(home) = home {
        known.extend(installed_names(home));
    }
    ForgeError::UnknownTask {
        name: name.to_string(),
        known: known.join(", "),
    }
}

/// Where installed tasks live.
pub fn installed_dir(home: &Path) -> PathBuf {
    home.join("forge-tasks")
}

fn installed_names(home: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(installed_dir(home))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(LOCK_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| valid_name(n))
        .collect();
    names.sort();
    names
}

pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn bad(at: &str, message: impl std::fmt::Display) -> ForgeError {
    ForgeError::Suite(format!("{at}: {message}"))
}

fn parse_manifest(text: &str, at: &str) -> Result<TaskManifest, ForgeError> {
    let at = format!("{at}/{MANIFEST_FILE}");
    let m: TaskManifest = toml::from_str(text).map_err(|e| bad(&at, e.message()))?;
    if !valid_name(&m.name) {
        return Err(bad(
            &at,
            format!(
                "name `{}` must start with a-z and use only a-z, 0-9 and - (at most 64)",
                m.name
            ),
        ));
    }
    for (field, text, max) in [
        ("suite", &m.suite, MAX_SUITE_CHARS),
        ("protocol", &m.protocol, MAX_PROTOCOL_CHARS),
        ("license", &m.license, MAX_SUITE_CHARS),
    ] {
        if text.trim().is_empty() {
            return Err(bad(&at, format!("`{field}` is empty")));
        }
        if text.chars().count() > max || text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(bad(
                &at,
                format!("`{field}` must be at most {max} characters, without control characters"),
            ));
        }
    }
    if m.fields.len() > MAX_FIELDS || m.fields.iter().any(|f| f.is_empty() || f.len() > 64) {
        return Err(bad(
            &at,
            format!("`fields` lists at most {MAX_FIELDS} names of 1 to 64 bytes"),
        ));
    }
    if !m.fields.is_empty() && m.compare != Compare::Fields {
        return Err(bad(&at, "`fields` is only read with compare = \"fields\""));
    }
    if m.cases.is_empty() || m.cases.contains(['/', '\\']) || m.cases.starts_with('.') {
        return Err(bad(
            &at,
            format!(
                "`cases` must name a file beside the manifest, not `{}`",
                m.cases
            ),
        ));
    }
    Ok(m)
}

impl Task {
    fn new(
        manifest: TaskManifest,
        cases_text: &str,
        at: &str,
        origin: Origin,
    ) -> Result<Task, ForgeError> {
        let cases = parse_cases(&manifest, cases_text, &format!("{at}/{}", manifest.cases))?;
        let suite_hash = suite_hash(&manifest.name, &cases);
        Ok(Task {
            name: manifest.name,
            suite: manifest.suite,
            protocol: manifest.protocol,
            compare: manifest.compare,
            license: manifest.license,
            origin,
            cases,
            suite_hash,
        })
    }

    /// Every case of the task, in the file's order.
    pub fn cases(&self) -> &[Case] {
        &self.cases
    }

    /// SHA-256 over the task name and every case: the "evaluator hash" a result is pinned to.
    pub fn suite_hash(&self) -> &str {
        &self.suite_hash
    }

    pub fn is_built_in(&self) -> bool {
        matches!(self.origin, Origin::BuiltIn)
    }
}

/// SHA-256 over the task name and every case (id, input and expectation, the comparison
/// mode included through the expectation's kind).
pub fn suite_hash(name: &str, cases: &[Case]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    for case in cases {
        h.update((case.id.len() as u64).to_le_bytes());
        h.update(case.id.as_bytes());
        h.update((case.input.len() as u64).to_le_bytes());
        h.update(&case.input);
        h.update(format!("{:?}", case.expected).as_bytes());
    }
    hex::encode(h.finalize())
}

/// The keys a case line may hold.
const CASE_KEYS: &[&str] = &[
    "id",
    "input",
    "input_json",
    "input_base64",
    "expect",
    "expect_base64",
    "refuse",
    "either",
];

fn parse_cases(m: &TaskManifest, text: &str, at: &str) -> Result<Vec<Case>, ForgeError> {
    let mut cases = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("{at} line {}", n + 1);
        if cases.len() == MAX_CASES {
            return Err(bad(&at, format!("more than {MAX_CASES} cases")));
        }
        let case = parse_case(m, line, &at)?;
        if !ids.insert(case.id.clone()) {
            return Err(bad(&at, format!("the id {:?} is used twice", case.id)));
        }
        cases.push(case);
    }
    if cases.is_empty() {
        return Err(bad(at, "no cases"));
    }
    Ok(cases)
}

fn parse_case(m: &TaskManifest, line: &str, at: &str) -> Result<Case, ForgeError> {
    let obj: Map<String, Value> =
        serde_json::from_str(line).map_err(|e| bad(at, format!("not a JSON object: {e}")))?;
    if let Some(k) = obj.keys().find(|k| !CASE_KEYS.contains(&k.as_str())) {
        return Err(bad(
            at,
            format!("unknown key `{k}` (a case has: {})", CASE_KEYS.join(", ")),
        ));
    }
    let id = match obj.get("id") {
        Some(Value::String(id)) if !id.is_empty() && id.chars().count() <= MAX_ID_CHARS && !id.chars().any(char::is_control) => id.clone(),
        _ => return Err(bad(at, format!("`id` must be a string of 1 to {MAX_ID_CHARS} characters, without control characters"))),
    };
    let at = format!("{at} ({id:?})");
    let input = case_input(&obj, &at)?;
    let expected = case_expected(m, &obj, &at)?;
    Ok(Case {
        id,
        input,
        expected,
    })
}

fn one_of<'a>(
    obj: &'a Map<String, Value>,
    keys: &[&'static str],
    at: &str,
) -> Result<(&'static str, &'a Value), ForgeError> {
    let present: Vec<_> = keys
        .iter()
        .filter_map(|k| obj.get(*k).map(|v| (*k, v)))
        .collect();
    match present[..] {
        [one] => Ok(one),
        _ => Err(bad(
            at,
            format!("a case holds exactly one of {}", keys.join(", ")),
        )),
    }
}

fn base64_of(v: &Value, key: &str, at: &str) -> Result<Vec<u8>, ForgeError> {
    let text = v
        .as_str()
        .ok_or_else(|| bad(at, format!("`{key}` must be a string")))?;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| bad(at, format!("`{key}` is not base64: {e}")))
}

fn case_input(obj: &Map<String, Value>, at: &str) -> Result<Vec<u8>, ForgeError> {
    match one_of(obj, &["input", "input_json", "input_base64"], at)? {
        ("input", Value::String(text)) => Ok(text.as_bytes().to_vec()),
        ("input", _) => Err(bad(
            at,
            "`input` must be a string (use input_json for a JSON value)",
        )),
        ("input_json", value) => serde_json::to_vec(value).map_err(|e| bad(at, e)),
        (key, value) => base64_of(value, key, at),
    }
}

fn case_expected(
    m: &TaskManifest,
    obj: &Map<String, Value>,
    at: &str,
) -> Result<Expected, ForgeError> {
    let (key, value) = one_of(obj, &["expect", "expect_base64", "refuse", "either"], at)?;
    let want = match (key, value) {
        ("refuse", Value::Bool(true)) => return Ok(Expected::Reject),
        ("either", Value::Bool(true)) => return Ok(Expected::Either),
        ("refuse" | "either", _) => return Err(bad(at, format!("`{key}` can only be true"))),
        ("expect_base64", v) if m.compare == Compare::Bytes => {
            return Ok(Expected::Bytes(base64_of(v, key, at)?))
        }
        ("expect_base64", _) => return Err(bad(at, "`expect_base64` needs compare = \"bytes\"")),
        (_, v) => v,
    };
    match (m.compare, want) {
        (Compare::Bytes, Value::String(text)) => Ok(Expected::Bytes(text.as_bytes().to_vec())),
        (Compare::Bytes, _) => Err(bad(
            at,
            "with compare = \"bytes\", `expect` is text (or use expect_base64)",
        )),
        (Compare::Json, v) => Ok(Expected::Output(v.clone())),
        (Compare::Tokens, Value::Array(tokens)) => {
            Ok(Expected::Tokens(Value::Array(merge_characters(tokens))))
        }
        (Compare::Tokens, _) => Err(bad(
            at,
            "with compare = \"tokens\", `expect` is an array of tokens",
        )),
        (Compare::Fields, Value::Object(fields)) => Ok(Expected::Fields(if m.fields.is_empty() {
            fields.clone()
        } else {
            m.fields
                .iter()
                .filter_map(|f| fields.get(f).map(|v| (f.clone(), v.clone())))
                .collect()
        })),
        (Compare::Fields, _) => Err(bad(at, "with compare = \"fields\", `expect` is an object")),
    }
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

/// One plain file of a task folder, read within `max` bytes. Symlinks are refused: a
/// stranger's folder must not make an install read (and copy) files outside it.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ForgeError> {
    use std::io::Read as _;
    let at = path.display().to_string();
    let meta = std::fs::symlink_metadata(path).map_err(|e| bad(&at, e))?;
    if !meta.file_type().is_file() {
        return Err(bad(&at, "is not a plain file (symlinks are not followed)"));
    }
    if meta.len() > max {
        return Err(bad(
            &at,
            format!("is {} bytes, more than the limit of {max}", meta.len()),
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(max + 1).read_to_end(&mut bytes))
        .map_err(|e| bad(&at, e))?;
    if bytes.len() as u64 > max {
        return Err(bad(
            &at,
            format!("grew past the limit of {max} bytes while read"),
        ));
    }
    Ok(bytes)
}

fn read_text(path: &Path, max: u64) -> Result<String, ForgeError> {
    String::from_utf8(read_bounded(path, max)?)
        .map_err(|_| bad(&path.display().to_string(), "is not UTF-8"))
}

/// Loads and checks a task folder (not installed: no pin to check).
pub fn load_dir(dir: &Path) -> Result<(TaskManifest, Task), ForgeError> {
    let at = dir.display().to_string();
    let manifest = parse_manifest(
        &read_text(&dir.join(MANIFEST_FILE), MAX_MANIFEST_BYTES)?,
        &at,
    )?;
    let cases = read_text(&dir.join(&manifest.cases), MAX_CASES_BYTES)?;
    let task = Task::new(manifest.clone(), &cases, &at, Origin::BuiltIn)?;
    Ok((manifest, task))
}

fn load_installed(dir: &Path) -> Result<Task, ForgeError> {
    let lock_path = dir.join(LOCK_FILE);
    let lock: TaskLock = toml::from_str(&read_text(&lock_path, MAX_MANIFEST_BYTES)?)
        .map_err(|e| bad(&lock_path.display().to_string(), e.message()))?;
    let (_, task) = load_dir(dir)?;
    if task.suite_hash != lock.suite_sha256 {
        return Err(ForgeError::Changed {
            name: task.name,
            pinned: lock.suite_sha256,
            now: task.suite_hash,
        });
    }
    Ok(Task {
        origin: Origin::Installed {
            dir: dir.to_path_buf(),
            lock,
        },
        ..task
    })
}

/// Checks the task folder at `source` and installs a copy under `$HYPER_HOME/forge-tasks`,
/// pinned by the hash of its cases. Needs a SOURCE.md (where the suite comes from) and a
/// license; refuses a built-in name, and an installed one unless `replace`.
pub fn install(home: &Path, source: &Path, replace: bool) -> Result<Task, ForgeError> {
    let (manifest, task) = load_dir(source)?;
    let at = source.display().to_string();
    if built_in_names().contains(&task.name.as_str()) {
        return Err(bad(
            &at,
            format!(
                "`{}` is a built-in task; give yours another name",
                task.name
            ),
        ));
    }
    if !source.join("SOURCE.md").is_file() {
        return Err(bad(&at, "has no SOURCE.md: say where the cases come from, their commit or version, and their license"));
    }
    let root = installed_dir(home);
    let target = root.join(&task.name);
    if target.exists() && !replace {
        return Err(bad(&at, format!("a task `{}` is already installed at {}: pass --replace to replace it (its results stay pinned to the old hash)", task.name, target.display())));
    }
    std::fs::create_dir_all(&root).map_err(|e| bad(&root.display().to_string(), e))?;
    let staging = root.join(format!(".{}.installing-{}", task.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let copied = (|| -> Result<(), ForgeError> {
        std::fs::create_dir_all(&staging).map_err(|e| bad(&staging.display().to_string(), e))?;
        let mut files = vec![
            (MANIFEST_FILE, MAX_MANIFEST_BYTES),
            (manifest.cases.as_str(), MAX_CASES_BYTES),
        ];
        files.extend(
            COPIED
                .iter()
                .filter(|f| source.join(f).exists())
                .map(|f| (*f, MAX_DOC_BYTES)),
        );
        for (file, max) in files {
            let bytes = read_bounded(&source.join(file), max)?;
            std::fs::write(staging.join(file), bytes).map_err(|e| bad(file, e))?;
        }
        let lock = TaskLock {
            suite_sha256: task.suite_hash.clone(),
            cases: task.cases.len(),
            source: source
                .canonicalize()
                .unwrap_or_else(|_| source.to_path_buf())
                .display()
                .to_string(),
            installed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
        };
        let text = toml::to_string(&lock).map_err(|e| bad(LOCK_FILE, e))?;
        std::fs::write(staging.join(LOCK_FILE), text).map_err(|e| bad(LOCK_FILE, e))?;
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(|e| bad(&target.display().to_string(), e))?;
        }
        std::fs::rename(&staging, &target).map_err(|e| bad(&target.display().to_string(), e))
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    load_installed(&target)
}

/// Removes an installed task (its journaled results stay).
pub fn remove(home: &Path, name: &str) -> Result<PathBuf, ForgeError> {
    if built_in_names().contains(&name) {
        return Err(ForgeError::Suite(format!(
            "`{name}` is a built-in task and cannot be removed"
        )));
    }
    let dir = installed_dir(home).join(name);
    if !valid_name(name) || !dir.join(LOCK_FILE).is_file() {
        return Err(unknown(name, Some(home)));
    }
    std::fs::remove_dir_all(&dir).map_err(|e| bad(&dir.display().to_string(), e))?;
    Ok(dir)
}

/// A case as a `cases.jsonl` line (`id` first; text inputs and outputs stay readable).
pub fn case_line(case: &Case, json_input: bool) -> String {
    let text = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .ok()
            .map(|s| Value::String(s.to_string()))
    };
    let b64 = |bytes: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    let parsed = serde_json::from_slice::<Value>(&case.input)
        .ok()
        .filter(|v| json_input && serde_json::to_vec(v).is_ok_and(|b| b == case.input));
    let (input_key, input) = match (parsed, text(&case.input)) {
        (Some(v), _) => ("input_json", v),
        (None, Some(t)) => ("input", t),
        (None, None) => ("input_base64", b64(&case.input)),
    };
    let (expect_key, expect) = match &case.expected {
        Expected::Output(v) | Expected::Tokens(v) => ("expect", v.clone()),
        Expected::Fields(m) => ("expect", Value::Object(m.clone())),
        Expected::Bytes(b) => match text(b) {
            Some(t) => ("expect", t),
            None => ("expect_base64", b64(b)),
        },
        Expected::Reject => ("refuse", Value::Bool(true)),
        Expected::Either => ("either", Value::Bool(true)),
    };
    format!(
        "{{\"id\":{},\"{input_key}\":{input},\"{expect_key}\":{expect}}}",
        Value::String(case.id.clone())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each shipped `cases.jsonl` is its upstream suite converted, case for case; with
    /// HYPER_FORGE_WRITE_CASES=1 this rewrites them (after a suite update).
    #[test]
    fn built_in_cases_are_their_upstream_suites() {
        let write = std::env::var_os("HYPER_FORGE_WRITE_CASES").is_some();
        for name in built_in_names() {
            let upstream = crate::upstream::cases(name).expect("upstream");
            let json_input = matches!(name, "url-parse" | "format-validate");
            if write {
                let text: String = upstream
                    .iter()
                    .map(|c| case_line(c, json_input) + "\n")
                    .collect();
                let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join(format!("../../domains/forge/{name}/{CASES_FILE}"));
                std::fs::write(path, text).expect("write cases");
                continue;
            }
            let task = find(name).expect("built-in task");
            assert_eq!(task.cases().len(), upstream.len(), "{name}");
            for (a, b) in task.cases().iter().zip(&upstream) {
                assert_eq!(
                    (&a.id, &a.input, &a.expected),
                    (&b.id, &b.input, &b.expected),
                    "{name}"
                );
            }
            assert_eq!(task.suite_hash(), suite_hash(name, &upstream));
        }
    }

    fn manifest(compare: Compare) -> TaskManifest {
        TaskManifest {
            name: "t".into(),
            suite: "s".into(),
            protocol: "p".into(),
            compare,
            fields: vec![],
            license: "MIT".into(),
            cases: CASES_FILE.into(),
        }
    }

    #[test]
    fn every_kind_of_case_line_reads_back_as_written() {
        let m = manifest(Compare::Bytes);
        let cases = parse_cases(
            &m,
            "{\"id\":\"a\",\"input\":\"x\",\"expect\":\"y\"}\n\n\
             {\"id\":\"b\",\"input_base64\":\"/wA=\",\"expect_base64\":\"AP8=\"}\n\
             {\"id\":\"c\",\"input_json\":{\"k\":[1]},\"refuse\":true}\n\
             {\"id\":\"d\",\"input\":\"\",\"either\":true}\n",
            "t",
        )
        .expect("cases");
        assert_eq!(cases[0].expected, Expected::Bytes(b"y".to_vec()));
        assert_eq!(
            (cases[1].input.clone(), cases[1].expected.clone()),
            (vec![0xff, 0], Expected::Bytes(vec![0, 0xff]))
        );
        assert_eq!(
            (cases[2].input.as_slice(), &cases[2].expected),
            (&b"{\"k\":[1]}"[..], &Expected::Reject)
        );
        assert_eq!(cases[3].expected, Expected::Either);
        for case in &cases {
            let again = parse_case(&m, &case_line(case, true), "t").expect("line");
            assert_eq!(
                (again.id, again.input, again.expected),
                (case.id.clone(), case.input.clone(), case.expected.clone())
            );
        }
        // JSON null is an expectation like any other (JSONTestSuite has `null` documents).
        let json = parse_case(
            &manifest(Compare::Json),
            "{\"id\":\"n\",\"input\":\"null\",\"expect\":null}",
            "t",
        );
        assert_eq!(json.expect("null").expected, Expected::Output(Value::Null));
        // Listed fields only.
        let fields = TaskManifest {
            fields: vec!["href".into()],
            ..manifest(Compare::Fields)
        };
        let case = parse_case(
            &fields,
            "{\"id\":\"u\",\"input\":\"\",\"expect\":{\"href\":\"h\",\"x\":1}}",
            "t",
        )
        .expect("fields");
        assert_eq!(
            case.expected,
            Expected::Fields(
                serde_json::json!({"href": "h"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
            )
        );
    }

    #[test]
    fn malformed_cases_are_named_by_line_and_refused() {
        let m = manifest(Compare::Bytes);
        for (text, words) in [
            ("{\"id\":\"a\",\"input\":\"x\"}", "exactly one of expect"),
            ("{\"id\":\"a\",\"input\":\"x\",\"input_json\":1,\"expect\":\"y\"}", "exactly one of input"),
            ("{\"id\":\"a\",\"input\":\"x\",\"expect\":1}", "`expect` is text"),
            ("{\"id\":\"a\",\"input\":1,\"expect\":\"y\"}", "`input` must be a string"),
            ("{\"id\":\"a\",\"input\":\"x\",\"refuse\":false}", "can only be true"),
            ("{\"id\":\"a\",\"input_base64\":\"!!\",\"refuse\":true}", "not base64"),
            ("{\"id\":\"a\",\"input\":\"x\",\"expect\":\"y\",\"note\":1}", "unknown key `note`"),
            ("{\"id\":\"a\\u001b[2J\",\"input\":\"x\",\"refuse\":true}", "without control characters"),
            ("[1]", "not a JSON object"),
            ("{\"id\":\"a\",\"input\":\"x\",\"refuse\":true}\n{\"id\":\"a\",\"input\":\"y\",\"refuse\":true}", "line 2: the id \"a\" is used twice"),
            ("\n\n", "no cases"),
        ] {
            let err = parse_cases(&m, text, "t").expect_err(text).to_string();
            assert!(err.contains(words), "{text}: {err}");
        }
        let long = format!(
            "{{\"id\":\"{}\",\"input\":\"x\",\"refuse\":true}}",
            "a".repeat(MAX_ID_CHARS + 1)
        );
        assert!(parse_cases(&m, &long, "t").is_err());
        let many: String = (0..=MAX_CASES)
            .map(|i| format!("{{\"id\":\"{i}\",\"input\":\"\",\"refuse\":true}}\n"))
            .collect();
        assert!(parse_cases(&m, &many, "t")
            .expect_err("too many")
            .to_string()
            .contains("more than 100000 cases"));
    }

    #[test]
    fn manifests_are_checked() {
        let ok = "name = \"t\"\nsuite = \"s\"\nprotocol = \"p\"\ncompare = \"json\"\nlicense = \"MIT\"\n";
        assert!(parse_manifest(ok, "t").is_ok());
        for (text, words) in [
            (ok.replace("\"t\"", "\"../t\""), "must start with a-z"),
            (ok.replace("json", "xml"), "unknown variant"),
            (
                ok.replace("license = \"MIT\"", "license = \" \""),
                "`license` is empty",
            ),
            (
                format!("{ok}cases = \"../../etc/passwd\"\n"),
                "must name a file beside",
            ),
            (format!("{ok}fields = [\"a\"]\n"), "only read with compare"),
            (format!("{ok}extra = 1\n"), "unknown field"),
        ] {
            let err = parse_manifest(&text, "t").expect_err(&text).to_string();
            assert!(err.contains(words), "{text}: {err}");
        }
    }
}
