//! `hyper skill new` and `hyper skill build`: a skill folder that builds and runs out of the
//! box in Rust, C, Python or JavaScript. The templates and the WIT are compiled into the
//! binary (from `sdk/templates` and `wit/`), so scaffolding works offline and anywhere.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    C,
    Python,
    Js,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::C => "c",
            Lang::Python => "python",
            Lang::Js => "js",
        }
    }
}

const WIT: &[(&str, &str)] = &[
    (
        "types.wit",
        include_str!("../../../wit/since_v0.1.0/types.wit"),
    ),
    (
        "experiment.wit",
        include_str!("../../../wit/since_v0.1.0/experiment.wit"),
    ),
    (
        "metric.wit",
        include_str!("../../../wit/since_v0.1.0/metric.wit"),
    ),
    (
        "tool.wit",
        include_str!("../../../wit/since_v0.1.0/tool.wit"),
    ),
    (
        "worlds.wit",
        include_str!("../../../wit/since_v0.1.0/worlds.wit"),
    ),
];

const RUST_SDK: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../../sdk/rust/Cargo.toml")),
    ("src/lib.rs", include_str!("../../../sdk/rust/src/lib.rs")),
    (
        "src/params.rs",
        include_str!("../../../sdk/rust/src/params.rs"),
    ),
    (
        "src/research.rs",
        include_str!("../../../sdk/rust/src/research.rs"),
    ),
    (
        "src/evaluator.rs",
        include_str!("../../../sdk/rust/src/evaluator.rs"),
    ),
    ("src/tool.rs", include_str!("../../../sdk/rust/src/tool.rs")),
];

const RUST_TEMPLATE: &str = include_str!("../../../sdk/templates/rust/src/lib.rs");
const RUST_TOOL_TEMPLATE: &str = include_str!("../../../sdk/templates/rust-tool/src/lib.rs");
const C_TEMPLATE: &str = include_str!("../../../sdk/templates/c/skill.c");
const PYTHON_TEMPLATE: &str = include_str!("../../../sdk/templates/python/app.py");
const JS_TEMPLATE: &str = include_str!("../../../sdk/templates/js/skill.js");
const C_TOOL_TEMPLATE: &str = include_str!("../../../sdk/templates/c-tool/skill.c");
const PYTHON_TOOL_TEMPLATE: &str = include_str!("../../../sdk/templates/python-tool/app.py");
const JS_TOOL_TEMPLATE: &str = include_str!("../../../sdk/templates/js-tool/skill.js");

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) fn write(dir: &Path, rel: &str, contents: &str) -> Result<()> {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))
}

/// Scaffolding never writes into a folder that holds anything.
pub(crate) fn ensure_empty(dir: &Path) -> Result<()> {
    if dir.exists()
        && std::fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!("{} already exists and is not empty", dir.display());
    }
    Ok(())
}

/// A vendored copy of the Rust SDK at `dir/hyper-sdk` (its WIT at `dir/wit`), so guests
/// build offline and outside this repository.
fn vendor_rust_sdk(dir: &Path) -> Result<()> {
    for (file, text) in RUST_SDK {
        let text = text.replace("../../wit/since_v0.1.0", "../wit");
        write(dir, &format!("hyper-sdk/{file}"), &text)?;
    }
    Ok(())
}

/// What the new skill serves: a research domain, or a forge task (a tool skill).
pub enum Purpose<'a> {
    Domain(&'a str),
    Task(&'a str),
}

/// Writes a new skill folder; refuses to touch an existing non-empty one.
pub fn new_skill(name: &str, lang: Lang, purpose: Purpose<'_>, dir: &Path) -> Result<()> {
    if !valid_name(name) {
        bail!("skill name `{name}` must start with a-z and use only a-z, 0-9 and -");
    }
    let (domain, task) = match purpose {
        Purpose::Domain(d) => (d, None),
        Purpose::Task(t) => ("", Some(t)),
    };
    if let Some(task) = task {
        if !valid_name(task) {
            bail!("task `{task}` is not a task name (e.g. json-parse)");
        }
    } else if !valid_name(domain) {
        bail!("domain `{domain}` is not a domain name");
    }
    ensure_empty(dir)?;
    let template =
        |skill: &'static str, tool: &'static str| if task.is_some() { tool } else { skill };
    let fill = |text: &str| {
        text.replace("{{name}}", name)
            .replace("{{domain}}", domain)
            .replace("{{task}}", task.unwrap_or(""))
    };
    let serves = match task {
        Some(t) => format!("task = \"{t}\""),
        None => format!("domains = [\"{domain}\"]"),
    };
    for (file, text) in WIT {
        write(dir, &format!("wit/{file}"), text)?;
    }
    write(
        dir,
        "hyper-skill.toml",
        &format!(
            "# What `hyper skill pack` puts in the package; world, API version and capabilities are\n\
             # read off the built component.\n\
             name = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"A {lang} skill\"\n\
             authors = []\nlicense = \"Apache-2.0\"\n{serves}\ncomponent = \"target/{name}.wasm\"\n\n\
             [build]\nlang = \"{lang}\"\n",
            lang = lang.name()
        ),
    )?;
    write(dir, ".gitignore", "/target\n/bindings\n*.hskill\n")?;
    match lang {
        Lang::Rust => {
            write(
                dir,
                "Cargo.toml",
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
                     [dependencies]\nhyper-sdk = {{ path = \"hyper-sdk\"{features} }}\n\n[workspace]\n\n\
                     [profile.release]\nopt-level = 3\ncodegen-units = 1\nlto = true\npanic = \"abort\"\ndebug = false\nstrip = \"debuginfo\"\n",
                    features = if task.is_some() { ", default-features = false, features = [\"tool\"]" } else { "" }
                ),
            )?;
            let lib = if task.is_some() {
                fill(RUST_TOOL_TEMPLATE)
            } else {
                RUST_TEMPLATE
                    .replace(
                        "SkillInfo::new(\"shortest\", \"0.1.0\", \"search\")",
                        &format!("SkillInfo::new(\"{name}\", \"0.1.0\", \"{domain}\")"),
                    )
                    .replace("struct Shortest;", "struct MySkill;")
                    .replace("impl Skill for Shortest", "impl Skill for MySkill")
                    .replace("register_skill!(Shortest);", "register_skill!(MySkill);")
            };
            write(dir, "src/lib.rs", &lib)?;
            vendor_rust_sdk(dir)?;
        }
        Lang::C => write(dir, "skill.c", &fill(template(C_TEMPLATE, C_TOOL_TEMPLATE)))?,
        Lang::Python => write(
            dir,
            "app.py",
            &fill(template(PYTHON_TEMPLATE, PYTHON_TOOL_TEMPLATE)),
        )?,
        Lang::Js => write(
            dir,
            "skill.js",
            &fill(template(JS_TEMPLATE, JS_TOOL_TEMPLATE)),
        )?,
    }
    let run_it = match task {
        Some(t) => format!("hyper forge test {name} --task {t}   # per-case failures"),
        None => format!("hyper run {domain} --skill {name}"),
    };
    write(
        dir,
        "README.md",
        &format!(
            "# {name}\n\nA hyper skill ({lang}).\n\n```sh\n\
             hyper skill build .                 # -> target/{name}.wasm\n\
             hyper skill inspect target/{name}.wasm\n\
             hyper skill pack . -o {name}.hskill  # signed with your node key\n\
             hyper skill install {name}.hskill\n\
             {run_it}\n```\n",
            lang = lang.name()
        ),
    )?;
    Ok(())
}

/// A path as a user types it again: quoted for a POSIX shell where it needs to be.
pub fn shell_path(path: &Path) -> String {
    let text = path.display().to_string();
    shlex::try_quote(&text).map_or(text.clone(), |q| q.into_owned())
}

/// `dir` made absolute against the working directory: the guest toolchains run in other
/// directories (componentize-py and -js in the skill's folder, cargo in its crate), where a
/// relative path given on our command line would name something else or nothing.
fn absolute(dir: &Path) -> Result<PathBuf> {
    std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))
}

/// What to run once a skill is built, as the user would type it from where they are
/// (`dir` as they gave it): try it on its domain, or test it on its forge task. A component
/// that imports `wasi:sockets` (CPython's runtime does, whatever the skill does) needs the
/// flag that links them inert when run from a file; an installed one's manifest says so.
pub fn next_after_build(dir: &Path, runtime: &hyper_runtime::Runtime) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("hyper-skill.toml")).ok()?;
    let src: hyper_registry::manifest::SourceManifest = toml::from_str(&text).ok()?;
    let path = dir.join(&src.component);
    let inert = hyper_runtime::LoadOptions {
        inert_sockets: true,
    };
    let sockets = std::fs::read(&path)
        .ok()
        .and_then(|bytes| hyper_runtime::inspect_with(runtime, &bytes, inert).ok())
        .is_some_and(|i| {
            i.imports
                .iter()
                .any(|(name, _)| name.starts_with("wasi:sockets/"))
        });
    let flag = if sockets {
        " --allow-inert-sockets"
    } else {
        ""
    };
    let component = shell_path(&path);
    match (&src.task, src.domains.first()) {
        (Some(task), _) => Some(format!("hyper forge test {component} --task {task}{flag}")),
        (None, Some(domain)) => Some(format!("hyper try {component} --domain {domain}{flag}")),
        (None, None) => None,
    }
}

/// Builds the skill in `dir` according to its hyper-skill.toml; returns the component path.
pub fn build(dir: &Path) -> Result<PathBuf> {
    let dir = &absolute(dir)?;
    let manifest_path = dir.join("hyper-skill.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let src: hyper_registry::manifest::SourceManifest =
        toml::from_str(&text).with_context(|| format!("parsing {}", manifest_path.display()))?;
    let Some(lang) = src.build.as_ref().map(|b| b.lang.as_str()) else {
        bail!(
            "{} has no [build] lang: build the component yourself and point `component` at it",
            manifest_path.display()
        );
    };
    let out = dir.join(&src.component);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // A manifest that names a forge task is a tool skill (the Rust SDK picks its world by
    // feature; the other languages are told).
    let world = if src.task.is_some() {
        "tool-skill"
    } else {
        "research-skill"
    };
    let started = Instant::now();
    let spinner = crate::spinner(&format!("building {} ({lang})", src.name));
    let result = match lang {
        "rust" => build_rust(dir, &out),
        "c" => {
            hyper_toolchain::c::build(dir, &dir.join("wit"), world, &[dir.join("skill.c")], &out)
                .map_err(Into::into)
        }
        "python" => hyper_toolchain::python::build(dir, &dir.join("wit"), world, "app", &out)
            .map_err(Into::into),
        "js" => {
            hyper_toolchain::js::build(dir, &dir.join("skill.js"), &dir.join("wit"), world, &out)
                .map_err(Into::into)
        }
        other => Err(anyhow::anyhow!(
            "unknown build lang `{other}` (rust, c, python or js)"
        )),
    };
    spinner.finish_and_clear();
    result?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "built {} ({size} bytes) in {:.1}s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}

fn build_rust(dir: &Path, out: &Path) -> Result<()> {
    // Share one target dir between skills (std is compiled once) when asked to.
    let target_dir = std::env::var_os("HYPER_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    build_rust_in(dir, out, &target_dir)
}

fn build_rust_in(dir: &Path, out: &Path, target_dir: &Path) -> Result<()> {
    let cargo_toml: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml"))?)?;
    let crate_name = cargo_toml
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .context("Cargo.toml has no package name")?
        .to_string();
    let toolchain = hyper_toolchain::rust::Toolchain::detect("rustc")?;
    std::fs::create_dir_all(target_dir)?;
    toolchain.build(
        dir,
        None,
        target_dir,
        &target_dir.join("hyper-wasm-config.toml"),
        false,
    )?;
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let built = hyper_toolchain::rust::output(target_dir, &crate_name);
    std::fs::copy(&built, out).with_context(|| format!("copying {}", built.display()))?;
    Ok(())
}

const DOMAIN_TEMPLATE: &[(&str, &str)] = &[
    (
        "hyper-domain.toml",
        include_str!("../../../sdk/templates/domain/hyper-domain.toml"),
    ),
    (
        "README.md",
        include_str!("../../../sdk/templates/domain/README.md"),
    ),
    (
        "SOURCE.md",
        include_str!("../../../sdk/templates/domain/SOURCE.md"),
    ),
    (
        "data/questions.tsv",
        include_str!("../../../sdk/templates/domain/data/questions.tsv"),
    ),
    (
        "heldout/answers.tsv",
        include_str!("../../../sdk/templates/domain/heldout/answers.tsv"),
    ),
    (
        "evaluator/src/lib.rs",
        include_str!("../../../sdk/templates/domain/evaluator.rs"),
    ),
    (
        "skill/src/lib.rs",
        include_str!("../../../sdk/templates/domain/skill.rs"),
    ),
];

fn guest_cargo_toml(name: &str, features: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n\
         [dependencies]\nhyper-sdk = {{ path = \"../hyper-sdk\"{features} }}\n\n[workspace]\n\n\
         [profile.release]\nopt-level = 3\ncodegen-units = 1\nlto = true\npanic = \"abort\"\ndebug = false\nstrip = \"debuginfo\"\n"
    )
}

/// `hyper domain new`: a cause folder that builds, installs and runs as it is (a toy
/// arithmetic cause), with the evaluator and a starter skill as Rust crates sharing one
/// vendored SDK. Refuses to touch an existing non-empty folder.
pub fn new_domain(name: &str, metric: &str, higher_is_better: bool, dir: &Path) -> Result<()> {
    if !valid_name(name) {
        bail!("domain name `{name}` must start with a-z and use only a-z, 0-9 and -");
    }
    if metric.is_empty()
        || !metric
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_@.".contains(c))
    {
        bail!("metric name `{metric}` must be ASCII letters, digits, -, _, @ or .");
    }
    ensure_empty(dir)?;
    let (direction, variant) = if higher_is_better {
        ("higher", "HigherIsBetter")
    } else {
        ("lower", "LowerIsBetter")
    };
    for (rel, text) in DOMAIN_TEMPLATE {
        let text = text
            .replace("{{name}}", name)
            .replace("{{metric}}", metric)
            .replace("{{direction}}", direction)
            .replace("{{direction_variant}}", variant);
        write(dir, rel, &text)?;
    }
    write(
        dir,
        "evaluator/Cargo.toml",
        &guest_cargo_toml(
            &format!("{name}-evaluator"),
            ", default-features = false, features = [\"evaluator\"]",
        ),
    )?;
    write(
        dir,
        "skill/Cargo.toml",
        &guest_cargo_toml(&format!("{name}-starter"), ""),
    )?;
    for (file, text) in WIT {
        write(dir, &format!("wit/{file}"), text)?;
    }
    vendor_rust_sdk(dir)?;
    write(dir, ".gitignore", "/target\n/evaluator.wasm\n/skills\n")?;
    Ok(())
}

/// `hyper domain build`: evaluator/ -> evaluator.wasm, skill/ (if present) -> the manifest's
/// default skill. Returns the components built.
pub fn build_domain(dir: &Path) -> Result<Vec<PathBuf>> {
    let dir = &absolute(dir)?;
    let domain = hyper_research::Domain::load(dir)?;
    let target_dir = std::env::var_os("HYPER_GUEST_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    let mut built = Vec::new();
    let mut jobs = vec![(dir.join("evaluator"), domain.evaluator_path())];
    if let Some(skill) = domain.default_skill_path() {
        if dir.join("skill/Cargo.toml").is_file() {
            jobs.push((dir.join("skill"), skill));
        }
    }
    for (src, out) in jobs {
        if !src.join("Cargo.toml").is_file() {
            bail!(
                "{} has no Cargo.toml: build the component yourself and put it at {}",
                src.display(),
                out.display()
            );
        }
        let started = Instant::now();
        let spinner = crate::spinner(&format!("building {}", src.display()));
        let result = build_rust_in(&src, &out, &target_dir);
        spinner.finish_and_clear();
        result?;
        eprintln!(
            "built {} in {:.1}s",
            out.display(),
            started.elapsed().as_secs_f64()
        );
        built.push(out);
    }
    Ok(built)
}
