//! Registry benchmark: prints the figures README.md quotes. Run with
//! `cargo bench -p hyper-tests --bench registry` (release build).
//!
//! - install time of a package, precompile included (fresh home and compile cache each time):
//!   every check of `hyper skill install`, the compile, the store write;
//! - the time to get an installed skill running from the compile cache: read the blob, verify
//!   its hash, load the cached machine code, link, and instantiate it in a fresh store.

use hyper_tests::flags::OrExit;
use std::time::{Duration, Instant};

use hyper_registry::install::{check, InstallOptions};
use hyper_registry::manifest::SourceManifest;
use hyper_registry::{Identity, Store, TrustList};
use hyper_runtime::{Runtime, RuntimeConfig, SandboxPolicy, Skill};
use hyper_tests::*;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let quick = hyper_tests::flags::switch("--quick");
    let reps = if quick { 3 } else { 7 };
    println!("hyper registry benchmark ({})", hyper_research::platform());
    for (label, path) in [
        ("~2 MB skill (fixture-large)", fixtures::LARGE),
        ("BM25 skill (search-bm25)", fixtures::SEARCH_BM25),
    ] {
        let component = read(path);
        let source = SourceManifest {
            name: "bench".into(),
            version: "0.1.0".into(),
            description: String::new(),
            authors: vec![],
            license: String::new(),
            domains: vec!["search".into()],
            task: None,
            component: "skill.wasm".into(),
            build: None,
        };
        let (_pack_tmp, pack_home) = temp_home();
        let identity = Identity::load_or_create(&pack_home).or_exit("identity");
        let bytes =
            hyper_registry::pack::pack_component(&runtime(), source, component.clone(), &identity)
                .or_exit("pack")
                .to_bytes()
                .or_exit("bytes");
        let mut install_times = Vec::new();
        let mut homes = Vec::new();
        for _ in 0..reps {
            let (tmp, home) = temp_home();
            let mut trust = TrustList::default();
            trust.add(&identity.public_hex(), "bench").or_exit("trust");
            let start = Instant::now();
            // What `hyper skill install --yes` does: a runtime with the home's compile cache,
            // every check (compiling the component once), then the store write.
            let runtime = Runtime::new(RuntimeConfig {
                cache_dir: Some(home.join("cache/components")),
                ..Default::default()
            })
            .or_exit("runtime");
            let plan =
                check(&runtime, &trust, None, &bytes, &InstallOptions::default()).or_exit("checks");
            let store = Store::open(&home).or_exit("store");
            let installed = hyper_registry::install(&store, &plan).or_exit("install");
            install_times.push(start.elapsed());
            homes.push((tmp, home, installed));
        }
        let mut ready_times = Vec::new();
        let mut instantiate_times = Vec::new();
        let mut blob_times = Vec::new();
        for (_tmp, home, installed) in &homes {
            let runtime = Runtime::new(RuntimeConfig {
                cache_dir: Some(home.join("cache/components")),
                ..Default::default()
            })
            .or_exit("runtime");
            let policy = SandboxPolicy {
                data_dir: None,
                ..SandboxPolicy::default()
            };
            let start = Instant::now();
            let store = Store::open(home).or_exit("store");
            let blob = store.component(installed).or_exit("component");
            blob_times.push(start.elapsed());
            let skill = Skill::load(&runtime, &blob).or_exit("load from cache");
            let instantiate = skill.instantiate_only(&policy).or_exit("instantiate");
            ready_times.push(start.elapsed());
            instantiate_times.push(instantiate);
        }
        println!(
            "{label}: component {:.2} MB, package {:.2} MB ({reps} runs, median)",
            component.len() as f64 / 1e6,
            bytes.len() as f64 / 1e6
        );
        println!(
            "  install incl. checks + precompile        {:>9.1} ms   (target ≤ 2000 ms)",
            ms(median(install_times))
        );
        println!(
            "  installed → instantiated, from the cache {:>9.2} ms   (target ≤ 5 ms)",
            ms(median(ready_times))
        );
        println!(
            "    of which read + verify the blob        {:>9.3} ms",
            ms(median(blob_times))
        );
        println!(
            "    of which instantiate in a fresh store  {:>9.3} ms",
            ms(median(instantiate_times))
        );
    }
}
