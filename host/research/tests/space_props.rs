//! Property tests over arbitrary declared spaces (what a hostile `describe()` can return):
//! `Space::new` never panics; for every space it accepts, every proposal of every proposer
//! lies inside the declared bounds, distances stay in [0, 1] and coverage in [0, 1].

use hyper_research::params::{Space, Value};
use hyper_research::{
    Context, GpProposer, MixedProposer, NoveltyProposer, Observation, Proposer, TpeProposer,
};
use hyper_runtime::bindings::v0_1_0::types::{ChoiceSet, FloatRange, IntRange};
use hyper_runtime::{ParamKind, ParamSpec};
use proptest::prelude::*;

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::MAX),
        Just(-f64::MAX),
        Just(1e308),
        Just(-1e308),
        Just(0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::NAN),
        Just(f64::INFINITY),
        -10.0..10.0f64,
    ]
}

fn int() -> impl Strategy<Value = i64> {
    prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), -5..5i64]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z_]{1,12}",
        Just(String::new()),
        Just("\u{1b}[31mred".to_string()),
        Just("x".repeat(300)),
        any::<String>(),
    ]
}

fn kind() -> impl Strategy<Value = ParamKind> {
    prop_oneof![
        (int(), int(), int()).prop_map(|(min, max, default)| ParamKind::Int(IntRange {
            min,
            max,
            default
        })),
        (float(), float(), float(), any::<bool>()).prop_map(|(min, max, default, log_scale)| {
            ParamKind::Float(FloatRange {
                min,
                max,
                default,
                log_scale,
            })
        }),
        // Sorted pairs as well, so that valid ranges are common.
        (int(), int()).prop_map(|(a, b)| ParamKind::Int(IntRange {
            min: a.min(b),
            max: a.max(b),
            default: a.min(b)
        })),
        (float(), float(), any::<bool>()).prop_map(|(a, b, log_scale)| {
            let (min, max) = if a <= b { (a, b) } else { (b, a) };
            ParamKind::Float(FloatRange {
                min,
                max,
                default: max,
                log_scale,
            })
        }),
        (proptest::collection::vec(name(), 0..6), 0usize..6).prop_map(|(options, i)| {
            let default = options.get(i).cloned().unwrap_or_default();
            ParamKind::Choice(ChoiceSet { options, default })
        }),
        any::<bool>().prop_map(ParamKind::Flag),
    ]
}

fn spec() -> impl Strategy<Value = ParamSpec> {
    (name(), kind()).prop_map(|(name, kind)| ParamSpec {
        name,
        description: String::new(),
        kind,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn accepted_spaces_only_ever_get_proposals_inside_their_bounds(
        specs in proptest::collection::vec(spec(), 0..6),
        seed in any::<u64>(),
    ) {
        let Ok(space) = Space::new(specs) else { return Ok(()); };
        let mut proposers: Vec<Box<dyn Proposer>> = vec![
            Box::new(MixedProposer::new(seed)),
            Box::new(NoveltyProposer::new(seed)),
            Box::new(TpeProposer::new(seed)),
            Box::new(GpProposer::new(seed)),
        ];
        for proposer in proposers.iter_mut() {
            let mut best = space.defaults();
            let mut tried = vec![best.clone()];
            let mut history = Vec::new();
            for i in 0..12 {
                // The model proposes once it has six results (a crash every fourth), and
                // explores on some steps: every path stays inside the bounds.
                let mut context = Context::new(&space, &best, &tried);
                context.history = &history;
                context.explore = i % 5 == 4;
                let next = proposer.propose(&context);
                history.push(Observation {
                    params: next.clone(),
                    val: (i % 4 != 3).then(|| (seed % 7) as f64 - f64::from(i)),
                });
                for s in &space.specs {
                    let v = next.get(&s.name).expect("every parameter proposed");
                    prop_assert!(hyper_research::params::admits(&s.kind, v), "{} = {v:?} outside {:?}", s.name, s.kind);
                }
                let d = space.distance(&best, &next);
                prop_assert!((0.0..=1.0).contains(&d), "distance {d}");
                let by_coordinates = space.coordinates(&best).distance(&space.coordinates(&next));
                prop_assert!((by_coordinates - d).abs() < 1e-9, "{by_coordinates} vs {d}");
                tried.push(next.clone());
                best = next;
            }
            let c = hyper_research::proposer::coverage(&space, &tried);
            prop_assert!((0.0..=1.0).contains(&c), "coverage {c}");
        }
    }
}

#[test]
fn the_reported_hostile_spaces_are_handled_or_refused_by_name() {
    let float = |min, max, default| ParamSpec {
        name: "f".into(),
        description: String::new(),
        kind: ParamKind::Float(FloatRange {
            min,
            max,
            default,
            log_scale: false,
        }),
    };
    // Extreme but finite ranges are accepted and proposals stay inside them.
    let wide = Space::new(vec![
        float(-1e308, 1e308, 0.0),
        ParamSpec {
            name: "i".into(),
            description: String::new(),
            kind: ParamKind::Int(IntRange {
                min: i64::MIN,
                max: i64::MAX,
                default: 0,
            }),
        },
    ])
    .expect("wide ranges are legal");
    let mut p = MixedProposer::new(1);
    let mut tried = vec![wide.defaults()];
    for _ in 0..200 {
        let best = tried[tried.len() - 1].clone();
        let a = p.propose(&Context::new(&wide, &best, &tried));
        assert!(matches!(a["f"], Value::Float(x) if x.is_finite()));
        tried.push(a);
    }
    let refused = |specs: Vec<ParamSpec>, words: &str| {
        let e = Space::new(specs).expect_err("must be refused");
        assert!(e.contains(words), "`{e}` should say `{words}`");
    };
    refused(
        vec![ParamSpec {
            name: "c".into(),
            description: String::new(),
            kind: ParamKind::Choice(ChoiceSet {
                options: vec!["a".into(), "a".into()],
                default: "a".into(),
            }),
        }],
        "lists the option `a` twice",
    );
    refused(vec![float(f64::NAN, 1.0, 0.5)], "finite");
    refused(vec![float(0.0, f64::INFINITY, 0.5)], "finite");
    refused(
        vec![ParamSpec {
            name: "lr".into(),
            description: String::new(),
            kind: ParamKind::Float(FloatRange {
                min: 0.0,
                max: 1.0,
                default: 0.5,
                log_scale: true,
            }),
        }],
        "above 0",
    );
    refused(
        vec![ParamSpec {
            name: "evil\u{1b}[2J".into(),
            description: String::new(),
            kind: ParamKind::Flag(true),
        }],
        "\\u{1b}",
    );
    refused(
        (0..300)
            .map(|i| ParamSpec {
                name: format!("p{i}"),
                description: String::new(),
                kind: ParamKind::Flag(true),
            })
            .collect(),
        "more than the 256 allowed",
    );
}
