//! Research domains: the manifest format, loading a domain folder, installing the domains
//! embedded in the binary and *causes* (domain folders anyone can write) under
//! `$HYPER_HOME/domains/`, and the evaluator pin that ties an installed domain to the exact
//! evaluator component it was installed with.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hyper_runtime::SandboxPolicy;
use serde::Deserialize;

pub const MANIFEST_FILE: &str = "hyper-domain.toml";
/// Written at install: which evaluator (by SHA-256) this domain runs, and where it came from.
pub const LOCK_FILE: &str = "hyper-domain.lock";

/// The install record of a domain. Loading refuses a domain whose evaluator no longer has
/// the pinned hash: a changed evaluator would make its results incomparable with earlier ones.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DomainLock {
    pub evaluator_sha256: String,
    /// `built-in`, or the folder a cause was installed from.
    pub source: String,
    pub installed_at: String,
}

impl DomainLock {
    pub fn is_builtin(&self) -> bool {
        self.source == "built-in"
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

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
    /// The domain's version, part of every result's receipt (results of two versions are
    /// not compared). Default `1`.
    #[serde(default)]
    pub version: Option<String>,
    /// What a replay of a result must reproduce to agree with it.
    #[serde(default)]
    pub replay: ReplayRule,
}

/// `[replay]` of a manifest: how another node checks a result by running it again.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplayRule {
    /// `exact` (the default: the same bits of the primary metric on both splits) or
    /// `tolerance` (within `tolerance`, absolute).
    #[serde(default)]
    pub agree: AgreeRule,
    /// The largest absolute difference that still agrees, with `agree = "tolerance"`.
    #[serde(default)]
    pub tolerance: Option<f64>,
    /// `any` (the default: the result does not depend on the machine) or `same` (the
    /// architecture, tensor device and GPU of the replaying node must be the result's; a
    /// replay elsewhere is reported as such, never as a refutation).
    #[serde(default)]
    pub platform: PlatformRule,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AgreeRule {
    #[default]
    Exact,
    Tolerance,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PlatformRule {
    #[default]
    Any,
    Same,
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
    /// What one experiment may write to /scratch, in MiB (default 256).
    #[serde(default)]
    pub scratch_mib: Option<u64>,
    /// Files and directories one experiment may create in /scratch (default 4096).
    #[serde(default)]
    pub scratch_files: Option<u64>,
    /// Work one host tensor op may need, in GFLOP-equivalents (default 20; raise it for
    /// domains that run large ops on a GPU).
    #[serde(default)]
    pub tensor_op_gflop: Option<f64>,
    /// Bytes one call may copy between guest and host through imports, in MiB (default 1024).
    #[serde(default)]
    pub copy_mib: Option<u64>,
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
        if manifest
            .budget
            .tensor_op_gflop
            .is_some_and(|g| !(g.is_finite() && g > 0.0 && g <= 1e6))
        {
            return Err(bad(
                "budget.tensor_op_gflop must be a number above 0 and at most 1e6".into(),
            ));
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
        match (manifest.replay.agree, manifest.replay.tolerance) {
            (AgreeRule::Tolerance, Some(t)) if t.is_finite() && t >= 0.0 => {}
            (AgreeRule::Tolerance, _) => {
                return Err(bad(
                    "replay.agree = \"tolerance\" needs a finite replay.tolerance >= 0".into(),
                ))
            }
            (AgreeRule::Exact, Some(_)) => {
                return Err(bad(
                    "replay.tolerance is only meaningful with replay.agree = \"tolerance\"".into(),
                ))
            }
            (AgreeRule::Exact, None) => {}
        }
        if manifest
            .version
            .as_ref()
            .is_some_and(|v| v.is_empty() || v.len() > 32 || v.chars().any(char::is_control))
        {
            return Err(bad("version must be 1 to 32 printable characters".into()));
        }
        inside(&dir, &manifest.evaluator, "evaluator", &path)?;
        if let Some(skill) = &manifest.default_skill {
            inside(&dir, skill, "default_skill", &path)?;
        }
        let domain = Domain { dir, manifest };
        domain.verify_pin()?;
        Ok(domain)
    }

    /// The install record, if the domain was installed (a source folder has none).
    pub fn lock(&self) -> Result<Option<DomainLock>, DomainError> {
        let path = self.dir.join(LOCK_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| DomainError::Manifest {
                path: path.display().to_string(),
                message: format!("invalid lock file: {e}"),
            })
    }

    /// SHA-256 of the evaluator component as it is on disk now.
    pub fn evaluator_sha256(&self) -> Result<String, DomainError> {
        let path = self.evaluator_path();
        let bytes = std::fs::read(&path).map_err(|e| DomainError::Manifest {
            path: path.display().to_string(),
            message: format!("cannot read the evaluator: {e}"),
        })?;
        Ok(sha256_hex(&bytes))
    }

    /// Refuses an installed domain whose evaluator differs from the one it was installed with.
    pub fn verify_pin(&self) -> Result<(), DomainError> {
        let Some(lock) = self.lock()? else {
            return Ok(());
        };
        let now = self.evaluator_sha256()?;
        if now != lock.evaluator_sha256 {
            return Err(DomainError::Manifest {
                path: self.evaluator_path().display().to_string(),
                message: format!(
                    "the evaluator of `{}` changed since it was installed (pinned sha256 {}, now {}): \
                     reinstall the domain with `hyper domain install` if the change is intended",
                    self.manifest.name, lock.evaluator_sha256, now
                ),
            });
        }
        Ok(())
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

    /// The manifest's `version` (default `1`).
    pub fn version(&self) -> &str {
        self.manifest.version.as_deref().unwrap_or("1")
    }

    /// SHA-256 over every file a result depends on besides the two components: the skill's
    /// data and the evaluator's held-out folder (relative paths and contents, in path order,
    /// each length-prefixed so that no two trees hash alike). Part of every receipt.
    pub fn data_hash(&self) -> Result<String, DomainError> {
        use sha2::{Digest, Sha256};
        let mut files = Vec::new();
        list_files(&self.data_dir(), "data", &mut files)?;
        if let Some(heldout) = &self.manifest.heldout {
            list_files(&self.dir.join(heldout), "heldout", &mut files)?;
        }
        files.sort();
        let mut hash = Sha256::new();
        for (rel, path) in files {
            let bytes = std::fs::read(&path)?;
            hash.update((rel.len() as u64).to_le_bytes());
            hash.update(rel.as_bytes());
            hash.update((bytes.len() as u64).to_le_bytes());
            hash.update(&bytes);
        }
        Ok(hex::encode(hash.finalize()))
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
        let b = &self.manifest.budget;
        let base = self.quotas();
        SandboxPolicy {
            memory_bytes: (b.memory_mib as usize) << 20,
            deadline: Duration::from_secs(b.experiment_secs),
            fuel: b.fuel,
            data_dir: Some(self.data_dir()),
            scratch: true,
            scratch_bytes: b.scratch_mib.map_or(base.scratch_bytes, |m| m << 20),
            scratch_files: b.scratch_files.unwrap_or(base.scratch_files),
            ..base
        }
    }

    /// The policy's defaults with the manifest's overrides of the quotas every call shares.
    fn quotas(&self) -> SandboxPolicy {
        let b = &self.manifest.budget;
        let d = SandboxPolicy::default();
        SandboxPolicy {
            tensor_bytes: self.tensor_bytes(),
            tensor_op_work: b.tensor_op_gflop.map_or(d.tensor_op_work, |g| g * 1e9),
            copy_bytes: b.copy_mib.map_or(d.copy_bytes, |m| m << 20),
            ..d
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
            ..self.quotas()
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

/// Every plain file under `dir` as (path relative to the domain, full path); symlinks are
/// not followed (installs never copy them).
fn list_files(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = format!("{rel}/{}", entry.file_name().to_string_lossy());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(&entry.path(), &name, out)?;
        } else if kind.is_file() {
            out.push((name, entry.path()));
        }
    }
    Ok(())
}

/// Writes an embedded domain's files under `home/domains/<name>/`, replacing files whose
/// content differs (a newer binary refreshes its built-in domains). Returns the folder.
pub fn install_embedded(
    home: &Path,
    name: &str,
    files: &[(&str, &[u8])],
) -> std::io::Result<PathBuf> {
    let dir = home.join("domains").join(name);
    let mut evaluator_written = false;
    for (rel, bytes) in files {
        let path = dir.join(rel);
        if std::fs::read(&path)
            .map(|existing| existing == *bytes)
            .unwrap_or(false)
        {
            continue;
        }
        evaluator_written |= *rel == "evaluator.wasm";
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    // The binary is the built-in domains' pin: (re)write the lock when the evaluator was
    // (re)written or the lock is missing, so an unchanged home costs no hashing.
    if let Some((_, evaluator)) = files.iter().find(|(rel, _)| *rel == "evaluator.wasm") {
        if evaluator_written || !dir.join(LOCK_FILE).is_file() {
            let sha = sha256_hex(evaluator);
            write_lock(
                &dir,
                &DomainLock {
                    evaluator_sha256: sha,
                    source: "built-in".into(),
                    installed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                        .to_string(),
                },
            )?;
        }
    }
    Ok(dir)
}

fn write_lock(dir: &Path, lock: &DomainLock) -> std::io::Result<()> {
    let text = toml::to_string(lock).map_err(std::io::Error::other)?;
    let path = dir.join(LOCK_FILE);
    let tmp = path.with_extension("lock.partial");
    std::fs::write(
        &tmp,
        format!("# Written by hyper at install; do not edit.\n{text}"),
    )?;
    std::fs::rename(&tmp, &path)
}

/// Largest cause folder `install_cause` copies (data included).
pub const MAX_CAUSE_BYTES: u64 = 2 << 30;

/// Copies a regular-file tree, refusing links and anything but files and folders.
fn copy_tree(from: &Path, to: &Path, budget: &mut u64) -> Result<(), DomainError> {
    let meta = std::fs::symlink_metadata(from)?;
    let refuse = |what: &str| DomainError::Manifest {
        path: from.display().to_string(),
        message: format!("{what}: a cause may only contain plain files and folders"),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse("a symbolic link"));
    }
    if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        let mut entries: Vec<_> = std::fs::read_dir(from)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            copy_tree(&entry.path(), &to.join(entry.file_name()), budget)?;
        }
        return Ok(());
    }
    if !meta.is_file() {
        return Err(refuse("not a regular file"));
    }
    *budget = budget
        .checked_sub(meta.len())
        .ok_or_else(|| DomainError::Manifest {
            path: from.display().to_string(),
            message: format!("the cause is larger than {} GiB", MAX_CAUSE_BYTES >> 30),
        })?;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to)?;
    Ok(())
}

/// Installs the cause in `source` (a domain folder: manifest, data, optional held-out data,
/// a built evaluator component, optional default skill) as `home/domains/<name>/`, and pins
/// its evaluator by SHA-256. `check_evaluator` gets the loaded source domain and must prove
/// the evaluator is a working evaluator component (the CLI loads it in the sandbox and asks
/// its metric). Names in `reserved` (the built-in domains) are refused; an installed cause
/// of the same name is replaced only with `replace`. Only the files the manifest names
/// (plus SOURCE.md, LICENSE and README.md) are copied: sources and build outputs stay behind.
pub fn install_cause(
    home: &Path,
    source: &Path,
    reserved: &[&str],
    replace: bool,
    check_evaluator: impl FnOnce(&Domain) -> Result<(), String>,
) -> Result<Domain, DomainError> {
    let src = Domain::load(source)?;
    let name = src.name().to_string();
    let bad = |message: String| DomainError::Manifest {
        path: source.join(MANIFEST_FILE).display().to_string(),
        message,
    };
    if reserved.contains(&name.as_str()) {
        return Err(bad(format!(
            "`{name}` is a built-in domain; give the cause another name"
        )));
    }
    let evaluator = src.evaluator_path();
    if !evaluator.is_file() {
        return Err(bad(format!(
            "the evaluator {} does not exist: build it first (hyper domain build {})",
            evaluator.display(),
            source.display()
        )));
    }
    if let Some(skill) = src.default_skill_path() {
        if !skill.is_file() {
            return Err(bad(format!(
                "the default skill {} does not exist",
                skill.display()
            )));
        }
    }
    check_evaluator(&src).map_err(|e| bad(format!("the evaluator is not usable: {e}")))?;
    let target = home.join("domains").join(&name);
    if target.exists() && !replace {
        return Err(bad(format!(
            "a domain `{name}` is already installed at {}: pass --force to replace it",
            target.display()
        )));
    }
    let domains = home.join("domains");
    std::fs::create_dir_all(&domains)?;
    let staging = domains.join(format!(".{name}.installing-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    let mut budget = MAX_CAUSE_BYTES;
    let mut wanted: Vec<String> = vec![
        MANIFEST_FILE.into(),
        src.manifest.data.clone(),
        src.manifest.evaluator.clone(),
    ];
    wanted.extend(src.manifest.heldout.clone());
    wanted.extend(src.manifest.default_skill.clone());
    for extra in ["SOURCE.md", "LICENSE", "README.md"] {
        if source.join(extra).exists() {
            wanted.push(extra.into());
        }
    }
    let copied = (|| -> Result<(), DomainError> {
        for rel in &wanted {
            let from = source.join(rel);
            if from.exists() {
                copy_tree(&from, &staging.join(rel), &mut budget)?;
            } else if rel == &src.manifest.data {
                std::fs::create_dir_all(staging.join(rel))?;
            }
        }
        write_lock(
            &staging,
            &DomainLock {
                evaluator_sha256: src.evaluator_sha256()?,
                source: source
                    .canonicalize()
                    .unwrap_or_else(|_| source.to_path_buf())
                    .display()
                    .to_string(),
                installed_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                    .to_string(),
            },
        )?;
        Ok(())
    })();
    if let Err(e) = copied {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if target.exists() {
        std::fs::remove_dir_all(&target)?;
    }
    std::fs::rename(&staging, &target)?;
    Domain::load(&target)
}
