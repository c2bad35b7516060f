//! Collaboration benchmark: do N nodes researching together need fewer experiments than the
//! same N machines alone? Real nodes on loopback (one operator's: they `hyper trust` each
//! other, so each learns from the others' results without waiting for replays), each with
//! its loop on its own thread; the isolated groups are the same loops with no peers (what
//! `hyper run --proposer gp` does), with the same seeds. A fixed total budget of experiments
//! per group, split evenly between its nodes.
//!
//! Per domain and group size N it reports the total experiments the group needed until its
//! best reached each target, the best at the budget (mean and 95 % interval over the seed
//! sets) and the ratio cooperating / isolated; and one node with the proposer (default `gp`,
//! the default of `hyper node`) against `mixed`, the default of `hyper run`. Isolated
//! experiments are counted in rounds (every node's k-th experiment at once, the group's
//! count at round k being N(k−1)+1: the most favourable position for the isolated group);
//! cooperating ones in the order they finished.
//!
//! Targets: the best value known for the domain is the best any run of this benchmark found
//! (all modes and seed sets); a target closes a share of the gap between the defaults'
//! value and it (50 % and 75 %) — "95 % of the best value" would be met by the defaults
//! themselves on most of these domains.
//!
//! `cargo bench -p hyper-tests --bench research --profile dev -- [--domains search,cisi,finance,tldr]
//!  [--nodes 2,4,8] [--budget 48] [--seeds 10] [--proposer gp|tpe|mixed|novelty] [--noise-runs N] [--json FILE]`

use hyper_tests::flags::OrExit;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use hyper_journal::Journal;
use hyper_research::{Domain, LoopOptions, ProposerKind, ResearchLoop, Solo};
use hyper_runtime::{Evaluator, Skill};
use hyper_swarm::node::{start, NodeClient, NodeConfig};
use hyper_swarm::peers::SwarmPeers;
use hyper_swarm::record::{from_journal, peer_id_of};
use hyper_tests::swarm_harness::tokio_rt;
use hyper_tests::{embedded_domain, flags, read, runtime, temp_home};

/// One experiment as the benchmark counts it: when it finished and what it scored.
#[derive(Clone, Copy, Debug, serde::Serialize)]
struct Point {
    finished_ms: u64,
    val: Option<f64>,
}

fn options(seed: u64, experiments: u32, proposer: ProposerKind) -> LoopOptions {
    LoopOptions {
        experiments: Some(experiments),
        seed,
        resume: false,
        // 0 by default: the figures count search, not repeats (`--noise-runs 2` as `hyper node`).
        noise_runs: flags::value("--noise-runs", 0),
        proposer,
        // As `hyper node` does; a loop alone has no peers to share with.
        share_baseline: true,
        ..LoopOptions::default()
    }
}

/// The parts every loop of a domain shares (compiled once).
#[derive(Clone)]
struct Parts {
    dir: PathBuf,
    skill: Skill,
    evaluator: Evaluator,
}

/// One loop with its own journal; every record goes to `on_record` too.
fn research(
    parts: &Parts,
    journal_dir: &Path,
    options: LoopOptions,
    peers: &mut dyn hyper_research::Peers,
    mut on_record: impl FnMut(&hyper_journal::Record),
) -> (Vec<Point>, Stats) {
    let mut journal = Journal::open(journal_dir.join("journal.db")).or_exit("journal");
    let mut points = Vec::new();
    let summary = ResearchLoop {
        domain: Domain::load(&parts.dir).or_exit("domain"),
        skill: parts.skill.clone(),
        evaluator: parts.evaluator.clone(),
        journal: &mut journal,
    }
    .run_with(&options, peers, &mut |event| {
        if let hyper_research::Event::ExperimentFinished { record, .. } = event {
            points.push(Point {
                finished_ms: record.finished_ms(),
                val: record.val,
            });
            on_record(record);
        }
    })
    .or_exit("the research loop");
    let stats = Stats {
        explored: summary.explored,
        avoided_dead_ends: summary.avoided_dead_ends,
        skipped_claimed: summary.skipped_claimed,
        shared_observations: summary.shared_observations,
    };
    (points, stats)
}

/// What a cooperating loop's summary counted.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
struct Stats {
    explored: u32,
    avoided_dead_ends: u32,
    skipped_claimed: u32,
    shared_observations: usize,
}

fn alone(parts: &Parts, seed: u64, experiments: u32, proposer: ProposerKind) -> Vec<Point> {
    let dir = tempfile::tempdir().or_exit("tmp");
    research(
        parts,
        dir.path(),
        options(seed, experiments, proposer),
        &mut Solo,
        |_| {},
    )
    .0
}

fn key(n: usize) -> SigningKey {
    SigningKey::from_bytes(&[n as u8 + 1; 32])
}

/// N nodes that trust each other, meshed through the first; each runs `per_node`
/// experiments at once. Returns every node's points.
fn together(
    rt: &tokio::runtime::Runtime,
    parts: &Parts,
    domain: &str,
    seeds: &[u64],
    per_node: u32,
    proposer: &ProposerKind,
) -> (Vec<Vec<Point>>, Vec<Stats>) {
    let ids: HashSet<String> = (0..seeds.len())
        .map(|i| peer_id_of(&key(i).verifying_key()))
        .collect();
    let mut clients: Vec<NodeClient> = Vec::new();
    for i in 0..seeds.len() {
        let bootstrap = match clients.first() {
            Some(first) => vec![rt.block_on(first.listen_addrs()).or_exit("addrs")[0].clone()],
            None => vec![],
        };
        let config = NodeConfig {
            bootstrap,
            domains: vec![domain.to_string()],
            anti_entropy: Duration::from_millis(500),
            trusted: ids.clone(),
            ..NodeConfig::default()
        };
        let client = rt
            .block_on(start(key(i).to_bytes(), config, HashMap::new()))
            .or_exit("node");
        clients.push(client);
    }
    // Wait for every node to see another (gossip needs a mesh), at most 10 s.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10)
        && clients
            .iter()
            .any(|c| rt.block_on(c.peers()).map(|p| p.is_empty()).unwrap_or(true))
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let handles: Vec<_> = clients
        .iter()
        .zip(seeds)
        .enumerate()
        .map(|(i, (client, &seed))| {
            let (client, handle, parts) = (client.clone(), rt.handle().clone(), parts.clone());
            let proposer = proposer.clone();
            std::thread::spawn(move || {
                let dir = tempfile::tempdir().or_exit("tmp");
                let mut peers = SwarmPeers::new(client.clone(), handle.clone());
                let signer = key(i);
                research(
                    &parts,
                    dir.path(),
                    options(seed, per_node, proposer),
                    &mut peers,
                    |record| {
                        let _ = handle.block_on(client.publish(from_journal(record, &signer)));
                    },
                )
            })
        })
        .collect();
    let (points, stats) = handles
        .into_iter()
        .map(|h| h.join().expect("loop thread"))
        .unzip();
    for c in &clients {
        rt.block_on(c.shutdown());
    }
    (points, stats)
}

/// Experiments the cooperating group needed to reach `target` (in finishing order).
fn coop_to_target(points: &[Vec<Point>], target: f64) -> Option<usize> {
    let mut all: Vec<Point> = points.iter().flatten().copied().collect();
    all.sort_by_key(|p| p.finished_ms);
    all.iter()
        .position(|p| p.val.is_some_and(|v| v >= target))
        .map(|i| i + 1)
}

/// Experiments the isolated group needed: in rounds, N(k−1)+1 at the first round k in which
/// one of them reached `target`.
fn iso_to_target(runs: &[&[Point]], target: f64) -> Option<usize> {
    let rounds = runs.iter().map(|r| r.len()).max().unwrap_or(0);
    (0..rounds)
        .find(|&k| {
            runs.iter()
                .any(|r| r.get(k).and_then(|p| p.val).is_some_and(|v| v >= target))
        })
        .map(|k| runs.len() * k + 1)
}

fn best(points: impl IntoIterator<Item = Point>) -> f64 {
    points
        .into_iter()
        .filter_map(|p| p.val)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Mean and the half-width of its 95 % interval (Student's t for small samples).
fn mean_ci(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, f64::NAN);
    }
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    // t(0.975) for 1..=30 degrees of freedom, then the normal's.
    const T: [f64; 30] = [
        12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
        2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04,
    ];
    let t = T.get(v.len() - 2).copied().unwrap_or(1.96);
    (mean, t * sd / n.sqrt())
}

/// Everything one seed set of one domain produced.
#[derive(serde::Serialize)]
struct SeedSet {
    /// Isolated TPE runs, by seed index (the longest each group size needs).
    isolated: Vec<Vec<Point>>,
    /// One node with `mixed`, the whole budget.
    mixed: Vec<Point>,
    /// Cooperating groups by size, and what each of their loops counted.
    together: BTreeMap<usize, Vec<Vec<Point>>>,
    stats: BTreeMap<usize, Vec<Stats>>,
}

fn run_domain(
    rt: &tokio::runtime::Runtime,
    d: &hyper_guests::EmbeddedDomain,
    sizes: &[usize],
    budget: u32,
    seeds: u64,
    proposer: &ProposerKind,
) -> (Vec<SeedSet>, Duration) {
    let started = Instant::now();
    let (_dir, home) = temp_home();
    let domain = embedded_domain(&home, d, &[]);
    let runtime = runtime();
    let skill_path = domain.default_skill_path().or_exit("default skill");
    let parts = Parts {
        dir: domain.dir.clone(),
        skill: Skill::load(&runtime, &read(&skill_path.to_string_lossy())).or_exit("skill"),
        evaluator: Evaluator::load(&runtime, &read(&domain.evaluator_path().to_string_lossy()))
            .or_exit("evaluator"),
    };
    let largest = sizes.iter().copied().max().unwrap_or(1);
    let mut sets = Vec::new();
    for s in 0..seeds {
        let seed = |j: usize| 1000 * s + j as u64;
        // Seed j runs as long as the smallest group it belongs to needs: a shorter run is
        // the same run's prefix (the proposer sees the same history).
        let isolated: Vec<Vec<Point>> = (0..largest)
            .map(|j| {
                let n = sizes
                    .iter()
                    .copied()
                    .filter(|&n| j < n)
                    .min()
                    .unwrap_or(largest);
                alone(&parts, seed(j), budget / n as u32, proposer.clone())
            })
            .collect();
        let mixed = alone(&parts, seed(0), budget, ProposerKind::Mixed);
        let (mut groups, mut stats) = (BTreeMap::new(), BTreeMap::new());
        for &n in sizes.iter().filter(|&&n| n > 1) {
            let seeds: Vec<u64> = (0..n).map(seed).collect();
            let (points, counted) =
                together(rt, &parts, d.name, &seeds, budget / n as u32, proposer);
            groups.insert(n, points);
            stats.insert(n, counted);
        }
        eprintln!(
            "  {}: seed set {s} done ({:.0} s so far)",
            d.name,
            started.elapsed().as_secs_f64()
        );
        sets.push(SeedSet {
            isolated,
            mixed,
            together: groups,
            stats,
        });
    }
    (sets, started.elapsed())
}

fn fmt_count(v: &[Option<usize>], budget: u32) -> (String, f64) {
    let reached: Vec<f64> = v.iter().flatten().map(|&x| x as f64).collect();
    let never = v.len() - reached.len();
    // "Never" counts as the budget + 1: a lower bound on what it would have needed.
    let counted: Vec<f64> = v
        .iter()
        .map(|x| x.map_or(f64::from(budget) + 1.0, |x| x as f64))
        .collect();
    let (m, ci) = mean_ci(&counted);
    let never = if never > 0 {
        format!(" ({never} never)")
    } else {
        String::new()
    };
    (format!("{m:.1} ± {ci:.1}{never}"), m)
}

fn report(name: &str, sets: &[SeedSet], sizes: &[usize], budget: u32, proposer: &str) -> String {
    let all = sets.iter().flat_map(|s| {
        s.isolated
            .iter()
            .flatten()
            .chain(&s.mixed)
            .chain(s.together.values().flatten().flatten())
            .copied()
    });
    let best_known = best(all);
    let defaults = sets
        .first()
        .and_then(|s| s.mixed.first())
        .and_then(|p| p.val)
        .unwrap_or(f64::NAN);
    let mut out = format!(
        "\n### {name}: defaults {defaults:.4}, best known {best_known:.4}, budget {budget} experiments per group, {} seed sets\n\n",
        sets.len()
    );
    out.push_str("| nodes | target | experiments to target, together | alone | ratio | best at budget, together | alone |\n|---|---|---|---|---|---|---|\n");
    for q in [0.5, 0.75] {
        let target = defaults + q * (best_known - defaults);
        for &n in sizes {
            let per = budget as usize / n;
            let iso: Vec<Option<usize>> = sets
                .iter()
                .map(|s| {
                    let runs: Vec<&[Point]> = s.isolated[..n]
                        .iter()
                        .map(|r| &r[..per.min(r.len())])
                        .collect();
                    iso_to_target(&runs, target)
                })
                .collect();
            let iso_best: Vec<f64> = sets
                .iter()
                .map(|s| {
                    best(
                        s.isolated[..n]
                            .iter()
                            .flat_map(|r| r[..per.min(r.len())].to_vec()),
                    )
                })
                .collect();
            let (iso_s, iso_m) = fmt_count(&iso, budget);
            let (ib, ibc) = mean_ci(&iso_best);
            if n == 1 {
                let mixed: Vec<Option<usize>> = sets
                    .iter()
                    .map(|s| iso_to_target(&[&s.mixed[..]], target))
                    .collect();
                let mixed_best: Vec<f64> = sets.iter().map(|s| best(s.mixed.clone())).collect();
                let (mx_s, mx_m) = fmt_count(&mixed, budget);
                let (mb, mbc) = mean_ci(&mixed_best);
                out.push_str(&format!(
                    "| 1 ({proposer} vs mixed) | {:.0}% gap ({target:.4}) | {iso_s} | {mx_s} | {:.2} | {ib:.4} ± {ibc:.4} | {mb:.4} ± {mbc:.4} |\n",
                    q * 100.0,
                    iso_m / mx_m
                ));
                continue;
            }
            let coop: Vec<Option<usize>> = sets
                .iter()
                .map(|s| coop_to_target(&s.together[&n], target))
                .collect();
            let coop_best: Vec<f64> = sets
                .iter()
                .map(|s| best(s.together[&n].iter().flatten().copied()))
                .collect();
            let (co_s, co_m) = fmt_count(&coop, budget);
            let (cb, cbc) = mean_ci(&coop_best);
            out.push_str(&format!(
                "| {n} | {:.0}% gap ({target:.4}) | {co_s} | {iso_s} | {:.2} | {cb:.4} ± {cbc:.4} | {ib:.4} ± {ibc:.4} |\n",
                q * 100.0,
                co_m / iso_m
            ));
        }
    }
    for &n in sizes.iter().filter(|&&n| n > 1) {
        let all: Vec<Stats> = sets.iter().flat_map(|s| s.stats[&n].clone()).collect();
        let sum = |f: &dyn Fn(&Stats) -> f64| all.iter().map(f).sum::<f64>();
        out.push_str(&format!(
            "\n{n} nodes, per loop: {:.1} results of others learnt from (most in one proposal), {:.2} proposals skipped as claimed, {:.2} redrawn out of dead ends, {:.2} made while the diversity signal was collapsed",
            sum(&|s| s.shared_observations as f64) / all.len() as f64,
            sum(&|s| f64::from(s.skipped_claimed)) / all.len() as f64,
            sum(&|s| f64::from(s.avoided_dead_ends)) / all.len() as f64,
            sum(&|s| f64::from(s.explored)) / all.len() as f64,
        ));
    }
    out.push('\n');
    out
}

fn main() {
    let domains = flags::text("--domains").unwrap_or_else(|| "search,cisi,finance,tldr".into());
    let sizes: Vec<usize> = flags::list("--nodes", "1,2,4,8");
    let budget: u32 = flags::value("--budget", 48);
    let seeds: u64 = flags::value("--seeds", 10);
    let proposer_name = flags::text("--proposer").unwrap_or_else(|| "gp".into());
    let proposer = match proposer_name.as_str() {
        "gp" => ProposerKind::Gp,
        "tpe" => ProposerKind::Tpe,
        "mixed" => ProposerKind::Mixed,
        "novelty" => ProposerKind::Novelty,
        other => flags::fail(&format!(
            "--proposer: {other:?} is not one of gp, tpe, mixed, novelty"
        )),
    };
    // Fails now, not after an hour of runs, when the file cannot be written.
    let json = flags::text("--json").map(|path| {
        let file = std::fs::File::create(&path)
            .unwrap_or_else(|e| flags::fail(&format!("--json {path}: {e}")));
        (path, file)
    });
    let rt = tokio_rt();
    let mut tables = String::new();
    let mut raw = serde_json::Map::new();
    for name in domains.split(',') {
        let d = match name {
            "search" => &hyper_guests::SEARCH,
            "cisi" => &hyper_guests::CISI,
            "finance" => &hyper_guests::FINANCE,
            "tldr" => &hyper_guests::TLDR,
            other => flags::fail(&format!(
                "--domains: {other:?} is not one of search, cisi, finance, tldr"
            )),
        };
        eprintln!("{name}: {seeds} seed sets, groups {sizes:?}, budget {budget}");
        let (sets, took) = run_domain(&rt, d, &sizes, budget, seeds, &proposer);
        let table = report(name, &sets, &sizes, budget, &proposer_name);
        println!("{table}\n({name} took {:.0} s)", took.as_secs_f64());
        tables.push_str(&table);
        raw.insert(name.into(), serde_json::to_value(&sets).or_exit("json"));
    }
    println!("\n{tables}");
    if let Some((path, file)) = json {
        let mut out = std::io::BufWriter::new(file);
        let written = serde_json::to_writer(&mut out, &raw)
            .map_err(|e| e.to_string())
            .and_then(|()| std::io::Write::flush(&mut out).map_err(|e| e.to_string()));
        if let Err(e) = written {
            flags::fail(&format!("--json {path}: {e}"));
        }
    }
}
