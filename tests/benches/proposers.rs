//! Proposer benchmark on the search domain's (or the cisi cause's) objective computed natively: the BM25 skill's
//! ranking code and the evaluator's NDCG@10, compiled for the host (the same source files as
//! the components), over the space the real skill declares. An experiment takes milliseconds
//! instead of a sandboxed second, so a proposer's design can be compared over many seeds.
//!
//! It plays the loop's part only as far as the proposer sees it: the baseline first, then
//! proposals with the same [`Context`] the loop builds (the point to climb from, what not to
//! repeat, every result learnt from, the points in flight). N nodes are simulated in
//! synchronous rounds: in a round every node proposes in turn, seeing every result of the
//! rounds before and, as in flight, the points proposed before it in this round. The
//! collaboration benchmark (`benches/research.rs`) runs the real thing on real nodes; this one
//! is for design, and its figures are checked against that one's.
//!
//! Counting as in `benches/research.rs`: isolated groups in rounds (N(k−1)+1 at the first
//! round k in which one node reached the target), cooperating ones in round order.
//!
//! `cargo bench -p hyper-tests --bench proposers --profile dev -- [--proposers mixed,tpe,gp]
//!  [--nodes 1,4] [--budget 48] [--seeds 100] [--domain search|cisi]`

#[allow(dead_code)]
#[path = "../../skills/search-bm25/src/bm25.rs"]
mod bm25;
#[allow(dead_code)]
#[path = "../../domains/search/scoring/src/lib.rs"]
mod scoring;

use hyper_tests::flags::OrExit;
use std::time::Instant;

use hyper_research::{
    Assignment, Context, Domain, GpProposer, MixedProposer, Observation, Proposer, Space,
    TpeProposer, Value,
};
use hyper_runtime::Skill;
use hyper_tests::{embedded_domain, flags, read, runtime, temp_home};

/// The search domain's validation NDCG@10 of one assignment, natively.
struct Objective {
    docs: Vec<bm25::Doc>,
    queries: Vec<bm25::Query>,
    judgements: scoring::Judgements,
    /// The evaluator's bounds on a run's ids.
    max_query: u32,
    max_doc: u32,
}

impl Objective {
    /// `search` (Cranfield) or `cisi` (the cause on CISI, which the same skill serves).
    fn load(domain: &str) -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../domains");
        let text = |p: &str| std::fs::read_to_string(format!("{root}/{p}")).or_exit(p);
        match domain {
            "search" => Objective {
                docs: bm25::parse_docs(&text("search/data/cran.all.1400")),
                queries: bm25::parse_queries(&text("search/data/cran.qry")),
                judgements: scoring::Judgements::parse(&text("search/evaluator/qrels/cranqrel"))
                    .or_exit("qrels"),
                max_query: scoring::MAX_QUERY,
                max_doc: scoring::MAX_DOC,
            },
            "cisi" => Objective {
                docs: bm25::parse_docs(&text("cisi/data/CISI.ALL")),
                // CISI's query ids are the `.I` numbers (its data/collection.json says so).
                queries: bm25::parse_queries_with(&text("cisi/data/CISI.QRY"), true),
                judgements: cisi_judgements(&text("cisi/heldout/CISI.REL")),
                max_query: 112,
                max_doc: 1460,
            },
            other => flags::fail(&format!("--domain: {other:?} is not one of search, cisi")),
        }
    }

    fn score(&self, a: &Assignment) -> f64 {
        let f = |n: &str| match a.get(n) {
            Some(Value::Float(x)) => *x,
            other => unexpected(n, other),
        };
        let i = |n: &str| match a.get(n) {
            Some(Value::Int(x)) => *x,
            other => unexpected(n, other),
        };
        let c = |n: &str| match a.get(n) {
            Some(Value::Choice(x)) => x.clone(),
            other => unexpected(n, other),
        };
        let options = bm25::Options {
            k1: f("k1"),
            b: f("b"),
            tokenizer: bm25::Tokenizer::parse(&c("tokenizer")).or_exit("tokenizer"),
            stemmer: bm25::Stemmer::parse(&c("stemmer")).or_exit("stemmer"),
            stopwords: matches!(a.get("stopwords"), Some(Value::Flag(true))),
            title_weight: f("title_weight"),
            prf_docs: i("prf_docs").max(0) as usize,
            prf_terms: i("prf_terms").max(0) as usize,
            prf_weight: f("prf_weight"),
            depth: 100,
        };
        let index = bm25::Index::build(&self.docs, &options);
        let mut run = String::new();
        for q in &self.queries {
            bm25::write_run(&mut run, q.qid, &index.search(&q.text, &options));
        }
        let run = scoring::Run::parse_in(&run, self.max_query, self.max_doc).or_exit("run");
        scoring::evaluate(&self.judgements, &run, |q| q % 3 != 0).ndcg10
    }
}

/// CISI.REL as the cisi evaluator reads it: `qid docid 0 0.0` per line, every pair relevant.
/// Not the evaluator's `parse_rel` itself: that crate is a guest (it links the SDK's
/// bindings) and does not build for the host.
fn cisi_judgements(text: &str) -> scoring::Judgements {
    let mut map = std::collections::BTreeMap::<u32, std::collections::HashMap<u32, u32>>::new();
    for line in text.lines() {
        let ids: Vec<u32> = line
            .split_whitespace()
            .take(2)
            .map(|f| f.parse().or_exit("CISI.REL"))
            .collect();
        if let [q, d] = ids[..] {
            map.entry(q).or_default().insert(d, 1);
        }
    }
    scoring::Judgements(map)
}

/// The skill's space does not match the ranking code compiled here (another skill version).
fn unexpected(name: &str, value: Option<&Value>) -> ! {
    flags::fail(&format!(
        "the skill's `{name}` is {value:?}, not what the native ranking code reads"
    ))
}

fn space() -> Space {
    let (_dir, home) = temp_home();
    let domain = embedded_domain(&home, &hyper_guests::SEARCH, &[]);
    let domain = Domain::load(&domain.dir).or_exit("domain");
    let runtime = runtime();
    let skill = Skill::load(&runtime, &read(hyper_tests::fixtures::SEARCH_BM25)).or_exit("skill");
    let info = skill.describe(&domain.skill_policy()).or_exit("describe");
    Space::new(info.params).or_exit("space")
}

fn proposer(kind: &str, seed: u64) -> Box<dyn Proposer> {
    match kind {
        "mixed" => Box::new(MixedProposer::new(seed)),
        "tpe" => Box::new(TpeProposer::new(seed)),
        "gp" => {
            let mut gp = GpProposer::new(seed);
            // Design knobs: --gp startup=3,random=300,local=60,xi=0
            for kv in flags::text("--gp")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
            {
                let Some((k, v)) = kv.split_once('=') else {
                    flags::fail(&format!("--gp: {kv:?} is not knob=value"));
                };
                let knob = format!("--gp {k}");
                match k {
                    "startup" => gp.startup = flags::parse(&knob, v),
                    "random" => gp.random_candidates = flags::parse(&knob, v),
                    "local" => gp.local_candidates = flags::parse(&knob, v),
                    "xi" => gp.xi = flags::parse(&knob, v),
                    // One value per node (node j of a group takes the j-th, cyclically).
                    "xi_per_node" => {
                        let xis: Vec<f64> = v.split('/').map(|x| flags::parse(&knob, x)).collect();
                        gp.xi = xis[(seed % 1000) as usize % xis.len()];
                    }
                    "screening" => gp.screening = flags::parse(&knob, v),
                    "twice" => gp.screen_twice = flags::parse(&knob, v),
                    other => flags::fail(&format!(
                        "--gp: unknown knob {other:?} (startup, random, local, xi, xi_per_node, screening, twice)"
                    )),
                }
            }
            Box::new(gp)
        }
        other => flags::fail(&format!(
            "--proposers: {other:?} is not one of mixed, tpe, gp"
        )),
    }
}

/// Values of a group of `n` nodes sharing what they find, in the order they finished.
fn together(
    objective: &Objective,
    space: &Space,
    kind: &str,
    seeds: &[u64],
    per_node: usize,
    shared_baseline: bool,
) -> Vec<f64> {
    let mut proposers: Vec<_> = seeds.iter().map(|&s| proposer(kind, s)).collect();
    let defaults = space.defaults();
    let base = objective.score(&defaults);
    let mut history: Vec<Observation> = Vec::new();
    let mut tried: Vec<Assignment> = Vec::new();
    let mut order = Vec::new();
    // Every node runs its baseline first, as the loop does (or, with a shared baseline, one
    // node does and the others start proposing).
    let baselines = if shared_baseline { 1 } else { seeds.len() };
    for _ in 0..baselines {
        history.push(Observation {
            params: defaults.clone(),
            val: Some(base),
        });
        order.push(base);
    }
    tried.push(defaults.clone());
    let mut bests: Vec<(Assignment, f64)> = vec![(defaults.clone(), base); seeds.len()];
    let mut left: Vec<usize> = (0..seeds.len())
        .map(|i| {
            if i < baselines {
                per_node - 1
            } else {
                per_node
            }
        })
        .collect();
    while left.iter().any(|&l| l > 0) {
        let mut pending: Vec<Assignment> = Vec::new();
        let mut who = Vec::new();
        for (node, p) in proposers.iter_mut().enumerate() {
            if left[node] == 0 {
                continue;
            }
            left[node] -= 1;
            who.push(node);
            let avoid: Vec<Assignment> = tried.iter().chain(&pending).cloned().collect();
            let context = Context {
                space,
                best: &bests[node].0,
                avoid: &avoid,
                history: &history,
                pending: &pending,
                higher_is_better: true,
                explore: false,
            };
            pending.push(p.propose(&context));
        }
        for (node, a) in who.into_iter().zip(pending) {
            let v = objective.score(&a);
            if v > bests[node].1 {
                bests[node] = (a.clone(), v);
            }
            tried.push(a.clone());
            history.push(Observation {
                params: a,
                val: Some(v),
            });
            order.push(v);
        }
    }
    order
}

/// One node alone for `budget` experiments.
fn alone(objective: &Objective, space: &Space, kind: &str, seed: u64, budget: usize) -> Vec<f64> {
    together(objective, space, kind, &[seed], budget, false)
}

fn coop_to_target(values: &[f64], target: f64) -> Option<usize> {
    values.iter().position(|&v| v >= target).map(|i| i + 1)
}

fn iso_to_target(runs: &[Vec<f64>], target: f64) -> Option<usize> {
    let rounds = runs.iter().map(Vec::len).max().unwrap_or(0);
    (0..rounds)
        .find(|&k| runs.iter().any(|r| r.get(k).is_some_and(|&v| v >= target)))
        .map(|k| runs.len() * k + 1)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn main() {
    let kinds = flags::text("--proposers").unwrap_or_else(|| "mixed,tpe".into());
    let sizes: Vec<usize> = flags::list("--nodes", "1,4");
    let budget: usize = flags::value("--budget", 48);
    let seeds: u64 = flags::value("--seeds", 100);
    // Targets as in the collaboration benchmark's search table (its best known value).
    let domain = flags::text("--domain").unwrap_or_else(|| "search".into());
    // The collaboration benchmark's best known values (its README tables).
    let best_known: f64 = flags::value("--best", if domain == "cisi" { 0.4505 } else { 0.4270 });
    let objective = Objective::load(&domain);
    let space = space();
    let t = Instant::now();
    let defaults = objective.score(&space.defaults());
    eprintln!(
        "defaults {defaults:.4} in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "| proposer | nodes | target | together | alone | ratio | best together | best alone |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    if flags::switch("--probe") {
        probe(&objective, &space);
        return;
    }
    let shared_baseline = flags::switch("--shared-baseline");
    for kind in kinds.split(',') {
        let started = Instant::now();
        // Seed set s: seeds 1000 s + j; two seed sets at a time (one per core).
        let largest = sizes.iter().copied().max().unwrap_or(1);
        let one_set = |s: u64| {
            let seed = |j: usize| 1000 * s + j as u64;
            // Seed j runs as long as the smallest group it belongs to needs.
            let iso: Vec<Vec<f64>> = (0..largest)
                .map(|j| {
                    let n = sizes
                        .iter()
                        .copied()
                        .filter(|&n| j < n)
                        .min()
                        .unwrap_or(largest);
                    alone(&objective, &space, kind, seed(j), budget / n)
                })
                .collect();
            let coop: Vec<(usize, Vec<f64>)> = sizes
                .iter()
                .filter(|&&n| n > 1)
                .map(|&n| {
                    let seeds: Vec<u64> = (0..n).map(seed).collect();
                    let v = together(
                        &objective,
                        &space,
                        kind,
                        &seeds,
                        budget / n,
                        shared_baseline,
                    );
                    (n, v)
                })
                .collect();
            (iso, coop)
        };
        let mut sets = Vec::new();
        for pair in (0..seeds).collect::<Vec<_>>().chunks(2) {
            let done: Vec<_> = std::thread::scope(|scope| {
                let handles: Vec<_> = pair
                    .iter()
                    .map(|&s| scope.spawn(move || one_set(s)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("seed set"))
                    .collect()
            });
            sets.extend(done);
        }
        for q in [0.5, 0.75] {
            let target = defaults + q * (best_known - defaults);
            for &n in &sizes {
                let per = budget / n;
                let never = (budget + 1) as f64;
                let count = |x: Option<usize>| x.map_or(never, |x| x as f64);
                let iso: Vec<f64> = sets
                    .iter()
                    .map(|(iso, _)| {
                        let runs: Vec<Vec<f64>> =
                            iso[..n].iter().map(|r| r[..per].to_vec()).collect();
                        count(iso_to_target(&runs, target))
                    })
                    .collect();
                let iso_best: Vec<f64> = sets
                    .iter()
                    .map(|(iso, _)| {
                        iso[..n]
                            .iter()
                            .flat_map(|r| r[..per].iter().copied())
                            .fold(f64::MIN, f64::max)
                    })
                    .collect();
                let (co, co_best): (Vec<f64>, Vec<f64>) = if n == 1 {
                    (iso.clone(), iso_best.clone())
                } else {
                    sets.iter()
                        .map(|(_, coop)| {
                            let v = &coop.iter().find(|(m, _)| *m == n).or_exit("group").1;
                            (
                                count(coop_to_target(v, target)),
                                v.iter().copied().fold(f64::MIN, f64::max),
                            )
                        })
                        .unzip()
                };
                println!(
                    "| {kind} | {n} | {:.0}% ({target:.4}) | {:.1} | {:.1} | {:.2} | {:.4} | {:.4} |",
                    q * 100.0,
                    mean(&co),
                    mean(&iso),
                    mean(&co) / mean(&iso),
                    mean(&co_best),
                    mean(&iso_best)
                );
            }
        }
        eprintln!("{kind}: {:.0} s", started.elapsed().as_secs_f64());
    }
}

/// One parameter at a time from the defaults, over its range: which parameters matter.
fn probe(objective: &Objective, space: &Space) {
    use hyper_runtime::ParamKind;
    for spec in &space.specs {
        let values: Vec<Value> = match &spec.kind {
            ParamKind::Float(r) => (0..=6)
                .map(|i| Value::Float(r.min + (r.max - r.min) * i as f64 / 6.0))
                .collect(),
            ParamKind::Int(r) => (0..=6)
                .map(|i| Value::Int(r.min + (r.max - r.min) * i / 6))
                .collect(),
            ParamKind::Choice(c) => c.options.iter().map(|o| Value::Choice(o.clone())).collect(),
            ParamKind::Flag(_) => vec![Value::Flag(false), Value::Flag(true)],
        };
        let line: Vec<String> = values
            .into_iter()
            .map(|v| {
                let mut a = space.defaults();
                let shown = format!("{v:?}");
                a.insert(spec.name.clone(), v);
                format!("{shown}={:.4}", objective.score(&a))
            })
            .collect();
        println!("{}: {}", spec.name, line.join(" "));
    }
}
