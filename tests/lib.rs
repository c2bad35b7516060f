//! Helpers shared by the integration tests and the benchmark: a runtime, the search domain
//! installed in a temporary home (optionally with a tighter budget), fixture components.

use std::path::{Path, PathBuf};

use hyper_research::{domain, Domain};
use hyper_runtime::{ExperimentSpec, Param, ParamValue, Runtime, RuntimeConfig};

pub use hyper_guests::fixtures;

pub fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default()).expect("runtime")
}

pub fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// Installs the built-in search domain under `home` and returns it.
pub fn search_domain(home: &Path) -> Domain {
    let d = &hyper_guests::SEARCH;
    let dir = domain::install_embedded(home, d.name, d.files).expect("install search domain");
    Domain::load(dir).expect("load search domain")
}

/// The search domain with a different per-experiment deadline and memory budget (so that the
/// hostile tests take seconds, not minutes).
pub fn search_domain_with_budget(home: &Path, experiment_secs: u64, memory_mib: u64) -> Domain {
    let domain = search_domain(home);
    let manifest_path = domain.dir.join(domain::MANIFEST_FILE);
    let text = std::fs::read_to_string(&manifest_path).expect("manifest");
    let text = text
        .replace(
            "experiment_secs = 60",
            &format!("experiment_secs = {experiment_secs}"),
        )
        .replace("memory_mib = 512", &format!("memory_mib = {memory_mib}"));
    std::fs::write(&manifest_path, text).expect("write manifest");
    Domain::load(&domain.dir).expect("reload domain")
}

pub fn spec(id: &str, seed: u64, params: &[(&str, ParamValue)]) -> ExperimentSpec {
    ExperimentSpec {
        id: id.into(),
        domain: "search".into(),
        params: params
            .iter()
            .map(|(n, v)| Param {
                name: (*n).into(),
                value: v.clone(),
            })
            .collect(),
        seed,
        parent: None,
    }
}

pub fn attack(name: &str) -> ExperimentSpec {
    spec(
        &format!("attack-{name}"),
        1,
        &[("attack", ParamValue::Choice(name.into()))],
    )
}

pub fn temp_home() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("hyper-home");
    (dir, home)
}
