//! `hyper skill …`, `hyper identity`, `hyper trust …`: packages, the store, the index and
//! publisher trust, over hyper-registry.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use hyper_registry::index::Index;
use hyper_registry::install::{check, InstallOptions, InstallPlan};
use hyper_registry::store::Installed;
use hyper_registry::{Identity, Store, TrustList};

#[derive(Args)]
pub struct InstallArgs {
    /// A `.hskill` file, a skill folder (with hyper-skill.toml), `name[@version]` or
    /// `sha256:<hash>` from the index.
    pub source: String,
    /// Do not ask before granting the package's capabilities (needed in scripts).
    #[arg(long, short)]
    pub yes: bool,
    /// Install even if the publisher is not in the trusted list.
    #[arg(long)]
    pub allow_unknown_publisher: bool,
    /// The index to resolve names and hashes in: a folder or an http(s) URL serving one
    /// (default `$HYPER_HOME/index`).
    #[arg(long, env = "HYPER_INDEX", value_name = "DIR|URL")]
    pub index: Option<String>,
    /// Fetch `name@version` from peers through the running node (also tried when the index
    /// does not have it).
    #[arg(long)]
    pub swarm: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum TrustCommand {
    /// Trust packages signed by this publisher key (64 hex digits).
    Add {
        key: String,
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List trusted publishers.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn index_dir(home: &Path, flag: Option<PathBuf>) -> PathBuf {
    flag.unwrap_or_else(|| home.join("index"))
}

/// Reads what `source` names: a file, a folder to pack, or an index entry.
fn resolve_source(
    home: &Path,
    runtime: &hyper_runtime::Runtime,
    args: &InstallArgs,
) -> Result<(Vec<u8>, Option<String>)> {
    let path = Path::new(&args.source);
    if path.is_dir() {
        let identity = Identity::load_or_create(home)?;
        let package = hyper_registry::pack::pack(runtime, path, &identity)?;
        return Ok((package.to_bytes()?, None));
    }
    if path.is_file() {
        let size = std::fs::metadata(path)?.len();
        if size > hyper_registry::package::MAX_PACKAGE_BYTES {
            bail!(
                "{}: {size} bytes is more than a package may be ({} bytes)",
                path.display(),
                hyper_registry::package::MAX_PACKAGE_BYTES
            );
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if bytes.starts_with(b"\0asm") {
            bail!(
                "{} is a WebAssembly component, not a package: install its folder (with a hyper-skill.toml), \
                 pack it with `hyper skill pack`, or run it directly with `hyper run <domain> --skill {}`",
                path.display(),
                path.display()
            );
        }
        return Ok((bytes, None));
    }
    if args.source.starts_with("http://") || args.source.starts_with("https://") {
        return Ok((hyper_registry::remote::fetch_package(&args.source)?, None));
    }
    let (name, version) = match args.source.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (args.source.as_str(), None),
    };
    let from_swarm = |why: &str| -> Result<(Vec<u8>, Option<String>)> {
        let Some(version) = version else {
            bail!("{why}; to fetch it from peers, name a version: `{name}@<version>`");
        };
        if !crate::node::node_running(home) {
            bail!("{why}, and no node is running to ask peers (start one with `hyper node`)");
        }
        let file = crate::node::fetch_skill(home, name, version)?;
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        let _ = std::fs::remove_file(&file);
        Ok((bytes, None))
    };
    if args.swarm {
        return from_swarm("asked for the swarm");
    }
    if let Some(url) = args
        .index
        .as_deref()
        .filter(|i| i.starts_with("http://") || i.starts_with("https://"))
    {
        let remote = hyper_registry::remote::RemoteIndex::new(url);
        if let Some(hash) = args.source.strip_prefix("sha256:") {
            return Ok((remote.package(hash)?, Some(hash.to_string())));
        }
        let entry = remote.entry(name)?;
        let Some(found) = entry.resolve(version) else {
            bail!("`{}` is not in the index at {url}", args.source);
        };
        return Ok((remote.package(&found.hash)?, Some(found.hash.clone())));
    }
    let index = Index::open(index_dir(home, args.index.clone().map(PathBuf::from)))?;
    if let Some(hash) = args.source.strip_prefix("sha256:") {
        let file = index.find_hash(hash)?;
        return Ok((std::fs::read(&file)?, Some(hash.to_string())));
    }
    let found = index
        .entry(name)
        .ok()
        .and_then(|entry| entry.resolve(version).cloned());
    let Some(found) = found else {
        if version.is_some() && crate::node::node_running(home) {
            return from_swarm("not in the index");
        }
        bail!(
            "`{}` is not a file, a folder, or a skill in the index at {} (try `hyper skill publish` there first, \
             or `hyper skill install {name}@<version> --swarm` with a node running)",
            args.source,
            index.dir().display()
        );
    };
    let file = index.package_path(&found.hash);
    Ok((
        std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?,
        Some(found.hash.clone()),
    ))
}

fn describe_plan(plan: &InstallPlan) {
    let m = &plan.package.manifest;
    eprintln!(
        "{} {} ({}@{})  sha256:{}",
        m.name,
        m.version,
        m.world,
        m.api,
        &plan.hash[..16]
    );
    if !m.description.is_empty() {
        eprintln!("  {}", m.description);
    }
    eprintln!(
        "  publisher {}{}",
        plan.publisher_fingerprint,
        if plan.publisher_trusted {
            " (trusted)"
        } else {
            " (NOT trusted: allowed by --allow-unknown-publisher)"
        }
    );
    eprintln!("  it will be granted:");
    for (interface, what) in &plan.grants {
        eprintln!("    {interface:<32} {what}");
    }
    eprintln!("  and nothing else: no network, no environment, no files outside /data (read-only) and /scratch.");
}

fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to install without confirmation in a non-interactive shell: re-run with --yes after reading what it is granted");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes"))
}

pub fn install(home: &Path, runtime: &hyper_runtime::Runtime, args: InstallArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let spinner = crate::spinner("checking the package");
    let (bytes, expected_hash) = resolve_source(home, runtime, &args)?;
    let trust = TrustList::load(home)?;
    let identity = Identity::load_or_create(home)?;
    let options = InstallOptions {
        allow_unknown_publisher: args.allow_unknown_publisher,
        expected_hash,
    };
    let plan = check(
        runtime,
        &trust,
        Some(&identity.public_key()),
        &bytes,
        &options,
    );
    spinner.finish_and_clear();
    let plan = plan?;
    if !args.json {
        describe_plan(&plan);
    }
    if !args.yes && !confirm("Install it?")? {
        bail!("not installed");
    }
    let store = Store::open(home)?;
    let installed = hyper_registry::install(&store, &plan)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "installed": installed, "seconds": started.elapsed().as_secs_f64() })
            )?
        );
    } else {
        println!(
            "installed {}@{} (sha256:{}) in {:.2}s",
            installed.manifest.name,
            installed.manifest.version,
            &installed.hash[..16],
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn print_installed(p: &Installed) {
    println!(
        "{:<24} {:<10} {:<15} sha256:{}  {}",
        p.manifest.name,
        p.manifest.version,
        p.manifest.world,
        &p.hash[..16],
        p.manifest.domains.join(",")
    );
}

pub fn list(home: &Path, json: bool) -> Result<()> {
    let all = Store::open(home)?.list()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else if all.is_empty() {
        println!("no skills installed: `hyper skill install <file.hskill | name>`");
    } else {
        for p in &all {
            print_installed(p);
        }
    }
    Ok(())
}

pub fn info(home: &Path, spec: &str, json: bool) -> Result<()> {
    let p = Store::open(home)?.find(spec)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&p)?);
        return Ok(());
    }
    let m = &p.manifest;
    println!("name         {}", m.name);
    println!("version      {}", m.version);
    println!("description  {}", m.description);
    println!("authors      {}", m.authors.join(", "));
    println!("license      {}", m.license);
    println!("world        hyper:research/{}@{}", m.world, m.api);
    println!("domains      {}", m.domains.join(", "));
    if let Some(task) = &m.task {
        println!("task         {task}");
    }
    println!("package      sha256:{}", p.hash);
    println!(
        "component    sha256:{} ({} bytes)",
        m.component.sha256, m.component.size
    );
    println!("publisher    {} ({})", p.publisher_fingerprint, p.publisher);
    println!("imports      {}", m.capabilities.imports.join(", "));
    Ok(())
}

pub fn remove(home: &Path, spec: &str, json: bool) -> Result<()> {
    let store = Store::open(home)?;
    let p = store.find(spec)?;
    store.remove(&p.hash)?;
    if json {
        println!("{}", serde_json::json!({ "removed": p.hash }));
    } else {
        println!(
            "removed {}@{} (sha256:{})",
            p.manifest.name,
            p.manifest.version,
            &p.hash[..16]
        );
    }
    Ok(())
}

pub fn verify(home: &Path, spec: Option<&str>, json: bool) -> Result<()> {
    let store = Store::open(home)?;
    let targets = match spec {
        Some(s) => vec![store.find(s)?],
        None => store.list()?,
    };
    let mut failures = 0;
    let mut report = Vec::new();
    for p in &targets {
        let result = store.verify(p);
        if !json {
            match &result {
                Ok(()) => println!(
                    "ok      {}@{} sha256:{}",
                    p.manifest.name,
                    p.manifest.version,
                    &p.hash[..16]
                ),
                Err(e) => println!(
                    "FAILED  {}@{} sha256:{}: {e}",
                    p.manifest.name,
                    p.manifest.version,
                    &p.hash[..16]
                ),
            }
        }
        failures += usize::from(result.is_err());
        report.push(serde_json::json!({ "hash": p.hash, "name": p.manifest.name, "ok": result.is_ok(), "error": result.err().map(|e| e.to_string()) }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    if failures > 0 {
        bail!("{failures} package(s) failed verification: remove and reinstall them");
    }
    Ok(())
}

pub fn pack(
    home: &Path,
    runtime: &hyper_runtime::Runtime,
    source: &Path,
    output: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let identity = Identity::load_or_create(home)?;
    let package = hyper_registry::pack::pack(runtime, source, &identity)?;
    let m = &package.manifest;
    let output =
        output.unwrap_or_else(|| PathBuf::from(format!("{}-{}.hskill", m.name, m.version)));
    std::fs::write(&output, package.to_bytes()?)
        .with_context(|| format!("writing {}", output.display()))?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "file": output, "hash": package.hash(), "name": m.name, "version": m.version, "publisher": identity.fingerprint() })
        );
    } else {
        println!(
            "packed {}@{} into {} (sha256:{}), signed by {}",
            m.name,
            m.version,
            output.display(),
            &package.hash()[..16],
            identity.fingerprint()
        );
    }
    Ok(())
}

pub fn publish(home: &Path, file: &Path, index: Option<PathBuf>, json: bool) -> Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let package = hyper_registry::Package::from_bytes(&bytes)?;
    let index = Index::open(index_dir(home, index))?;
    let entry = index.publish(&package)?;
    // Also served to peers: the node announces everything in its shared folder when it starts,
    // and a running node right away.
    let shared = crate::node::shared_dir(home);
    std::fs::create_dir_all(&shared)?;
    let file_name = format!("{}@{}.hskill", package.manifest.name, entry.version);
    let part = shared.join(format!("{file_name}.part"));
    std::fs::write(&part, &bytes)?;
    std::fs::rename(&part, shared.join(&file_name))?;
    let announced = if crate::node::node_running(home) {
        crate::node::share_skill(home, &shared.join(&file_name))?;
        true
    } else {
        false
    };
    if json {
        println!(
            "{}",
            serde_json::json!({ "name": package.manifest.name, "version": entry.version, "hash": entry.hash, "index": index.dir(), "announced": announced })
        );
    } else {
        println!(
            "published {}@{} (sha256:{}) to {}",
            package.manifest.name,
            entry.version,
            &entry.hash[..16],
            index.dir().display()
        );
        if announced {
            println!("announced to the swarm by the running node");
        } else {
            println!("peers will find it once `hyper node` runs");
        }
    }
    Ok(())
}

pub fn identity(home: &Path, json: bool) -> Result<()> {
    let identity = Identity::load_or_create(home)?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "fingerprint": identity.fingerprint(), "public_key": identity.public_hex() })
        );
    } else {
        println!("fingerprint  {}", identity.fingerprint());
        println!("public key   {}", identity.public_hex());
    }
    Ok(())
}

pub fn trust(home: &Path, command: TrustCommand) -> Result<()> {
    let mut list = TrustList::load(home)?;
    match command {
        TrustCommand::Add { key, name } => {
            list.add(&key, &name)?;
            list.save(home)?;
            println!("trusting {key}");
        }
        TrustCommand::List { json } => {
            if json {
                println!("{}", serde_json::to_string_pretty(&list.publishers)?);
            } else {
                for p in &list.publishers {
                    println!("{}  {}", p.key, p.name);
                }
            }
        }
    }
    Ok(())
}
