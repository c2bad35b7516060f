//! The ML domain end to end on real components: the official skill trains a small GPT through
//! host tensors, the evaluator rebuilds it from the safetensors artifact and measures bits per
//! byte on text the skill cannot read; the domain pins the training budget; malformed or
//! forged artifacts are refused with reasons.

use std::collections::HashMap;

use hyper_journal::{Journal, Status};
use hyper_research::{Domain, LoopOptions, ResearchLoop};
use hyper_runtime::{Artifact, Evaluator, Skill, Split};
use hyper_tests::*;
use sha2::{Digest, Sha256};

/// A tensor as the artifact format stores it: name, shape, values.
type Named = (String, Vec<usize>, Vec<f32>);
/// A change to an artifact's metadata and tensors.
type Edit = dyn Fn(&mut HashMap<String, String>, &mut Vec<Named>);

fn parts(home: &std::path::Path) -> (Skill, Evaluator, Journal) {
    loop_parts(home, fixtures::ML_TINYGPT, fixtures::ML_EVALUATOR)
}

fn file(domain: &Domain, rel: &str) -> Vec<u8> {
    std::fs::read(domain.dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn the_split_is_byte_exact_and_the_skill_sees_only_training_text() {
    let (_t, home) = temp_home();
    let domain = embedded_domain(&home, &hyper_guests::ML, &[]);
    let mut whole = file(&domain, "data/train.txt");
    whole.extend(file(&domain, "heldout/val.txt"));
    whole.extend(file(&domain, "heldout/test.txt"));
    assert_eq!(whole.len(), 1_115_394);
    assert_eq!(
        format!("{:x}", Sha256::digest(&whole)),
        "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        "train + val + test is Tiny Shakespeare's input.txt"
    );
    let skill_data = domain.skill_policy().data_dir.expect("skill data");
    let names: Vec<String> = std::fs::read_dir(&skill_data)
        .expect("data dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["train.txt"]);
    let heldout = domain.evaluator_policy().data_dir.expect("evaluator data");
    assert!(heldout.join("val.txt").is_file() && heldout.join("test.txt").is_file());
    assert!(!heldout.starts_with(&skill_data) && !skill_data.starts_with(&heldout));
}

#[test]
fn the_loop_trains_a_model_that_beats_the_unigram_baseline_on_held_out_text() {
    let (_t, home) = temp_home();
    // 150k tokens: seconds rather than the domain's minute, still far below unigram.
    let domain = embedded_domain(
        &home,
        &hyper_guests::ML,
        &[("train_tokens", toml::Value::Integer(150_000))],
    );
    let unigram = unigram_bpb(
        &file(&domain, "data/train.txt"),
        &file(&domain, "heldout/val.txt"),
    );
    assert!((4.7..4.9).contains(&unigram), "unigram {unigram}");
    let (skill, evaluator, mut journal) = parts(&home);
    let summary = run_loop(domain, skill, evaluator, &mut journal, 2, 3).expect("loop");
    assert_eq!(summary.crashed, 0, "{summary:?}");
    let rows = journal.list("ml").expect("journal");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        // The domain's budget, whatever the skill's default or the proposer's choice.
        assert_eq!(row.params["train_tokens"], 150_000, "{}", row.params);
        assert!(row.platform.contains("tensors=cpu"), "{}", row.platform);
    }
    let baseline = &rows[0];
    assert_eq!(baseline.status, Status::Baseline);
    let (val, test) = (
        baseline.val.expect("val_bpb"),
        baseline.test.expect("test_bpb"),
    );
    assert!(val < unigram - 0.8, "val_bpb {val} vs unigram {unigram}");
    assert!((val - test).abs() < 0.3, "val {val} test {test}");
    let metrics = baseline.metrics.to_string();
    assert!(metrics.contains("params"), "{metrics}");
}

#[test]
fn training_is_deterministic_and_the_evaluator_alone_scores() {
    let (_t, home) = temp_home();
    let domain = embedded_domain(&home, &hyper_guests::ML, &[]);
    let (skill, evaluator, _) = parts(&home);
    let skill_policy = domain.skill_policy();
    let eval_policy = domain.evaluator_policy();
    let info = skill.describe(&skill_policy).expect("describe");
    let mut space = hyper_research::Space::new(info.params).expect("space");
    space
        .pin(&toml::toml! { train_tokens = 20000 })
        .expect("pin");
    let spec = hyper_runtime::ExperimentSpec {
        domain: "ml".into(),
        params: space.to_wit(&space.defaults()),
        ..spec("t", 7, &[])
    };
    let train = || {
        let (result, report) = skill.run(&skill_policy, &spec, None);
        assert_eq!(report.tensor_device, Some("cpu"));
        result.expect("trains")
    };
    let artifact = train();
    assert_eq!(artifact.media_type, tinygpt::MEDIA_TYPE);
    assert_eq!(train().bytes, artifact.bytes, "same seed, same weights");
    // The sandbox computes exactly what the same code computes natively on the host's store.
    let (native, _) = native::train(
        native::default_config(),
        &native::default_recipe(20_000),
        &file(&domain, "data/train.txt"),
        7,
    );
    assert!(
        native == artifact.bytes,
        "native and sandboxed training differ"
    );
    let (config, weights) = tinygpt::format::read(&artifact.bytes).expect("a valid artifact");
    assert_eq!((config.depth, config.width, config.context), (2, 64, 64));
    assert!(weights.contains_key("blocks.1.attn.wq"));

    let score = |a: &Artifact| evaluator.score(&eval_policy, a, Split::Validation);
    let bpb = score(&artifact).expect("scores")[0].value;
    assert!(bpb > 0.0 && bpb < 8.0, "{bpb}");
    assert_eq!(
        score(&artifact).expect("again")[0].value,
        bpb,
        "deterministic"
    );

    // Forged and malformed artifacts are refused with a reason; the host stays up.
    let refused = |a: Artifact, why: &str| {
        let err = score(&a).expect_err(why).to_string();
        assert!(err.contains(why), "{err} (expected {why})");
    };
    refused(
        Artifact {
            media_type: "text/plain".into(),
            bytes: artifact.bytes.clone(),
        },
        "media type",
    );
    refused(
        Artifact {
            bytes: b"not safetensors at all".to_vec(),
            ..artifact.clone()
        },
        "not safetensors",
    );
    let rewrite = |edit: &Edit| {
        let (config, weights) = tinygpt::format::read(&artifact.bytes).expect("read");
        let mut meta = config.to_metadata();
        let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> =
            weights.into_iter().map(|(n, (s, v))| (n, s, v)).collect();
        edit(&mut meta, &mut tensors);
        Artifact {
            media_type: tinygpt::MEDIA_TYPE.into(),
            bytes: tinygpt::format::encode(&tensors, meta).expect("encode"),
        }
    };
    refused(
        rewrite(&|m, _| {
            let key = tinygpt::config::METADATA_KEY.to_string();
            m.insert(key.clone(), m[&key].replace("depth=2", "depth=1000"));
        }),
        "depth 1000",
    );
    refused(
        rewrite(&|m, _| {
            let key = tinygpt::config::METADATA_KEY.to_string();
            m.insert(key.clone(), m[&key].replace("learned", "alibi"));
        }),
        "unknown positions",
    );
    refused(
        rewrite(&|_, t| {
            t.pop();
        }),
        "tensors, but this architecture has",
    );
    refused(
        rewrite(&|_, t| {
            t[0].2[0] = f32::NAN;
        }),
        "NaN",
    );
    refused(
        rewrite(&|_, t| {
            let (name, shape, _) = t[0].clone();
            let n: usize = shape.iter().product::<usize>() * 2;
            t[0] = (
                name,
                vec![shape[0] * 2, shape.iter().skip(1).product()],
                vec![0.0; n],
            );
        }),
        "expected F32",
    );
    // And an honest artifact still scores afterwards.
    assert_eq!(score(&artifact).expect("still fine")[0].value, bpb);
}

#[test]
fn a_domain_that_fixes_an_undeclared_parameter_is_refused_by_name() {
    let (_t, home) = temp_home();
    let domain = embedded_domain(
        &home,
        &hyper_guests::ML,
        &[("epochs", toml::Value::Integer(3))],
    );
    let (skill, evaluator, mut journal) = parts(&home);
    let err = ResearchLoop {
        domain,
        skill,
        evaluator,
        journal: &mut journal,
    }
    .run(&LoopOptions::default(), &mut |_| {})
    .expect_err("refused");
    assert!(
        err.to_string()
            .contains("fixes `epochs`, which the skill does not declare"),
        "{err}"
    );
}

#[test]
fn a_noisy_metric_gets_a_floor_and_new_bests_are_confirmed_on_another_seed() {
    let (_t, home) = temp_home();
    let domain = embedded_domain(
        &home,
        &hyper_guests::ML,
        &[("train_tokens", toml::Value::Integer(30_000))],
    );
    let (skill, evaluator, mut journal) = parts(&home);
    let summary = run_loop(domain, skill, evaluator, &mut journal, 9, 8).expect("loop");
    let rows = journal.list("ml").expect("journal");
    // Training from other seeds gives other weights: the floor is their spread.
    let floor = summary.noise_floor.expect("floor");
    let vals: Vec<f64> = rows[..3].iter().map(|r| r.val.expect("val")).collect();
    assert!(floor > 0.0, "{vals:?}");
    let mean = vals.iter().sum::<f64>() / 3.0;
    let sd = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 2.0).sqrt();
    assert!((floor - sd).abs() < 1e-12, "{floor} vs {sd}");
    for r in &rows {
        match r.status {
            Status::Keep => {
                let c = &r.metrics["confirmation"];
                let confirmed = c["validation"].as_f64().expect("confirmation val");
                assert!(
                    rows.iter()
                        .any(|x| x.status == Status::Confirm
                            && x.id == c["id"].as_str().unwrap_or(""))
                );
                assert!(confirmed.is_finite());
            }
            Status::Discard => {
                let reason = r.reason.as_deref().unwrap_or("");
                assert!(
                    reason.is_empty()
                        || reason.contains("noise floor")
                        || reason.starts_with("did not hold")
                        || reason.starts_with("not confirmed"),
                    "{reason}"
                );
            }
            _ => {}
        }
    }
    assert_eq!(
        summary.kept
            + summary.discarded
            + summary.noise
            + 1
            + rows.iter().filter(|r| r.status == Status::Confirm).count() as u32,
        rows.len() as u32
    );
}

/// The second ML dataset runs end to end too: the same skill and evaluator on SciTLDR
/// abstracts (the skill declares `ml`; the domain accepts it through `skill_domain`).
#[test]
fn ml_scitldr_runs_end_to_end_on_its_own_text() {
    let (_t, home) = temp_home();
    let domain = embedded_domain(
        &home,
        &hyper_guests::ML_SCITLDR,
        &[("train_tokens", toml::Value::Integer(100_000))],
    );
    assert_eq!(domain.skill_domain(), "ml");
    let unigram = unigram_bpb(
        &file(&domain, "data/train.txt"),
        &file(&domain, "heldout/val.txt"),
    );
    let (skill, evaluator, mut journal) = parts(&home);
    let summary = run_loop(domain, skill, evaluator, &mut journal, 1, 1).expect("loop");
    assert_eq!(
        (summary.experiments, summary.crashed),
        (1, 0),
        "{summary:?}"
    );
    let baseline = summary.baseline.as_ref().expect("baseline");
    let val = baseline.val.expect("bpb");
    assert!(val < unigram - 0.5, "val_bpb {val} vs unigram {unigram}");
    assert!(baseline.test.is_some());
}

/// ML results are checked by replay within the domain's tolerance, and only on the same kind
/// of platform: a replay on this machine agrees; a result from another architecture or
/// tensor device is reported as "another platform", never as a refutation; a wrong figure
/// beyond the tolerance is refuted.
#[test]
fn an_ml_replay_agrees_within_tolerance_and_another_platform_is_not_a_refutation() {
    use hyper_research::{replay, Receipt, Verdict};
    let (_t, home) = temp_home();
    let domain = embedded_domain(
        &home,
        &hyper_guests::ML,
        &[("train_tokens", toml::Value::Integer(20_000))],
    );
    assert_eq!(
        domain.manifest.replay.agree,
        hyper_research::domain::AgreeRule::Tolerance
    );
    let tolerance = domain.manifest.replay.tolerance.expect("a tolerance");
    let (skill, evaluator, mut journal) = parts(&home);
    let summary = ResearchLoop {
        domain: domain.clone(),
        skill: skill.clone(),
        evaluator: evaluator.clone(),
        journal: &mut journal,
    }
    .run(
        &LoopOptions {
            experiments: Some(1),
            noise_runs: 0,
            ..LoopOptions::default()
        },
        &mut |_| {},
    )
    .expect("loop");
    let row = summary.baseline.expect("baseline");
    assert!(row.platform.contains("tensors=cpu"), "{}", row.platform);
    let data_hash = domain.data_hash().expect("data hash");
    assert_eq!(row.data_hash, data_hash);
    let receipt = Receipt {
        id: row.id.clone(),
        domain: row.domain.clone(),
        domain_version: row.domain_version.clone(),
        skill_hash: row.skill_hash.clone(),
        evaluator_hash: row.evaluator_hash.clone(),
        data_hash: row.data_hash.clone(),
        params: row.params.clone(),
        seed: row.seed,
        parent: row.parent.clone(),
        platform: row.platform.clone(),
        val: row.val,
        test: row.test,
    };
    let same = replay(&domain, &data_hash, &skill, &evaluator, &receipt);
    assert_eq!(same.verdict, Verdict::Agree, "{}", same.reason);
    let (ours, theirs) = (same.val.expect("val"), row.val.expect("val"));
    assert!((ours - theirs).abs() <= tolerance, "{ours} vs {theirs}");
    // Within the tolerance still agrees; beyond it is refuted.
    let nudged = Receipt {
        val: Some(theirs + tolerance / 2.0),
        ..receipt.clone()
    };
    assert_eq!(
        replay(&domain, &data_hash, &skill, &evaluator, &nudged).verdict,
        Verdict::Agree
    );
    let wrong = Receipt {
        val: Some(theirs - 0.5),
        ..receipt.clone()
    };
    let refuted = replay(&domain, &data_hash, &skill, &evaluator, &wrong);
    assert_eq!(refuted.verdict, Verdict::Disagree);
    assert!(
        refuted.reason.contains(&format!("within {tolerance}")),
        "{}",
        refuted.reason
    );
    // Another architecture: said so before anything runs.
    let elsewhere = Receipt {
        platform: "aarch64-macos cpus=8 wasmtime=48.0.8 tensors=metal".into(),
        ..wrong.clone()
    };
    let other = replay(&domain, &data_hash, &skill, &evaluator, &elsewhere);
    assert_eq!(other.verdict, Verdict::Unreplayable, "{}", other.reason);
    assert!(
        other.reason.contains("another platform"),
        "{}",
        other.reason
    );
    assert!(
        other.duration_ms < 1000,
        "nothing ran: {} ms",
        other.duration_ms
    );
    // The same architecture with another tensor device (a GPU run): not comparable here.
    let on_gpu = Receipt {
        platform: row.platform.replace("tensors=cpu", "tensors=cuda"),
        ..wrong
    };
    let other = replay(&domain, &data_hash, &skill, &evaluator, &on_gpu);
    assert_eq!(other.verdict, Verdict::Unreplayable, "{}", other.reason);
    assert!(other.reason.contains("tensors=cuda"), "{}", other.reason);
    // Data that is not this node's is not replayable either.
    let other_data = Receipt {
        data_hash: "00".repeat(32),
        ..receipt
    };
    let other = replay(&domain, &data_hash, &skill, &evaluator, &other_data);
    assert_eq!(other.verdict, Verdict::Unreplayable);
    assert!(other.reason.contains("data"), "{}", other.reason);
}
