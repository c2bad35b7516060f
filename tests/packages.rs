//! Skill packages: pack, sign, publish, install, remove — and every hostile package refused
//! with a message naming the problem, leaving the store exactly as it was.

use std::collections::BTreeMap;
use std::path::Path;

use hyper_registry::index::Index;
use hyper_registry::install::{check, InstallOptions};
use hyper_registry::manifest::SourceManifest;
use hyper_registry::{Identity, Package, RegistryError, Store, TrustList};
use hyper_tests::*;

fn source(name: &str, version: &str) -> SourceManifest {
    SourceManifest {
        name: name.into(),
        version: version.into(),
        description: "test package".into(),
        authors: vec!["tests".into()],
        license: "Apache-2.0".into(),
        domains: vec!["search".into()],
        task: None,
        component: "skill.wasm".into(),
        build: None,
    }
}

fn packed(
    runtime: &hyper_runtime::Runtime,
    identity: &Identity,
    path: &str,
    name: &str,
    version: &str,
) -> Package {
    hyper_registry::pack::pack_component(runtime, source(name, version), read(path), identity)
        .expect("pack")
}

/// Every file under the store, with a hash of its content.
fn snapshot(home: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
                out.insert(
                    p.strip_prefix(root).expect("inside").display().to_string() + "/",
                    String::new(),
                );
            } else {
                out.insert(
                    p.strip_prefix(root).expect("inside").display().to_string(),
                    hyper_registry::sha256_hex(&std::fs::read(&p).expect("read")),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&home.join("store"), home, &mut out);
    out
}

struct Setup {
    _tmp: tempfile::TempDir,
    home: std::path::PathBuf,
    runtime: hyper_runtime::Runtime,
    me: Identity,
    trust: TrustList,
}

fn setup() -> Setup {
    let (tmp, home) = temp_home();
    let me = Identity::load_or_create(&home).expect("identity");
    Store::open(&home).expect("store");
    Setup {
        _tmp: tmp,
        home,
        runtime: runtime(),
        me,
        trust: TrustList::default(),
    }
}

impl Setup {
    fn check(
        &self,
        bytes: &[u8],
        options: &InstallOptions,
    ) -> Result<hyper_registry::InstallPlan, RegistryError> {
        check(
            &self.runtime,
            &self.trust,
            Some(&self.me.public_key()),
            bytes,
            options,
        )
    }

    /// Installing `bytes` must fail with an error whose text contains `words`, and leave the
    /// store as it was.
    fn refused(&self, what: &str, bytes: &[u8], options: &InstallOptions, words: &str) {
        let before = snapshot(&self.home);
        let error = match self.check(bytes, options) {
            Ok(plan) => {
                let _ = plan;
                panic!("{what}: installed, should have been refused")
            }
            Err(e) => e.to_string(),
        };
        assert!(
            error.contains(words),
            "{what}: `{error}` should mention `{words}`"
        );
        assert_eq!(snapshot(&self.home), before, "{what}: the store changed");
    }
}

#[test]
fn pack_install_run_and_remove_with_shared_blobs() {
    let s = setup();
    let store = Store::open(&s.home).expect("store");
    let v1 = packed(&s.runtime, &s.me, fixtures::SEARCH_BM25, "bm25", "1.0.0");
    let v2 = packed(&s.runtime, &s.me, fixtures::SEARCH_BM25, "bm25", "1.1.0");
    assert_ne!(
        v1.hash(),
        v2.hash(),
        "different manifests, different packages"
    );
    for p in [&v1, &v2] {
        // Through the file format and back, as a user would.
        let plan = s
            .check(&p.to_bytes().expect("bytes"), &InstallOptions::default())
            .expect("checks pass");
        assert!(plan.publisher_trusted, "own key is trusted");
        assert!(plan
            .grants
            .iter()
            .any(|(i, _)| i == "wasi:filesystem/types"));
        hyper_registry::install(&store, &plan).expect("install");
    }
    let blobs = std::fs::read_dir(store.root().join("blobs"))
        .expect("blobs")
        .count();
    assert_eq!(blobs, 1, "both versions share one component blob");
    assert_eq!(
        store.find("bm25").expect("latest").manifest.version,
        "1.1.0"
    );
    let old = store.find("bm25@1.0.0").expect("pinned");
    store
        .remove(&store.find("bm25@1.1.0").expect("v2").hash)
        .expect("remove v2");
    store
        .verify(&old)
        .expect("the other package still verifies");
    let skill = hyper_runtime::Skill::load(&s.runtime, &store.component(&old).expect("component"))
        .expect("loads");
    let domain = search_domain(&s.home);
    assert_eq!(
        skill
            .describe(&domain.skill_policy())
            .expect("describe")
            .name,
        "search-bm25"
    );
    store.remove(&old.hash).expect("remove v1");
    assert_eq!(
        std::fs::read_dir(store.root().join("blobs"))
            .expect("blobs")
            .count(),
        0,
        "unused blob collected"
    );
    assert!(store.list().expect("list").is_empty());
}

#[test]
fn tampered_component_is_refused() {
    let s = setup();
    let mut p = packed(&s.runtime, &s.me, fixtures::TRIVIAL, "trivial", "0.1.0");
    let last = p.component.len() - 1;
    p.component[last] ^= 0xff;
    s.refused(
        "tampered",
        &p.to_bytes().expect("bytes"),
        &InstallOptions::default(),
        "component hash mismatch",
    );
}

#[test]
fn valid_hash_with_a_bad_signature_is_refused() {
    let s = setup();
    let other = Identity::load_or_create(&s.home.join("other")).expect("other key");
    let mut p = packed(&s.runtime, &s.me, fixtures::TRIVIAL, "trivial", "0.1.0");
    let forged = packed(&s.runtime, &other, fixtures::TRIVIAL, "trivial", "0.1.0");
    // Same manifest and hash; the signature is the other key's but claims to be mine.
    p.signature.signature = forged.signature.signature.clone();
    s.refused(
        "forged signature",
        &p.to_bytes().expect("bytes"),
        &InstallOptions::default(),
        "bad signature",
    );
    // And a changed manifest under an old signature.
    let mut renamed = packed(&s.runtime, &s.me, fixtures::TRIVIAL, "trivial", "0.1.0");
    renamed.manifest.version = "9.9.9".into();
    s.refused(
        "re-versioned",
        &renamed.to_bytes().expect("bytes"),
        &InstallOptions::default(),
        "bad signature",
    );
}

#[test]
fn untrusted_publisher_needs_explicit_consent() {
    let s = setup();
    let stranger = Identity::load_or_create(&s.home.join("stranger")).expect("key");
    let bytes = packed(&s.runtime, &stranger, fixtures::TRIVIAL, "trivial", "0.1.0")
        .to_bytes()
        .expect("bytes");
    s.refused(
        "stranger",
        &bytes,
        &InstallOptions::default(),
        "is not trusted",
    );
    let plan = s
        .check(
            &bytes,
            &InstallOptions {
                allow_unknown_publisher: true,
                ..Default::default()
            },
        )
        .expect("allowed explicitly");
    assert!(!plan.publisher_trusted);
    let mut trust = TrustList::default();
    trust
        .add(&stranger.public_hex(), "a stranger")
        .expect("add");
    let plan =
        check(&s.runtime, &trust, None, &bytes, &InstallOptions::default()).expect("trusted now");
    assert!(plan.publisher_trusted);
}

#[test]
fn manifest_that_under_declares_imports_is_refused() {
    let s = setup();
    let p = packed(&s.runtime, &s.me, fixtures::SEARCH_BM25, "bm25", "0.1.0");
    let mut manifest = p.manifest.clone();
    manifest
        .capabilities
        .imports
        .retain(|i| !i.starts_with("wasi:filesystem"));
    let sneaky =
        Package::build(manifest, p.component.clone(), s.me.signing_key()).expect("signed properly");
    s.refused(
        "under-declared",
        &sneaky.to_bytes().expect("bytes"),
        &InstallOptions::default(),
        "which the manifest does not declare",
    );
}

#[test]
fn component_for_an_unknown_api_version_is_refused() {
    let s = setup();
    let component = read(fixtures::FUTURE_API);
    // pack refuses it outright...
    let packed = hyper_registry::pack::pack_component(
        &s.runtime,
        source("future", "0.1.0"),
        component.clone(),
        &s.me,
    );
    assert!(packed.is_err());
    // ...and a hand-made manifest claiming either version is refused at install.
    for (api, words) in [
        ("0.2.0", "targets hyper:research@0.2.0"),
        ("0.1.0", "the component is research-skill@0.2.0"),
    ] {
        let manifest = hyper_registry::Manifest {
            name: "future".into(),
            version: "0.1.0".into(),
            description: String::new(),
            authors: vec![],
            license: String::new(),
            world: "research-skill".into(),
            api: api.into(),
            domains: vec!["search".into()],
            task: None,
            capabilities: hyper_registry::manifest::Capabilities {
                imports: vec![
                    "hyper:research/log".into(),
                    "hyper:research/progress".into(),
                    "hyper:research/types".into(),
                ],
            },
            component: hyper_registry::manifest::ComponentRef {
                sha256: hyper_registry::sha256_hex(&component),
                size: component.len() as u64,
            },
        };
        let p = Package::build(manifest, component.clone(), s.me.signing_key()).expect("build");
        s.refused(
            &format!("api {api}"),
            &p.to_bytes().expect("bytes"),
            &InstallOptions::default(),
            words,
        );
    }
}

fn raw_tar(entries: &[(&[u8], u64, &[u8], tar::EntryType)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, size, data, kind) in entries {
        let mut header = tar::Header::new_old();
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_size(*size);
        header.set_mode(0o644);
        header.set_entry_type(*kind);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

#[test]
fn malformed_archives_are_refused() {
    let s = setup();
    let good = packed(&s.runtime, &s.me, fixtures::TRIVIAL, "trivial", "0.1.0");
    let manifest = good.manifest.canonical_bytes();
    let signature = serde_json::to_vec(&good.signature).expect("json");
    let bytes = good.to_bytes().expect("bytes");
    let regular = tar::EntryType::Regular;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec(), "truncated"),
        ("empty", Vec::new(), "missing"),
        (
            "not a tar",
            b"definitely not a package".to_vec(),
            "not a skill package",
        ),
        (
            "path traversal",
            raw_tar(&[
                (b"../../evil.sh", 4, b"boom", regular),
                (
                    b"hyper-skill.json",
                    manifest.len() as u64,
                    &manifest,
                    regular,
                ),
            ]),
            "unexpected entry `../../evil.sh`",
        ),
        (
            "absolute path",
            raw_tar(&[(b"/etc/cron.d/x", 4, b"boom", regular)]),
            "unexpected entry `/etc/cron.d/x`",
        ),
        (
            "symlink entry",
            raw_tar(&[(b"skill.wasm", 0, b"", tar::EntryType::Symlink)]),
            "is not a regular file",
        ),
        (
            "absurd size",
            raw_tar(&[(b"skill.wasm", 40 << 30, b"", regular)]),
            "more than the limit",
        ),
        (
            "duplicate entry",
            raw_tar(&[
                (
                    b"signature.json",
                    signature.len() as u64,
                    &signature,
                    regular,
                ),
                (
                    b"signature.json",
                    signature.len() as u64,
                    &signature,
                    regular,
                ),
            ]),
            "appears twice",
        ),
    ];
    for (what, bytes, words) in cases {
        s.refused(what, &bytes, &InstallOptions::default(), words);
    }
    let huge = vec![0u8; (hyper_registry::package::MAX_PACKAGE_BYTES + 1) as usize];
    s.refused(
        "oversized file",
        &huge,
        &InstallOptions::default(),
        "more than the limit",
    );
}

#[test]
fn index_resolves_names_versions_hashes_and_skips_yanked() {
    let s = setup();
    let index = Index::open(s.home.join("index")).expect("index");
    let v1 = packed(&s.runtime, &s.me, fixtures::SEARCH_BM25, "bm25", "0.1.0");
    let v2 = packed(&s.runtime, &s.me, fixtures::SEARCH_BM25, "bm25", "0.2.0");
    index.publish(&v1).expect("publish v1");
    index.publish(&v2).expect("publish v2");
    index.publish(&v2).expect("publishing twice is harmless");
    let entry = index.entry("bm25").expect("entry");
    assert_eq!(entry.versions.len(), 2);
    assert_eq!(entry.resolve(None).expect("latest").hash, v2.hash());
    index.yank("bm25", "0.2.0").expect("yank");
    let entry = index.entry("bm25").expect("entry");
    assert_eq!(
        entry.resolve(None).expect("latest unyanked").hash,
        v1.hash()
    );
    assert_eq!(
        entry.resolve(Some("0.2.0")).expect("pinned").hash,
        v2.hash()
    );
    let file = index.find_hash(&v2.hash()[..12]).expect("by hash");
    let plan = s
        .check(
            &std::fs::read(file).expect("read"),
            &InstallOptions {
                expected_hash: Some(v2.hash()[..12].to_string()),
                ..Default::default()
            },
        )
        .expect("hash matches");
    assert_eq!(plan.hash, v2.hash());
    let wrong = InstallOptions {
        expected_hash: Some(v1.hash()[..12].to_string()),
        ..Default::default()
    };
    s.refused(
        "hash not the one asked for",
        &v2.to_bytes().expect("bytes"),
        &wrong,
        "hash mismatch",
    );
}
