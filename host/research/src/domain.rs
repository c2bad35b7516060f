//! Research domains: the manifest format, loading a domain folder, and installing the domains
//! embedded in the binary under `$HYPER_HOME/domains/`.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hyper_runtime::SandboxPolicy;
use serde::Deserialize;

pub const MANIFEST_FILE: &str = "hyper-domain.toml";

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error("no domain `{name}` in {home} (installed domains: {known})")]
    NotFound {
        name: String,
        home: String,
        known: String,
    },
    #[error("{path}: {message}")]
    Manifest { path: String, message: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub description: String,
    /// Folder (relative) mounted read-only at `/data` for skills.
    pub data: String,
    /// Folder (relative) mounted read-only at `/data` for the evaluator only: held-out text
    /// or judgements a skill must never read.
    #[serde(default)]
    pub heldout: Option<String>,
    /// Files that must be in `heldout` before the domain can run (data a user supplies,
    /// e.g. because its license forbids shipping it).
    #[serde(default)]
    pub requires: Vec<String>,
    /// The domain name skills declare to run here (default: this domain's name), so one
    /// skill can serve several datasets of one kind.
    #[serde(default)]
    pub skill_domain: Option<String>,
    /// Evaluator component (relative path).
    pub evaluator: String,
    /// Skill used when none is given (relative path).
    pub default_skill: Option<String>,
    pub metric: MetricSpec,
    pub budget: Budget,
    /// Free-form description of the validation/test split (the evaluator implements it).
    #[serde(default)]
    pub split: Option<toml::Table>,
    /// Parameter values the domain pins for every experiment (e.g. a training-token budget):
    /// a skill must declare each one, and no proposer may change it.
    #[serde(default)]
    pub fixed: toml::Table,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    pub name: String,
    /// `higher` or `lower`.
    pub direction: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub experiment_secs: u64,
    pub memory_mib: u64,
    pub evaluator_secs: u64,
    /// Optional deterministic budget (needs a runtime with fuel on).
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Host tensors (`hyper:compute/tensor`) live at once, in MiB (default 2048).
    #[serde(default)]
    pub tensor_mib: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct Domain {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

/// A relative path that stays inside the domain folder.
fn inside(dir: &Path, rel: &str, field: &str, manifest: &Path) -> Result<PathBuf, DomainError> {
    let p = Path::new(rel);
    if rel.is_empty()
        || p.is_absolute()
        || p.components().any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(DomainError::Manifest {
            path: manifest.display().to_string(),
            message: format!(
                "`{field}` must be a relative path inside the domain folder, got `{rel}`"
            ),
        });
    }
    Ok(dir.join(p))
}

impl Domain {
    /// Loads and validates `dir/hyper-domain.toml`.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, DomainError> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(MANIFEST_FILE);
        let bad = |message: String| DomainError::Manifest {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| bad(format!("cannot read: {e}")))?;
        let manifest: Manifest =
            toml::from_str(&text).map_err(|e| bad(format!("invalid manifest: {e}")))?;
        if manifest.name.is_empty()
            || !manifest
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(format!(
                "domain name `{}` must be non-empty ASCII letters, digits, - or _",
                manifest.name
            )));
        }
        if manifest.metric.direction != "higher" && manifest.metric.direction != "lower" {
            return Err(bad(format!(
                "metric.direction must be `higher` or `lower`, got `{}`",
                manifest.metric.direction
            )));
        }
        if manifest.budget.experiment_secs == 0
            || manifest.budget.memory_mib == 0
            || manifest.budget.evaluator_secs == 0
        {
            return Err(bad("budget values must be positive".into()));
        }
        if manifest
            .budget
            .tensor_mib
            .is_some_and(|m| m == 0 || m > 65_536)
        {
            return Err(bad("budget.tensor_mib must be between 1 and 65536".into()));
        }
        if manifest.budget.memory_mib > 4096 {
            return Err(bad(
                "budget.memory_mib is above the host maximum of 4096".into()
            ));
        }
        inside(&dir, &manifest.data, "data", &path)?;
        if let Some(heldout) = &manifest.heldout {
            inside(&dir, heldout, "heldout", &path)?;
        }
        if !manifest.requires.is_empty() && manifest.heldout.is_none() {
            return Err(bad(
                "`requires` names files in `heldout`, which is not set".into()
            ));
        }
        for file in &manifest.requires {
            inside(&dir, file, "requires", &path)?;
        }
        for (name, value) in &manifest.fixed {
            if !matches!(
                value,
                toml::Value::Integer(_)
                    | toml::Value::Float(_)
                    | toml::Value::String(_)
                    | toml::Value::Boolean(_)
            ) {
                return Err(bad(format!(
                    "fixed.{name} must be a number, string or boolean"
                )));
            }
        }
        inside(&dir, &manifest.evaluator, "evaluator", &path)?;
        if let Some(skill) = &manifest.default_skill {
            inside(&dir, skill, "default_skill", &path)?;
        }
        Ok(Domain { dir, manifest })
    }

    /// Finds an installed domain by name under `home/domains/`.
    pub fn find(home: &Path, name: &str) -> Result<Self, DomainError> {
        let dir = home.join("domains").join(name);
        if !name.is_empty() && !name.contains(['/', '\\', '.']) && dir.join(MANIFEST_FILE).exists()
        {
            return Domain::load(dir);
        }
        let known = Domain::installed(home).unwrap_or_default().join(", ");
        Err(DomainError::NotFound {
            name: name.to_string(),
            home: home.join("domains").display().to_string(),
            known: if known.is_empty() {
                "none".into()
            } else {
                known
            },
        })
    }

    /// Names of installed domains.
    pub fn installed(home: &Path) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        let Ok(entries) = std::fs::read_dir(home.join("domains")) else {
            return Ok(names);
        };
        for entry in entries {
            let entry = entry?;
            if entry.path().join(MANIFEST_FILE).exists() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// Checks that the user-supplied files the domain `requires` are in place, naming each
    /// missing one and where it belongs.
    pub fn check_required(&self) -> Result<(), DomainError> {
        let Some(heldout) = &self.manifest.heldout else {
            return Ok(());
        };
        let dir = self.dir.join(heldout);
        let missing: Vec<&str> = self
            .manifest
            .requires
            .iter()
            .filter(|f| !dir.join(f).is_file())
            .map(String::as_str)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(DomainError::Manifest {
            path: dir.display().to_string(),
            message: format!(
                "domain `{}` needs {} here (not shipped; see {}): copy the file(s) into this folder",
                self.name(),
                missing.join(" and "),
                dir.join("README.md").display()
            ),
        })
    }

    /// The domain name a skill must declare to run here.
    pub fn skill_domain(&self) -> &str {
        self.manifest
            .skill_domain
            .as_deref()
            .unwrap_or(&self.manifest.name)
    }

    pub fn higher_is_better(&self) -> bool {
        self.manifest.metric.direction == "higher"
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join(&self.manifest.data)
    }

    pub fn evaluator_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.evaluator)
    }

    pub fn default_skill_path(&self) -> Option<PathBuf> {
        self.manifest
            .default_skill
            .as_ref()
            .map(|s| self.dir.join(s))
    }

    /// What a skill gets: the domain's data read-only, scratch, the domain's budget.
    pub fn skill_policy(&self) -> SandboxPolicy {
        SandboxPolicy {
            memory_bytes: (self.manifest.budget.memory_mib as usize) << 20,
            deadline: Duration::from_secs(self.manifest.budget.experiment_secs),
            fuel: self.manifest.budget.fuel,
            data_dir: Some(self.data_dir()),
            scratch: true,
            tensor_bytes: self.tensor_bytes(),
            ..SandboxPolicy::default()
        }
    }

    /// What the evaluator gets: the held-out folder if the domain has one (else no files: it
    /// carries its judgements), its own deadline.
    pub fn evaluator_policy(&self) -> SandboxPolicy {
        SandboxPolicy {
            memory_bytes: 1 << 30,
            deadline: Duration::from_secs(self.manifest.budget.evaluator_secs),
            data_dir: self.manifest.heldout.as_ref().map(|h| self.dir.join(h)),
            scratch: false,
            tensor_bytes: self.tensor_bytes(),
            ..SandboxPolicy::default()
        }
    }

    fn tensor_bytes(&self) -> u64 {
        self.manifest
            .budget
            .tensor_mib
            .map(|m| m << 20)
            .unwrap_or(SandboxPolicy::default().tensor_bytes)
    }
}

/// Writes an embedded domain's files under `home/domains/<name>/`, replacing files whose
/// content differs (a newer binary refreshes its built-in domains). Returns the folder.
pub fn install_embedded(
    home: &Path,
    name: &str,
    files: &[(&str, &[u8])],
) -> std::io::Result<PathBuf> {
    let dir = home.join("domains").join(name);
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if std::fs::read(&path)
            .map(|existing| existing == *bytes)
            .unwrap_or(false)
        {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(dir)
}
