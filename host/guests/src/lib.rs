//! Guest components built from source by this crate's build script, and the built-in search
//! domain embedded into the `hyper` binary so that `hyper run search` works anywhere, offline.

macro_rules! guest_path {
    ($stem:literal) => {
        concat!(env!("OUT_DIR"), "/", $stem, ".wasm")
    };
}

/// Components that ship inside the binary.
pub mod builtin {
    pub const SEARCH_BM25: &[u8] = include_bytes!(guest_path!("search_bm25"));
    pub const SEARCH_EVALUATOR: &[u8] = include_bytes!(guest_path!("search_evaluator"));
    pub const ML_TINYGPT: &[u8] = include_bytes!(guest_path!("ml_tinygpt"));
    pub const ML_EVALUATOR: &[u8] = include_bytes!(guest_path!("ml_evaluator"));
    pub const FINANCE_TIMING: &[u8] = include_bytes!(guest_path!("finance_timing"));
    pub const FINANCE_EVALUATOR: &[u8] = include_bytes!(guest_path!("finance_evaluator"));
    pub const FINANCE_ROTATION: &[u8] = include_bytes!(guest_path!("finance_rotation"));
    pub const CISI_EVALUATOR: &[u8] = include_bytes!(guest_path!("cisi_evaluator"));
    pub const TLDR_EVALUATOR: &[u8] = include_bytes!(guest_path!("tldr_evaluator"));
    pub const TLDR_EXTRACTIVE: &[u8] = include_bytes!(guest_path!("tldr_extractive"));
    pub const FORGE_JSON: &[u8] = include_bytes!(guest_path!("forge_json"));
    pub const FORGE_CSV: &[u8] = include_bytes!(guest_path!("forge_csv"));
    pub const FORGE_URL: &[u8] = include_bytes!(guest_path!("forge_url"));
    pub const FORGE_HTML: &[u8] = include_bytes!(guest_path!("forge_html"));
    pub const FORGE_FORMAT: &[u8] = include_bytes!(guest_path!("forge_format"));
}

/// The skill forge's official tool skills (name, task, component), one per task, in the
/// binary so that `hyper forge test forge-json --task json-parse` works anywhere.
pub const FORGE_TOOLS: &[(&str, &str, &[u8])] = &[
    ("forge-json", "json-parse", builtin::FORGE_JSON),
    ("forge-csv", "csv-parse", builtin::FORGE_CSV),
    ("forge-url", "url-parse", builtin::FORGE_URL),
    ("forge-html", "html-entities", builtin::FORGE_HTML),
    ("forge-format", "format-validate", builtin::FORGE_FORMAT),
];

/// The cargo target dir the build script builds guests in (shared, so std is built once).
pub const GUEST_TARGET_DIR: &str = env!("HYPER_GUEST_TARGET_DIR");

/// Paths of the test fixtures (hostile and trivial skills), built from `tests/fixtures/`.
pub mod fixtures {
    pub const TRIVIAL: &str = guest_path!("fixture_trivial");
    pub const HOSTILE: &str = guest_path!("fixture_hostile");
    pub const HOSTILE_SOCKETS: &str = guest_path!("fixture_hostile_sockets");
    /// Built against hyper:research@0.2.0, which this host does not run.
    pub const FUTURE_API: &str = guest_path!("fixture_future_api");
    /// A ~2 MB skill for the install benchmark.
    pub const LARGE: &str = guest_path!("fixture_large");
    pub const SEARCH_BM25: &str = guest_path!("search_bm25");
    /// The minimal skill of sdk/README.md (sdk/templates/rust).
    pub const TEMPLATE_RUST: &str = guest_path!("skill_template_rust");
    pub const SEARCH_EVALUATOR: &str = guest_path!("search_evaluator");
    /// Trains through `hyper:compute/tensor`, or probes its errors and quotas.
    pub const TENSOR_USER: &str = guest_path!("fixture_tensor_user");
    /// The ML domain's official skill and evaluator.
    pub const ML_TINYGPT: &str = guest_path!("ml_tinygpt");
    pub const ML_EVALUATOR: &str = guest_path!("ml_evaluator");
    /// The finance domain's official skill and evaluator.
    pub const FINANCE_TIMING: &str = guest_path!("finance_timing");
    pub const FINANCE_EVALUATOR: &str = guest_path!("finance_evaluator");
    pub const FINANCE_ROTATION: &str = guest_path!("finance_rotation");
    /// Runs WGSL kernels through `hyper:compute/gpu`, or probes its errors and limits.
    pub const GPU_USER: &str = guest_path!("fixture_gpu_user");
    /// The causes' evaluators and the tldr skill.
    pub const CISI_EVALUATOR: &str = guest_path!("cisi_evaluator");
    pub const TLDR_EVALUATOR: &str = guest_path!("tldr_evaluator");
    pub const TLDR_EXTRACTIVE: &str = guest_path!("tldr_extractive");
    /// The skill forge's official tools.
    pub const FORGE_JSON: &str = guest_path!("forge_json");
    pub const FORGE_CSV: &str = guest_path!("forge_csv");
    pub const FORGE_URL: &str = guest_path!("forge_url");
    pub const FORGE_HTML: &str = guest_path!("forge_html");
    pub const FORGE_FORMAT: &str = guest_path!("forge_format");
    /// A json-parse tool that hangs, panics or exhausts memory on some inputs.
    pub const HOSTILE_TOOL: &str = guest_path!("fixture_hostile_tool");
}

/// A domain folder as files (relative path, bytes), ready to be written under `$HYPER_HOME`.
pub struct EmbeddedDomain {
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static [u8])],
}

/// The search domain: manifest, Cranfield documents and queries (no judgements: those live
/// inside the evaluator), the evaluator and the default skill.
pub const SEARCH: EmbeddedDomain = EmbeddedDomain {
    name: "search",
    files: &[
        (
            "hyper-domain.toml",
            include_bytes!("../../../domains/search/hyper-domain.toml"),
        ),
        (
            "SOURCE.md",
            include_bytes!("../../../domains/search/SOURCE.md"),
        ),
        (
            "data/cran.all.1400",
            include_bytes!("../../../domains/search/data/cran.all.1400"),
        ),
        (
            "data/cran.qry",
            include_bytes!("../../../domains/search/data/cran.qry"),
        ),
        ("evaluator.wasm", builtin::SEARCH_EVALUATOR),
        ("skills/search-bm25.wasm", builtin::SEARCH_BM25),
    ],
};

/// The ML domain on Tiny Shakespeare: manifest, training text (the held-out text is for the
/// evaluator only), the evaluator and the default skill.
pub const ML: EmbeddedDomain = EmbeddedDomain {
    name: "ml",
    files: &[
        (
            "hyper-domain.toml",
            include_bytes!("../../../domains/ml/hyper-domain.toml"),
        ),
        ("SOURCE.md", include_bytes!("../../../domains/ml/SOURCE.md")),
        (
            "data/train.txt",
            include_bytes!("../../../domains/ml/data/train.txt"),
        ),
        (
            "heldout/val.txt",
            include_bytes!("../../../domains/ml/heldout/val.txt"),
        ),
        (
            "heldout/test.txt",
            include_bytes!("../../../domains/ml/heldout/test.txt"),
        ),
        ("evaluator.wasm", builtin::ML_EVALUATOR),
        ("skills/ml-tinygpt.wasm", builtin::ML_TINYGPT),
    ],
};

/// The ML domain on SciTLDR abstracts: the same skill and evaluator, other text.
pub const ML_SCITLDR: EmbeddedDomain = EmbeddedDomain {
    name: "ml-scitldr",
    files: &[
        (
            "hyper-domain.toml",
            include_bytes!("../../../domains/ml-scitldr/hyper-domain.toml"),
        ),
        (
            "SOURCE.md",
            include_bytes!("../../../domains/ml-scitldr/SOURCE.md"),
        ),
        (
            "LICENSE",
            include_bytes!("../../../domains/ml-scitldr/LICENSE"),
        ),
        (
            "data/train.txt",
            include_bytes!("../../../domains/ml-scitldr/data/train.txt"),
        ),
        (
            "heldout/val.txt",
            include_bytes!("../../../domains/ml-scitldr/heldout/val.txt"),
        ),
        (
            "heldout/test.txt",
            include_bytes!("../../../domains/ml-scitldr/heldout/test.txt"),
        ),
        ("evaluator.wasm", builtin::ML_EVALUATOR),
        ("skills/ml-tinygpt.wasm", builtin::ML_TINYGPT),
    ],
};

/// The finance domain: the S&P Composite series (skills see the years before 1960, the
/// evaluator all of it), the walk-forward evaluator and the timing skill.
pub const FINANCE: EmbeddedDomain = EmbeddedDomain {
    name: "finance",
    files: &[
        (
            "hyper-domain.toml",
            include_bytes!("../../../domains/finance/hyper-domain.toml"),
        ),
        (
            "SOURCE.md",
            include_bytes!("../../../domains/finance/SOURCE.md"),
        ),
        (
            "data/train.csv",
            include_bytes!("../../../domains/finance/data/train.csv"),
        ),
        (
            "heldout/sp500.csv",
            include_bytes!("../../../domains/finance/heldout/sp500.csv"),
        ),
        ("evaluator.wasm", builtin::FINANCE_EVALUATOR),
        ("skills/finance-timing.wasm", builtin::FINANCE_TIMING),
    ],
};

/// Industry rotation on Kenneth French's portfolios: everything but the data, which the user
/// supplies (no open license).
pub const FINANCE_INDUSTRIES: EmbeddedDomain = EmbeddedDomain {
    name: "finance-industries",
    files: &[
        (
            "hyper-domain.toml",
            include_bytes!("../../../domains/finance-industries/hyper-domain.toml"),
        ),
        (
            "SOURCE.md",
            include_bytes!("../../../domains/finance-industries/SOURCE.md"),
        ),
        (
            "data/README.md",
            include_bytes!("../../../domains/finance-industries/data/README.md"),
        ),
        (
            "heldout/README.md",
            include_bytes!("../../../domains/finance-industries/heldout/README.md"),
        ),
        ("evaluator.wasm", builtin::FINANCE_EVALUATOR),
        ("skills/finance-rotation.wasm", builtin::FINANCE_ROTATION),
    ],
};

/// The cause `cisi` (domains/cisi): literature search on CISI, scored by NDCG@10 against
/// judgements only its evaluator reads; search skills serve it.
pub const CISI: EmbeddedDomain = EmbeddedDomain {
    name: "cisi",
    files: &[
        (
            "hyper-domain.toml",
            include_bytes!("../../../domains/cisi/hyper-domain.toml"),
        ),
        (
            "SOURCE.md",
            include_bytes!("../../../domains/cisi/SOURCE.md"),
        ),
        (
            "data/CISI.ALL",
            include_bytes!("../../../domains/cisi/data/CISI.ALL"),
        ),
        (
            "data/CISI.QRY",
            include_bytes!("../../../domains/cisi/data/CISI.QRY"),
        ),
        (
            "data/collection.json",
            include_bytes!("../../../domains/cisi/data/collection.json"),
        ),
        (
            "heldout/CISI.REL",
            include_bytes!("../../../domains/cisi/heldout/CISI.REL"),
        ),
        (
            "heldout/README.md",
            include_bytes!("../../../domains/cisi/heldout/README.md"),
        ),
        ("evaluator.wasm", builtin::CISI_EVALUATOR),
        ("skills/search-bm25.wasm", builtin::SEARCH_BM25),
    ],
};

/// The cause `tldr` (domains/tldr): extractive TL;DRs of SciTLDR abstracts, scored by ROUGE
/// against TL;DRs only its evaluator reads.
pub const TLDR: EmbeddedDomain = EmbeddedDomain {
    name: "tldr",
    files: &[
        (
            "hyper-domain.toml",
            include_bytes!("../../../domains/tldr/hyper-domain.toml"),
        ),
        (
            "SOURCE.md",
            include_bytes!("../../../domains/tldr/SOURCE.md"),
        ),
        ("LICENSE", include_bytes!("../../../domains/tldr/LICENSE")),
        (
            "data/train.jsonl",
            include_bytes!("../../../domains/tldr/data/train.jsonl"),
        ),
        (
            "data/dev.sources.jsonl",
            include_bytes!("../../../domains/tldr/data/dev.sources.jsonl"),
        ),
        (
            "data/test.sources.jsonl",
            include_bytes!("../../../domains/tldr/data/test.sources.jsonl"),
        ),
        (
            "heldout/dev.jsonl",
            include_bytes!("../../../domains/tldr/heldout/dev.jsonl"),
        ),
        (
            "heldout/test.jsonl",
            include_bytes!("../../../domains/tldr/heldout/test.jsonl"),
        ),
        (
            "heldout/README.md",
            include_bytes!("../../../domains/tldr/heldout/README.md"),
        ),
        ("evaluator.wasm", builtin::TLDR_EVALUATOR),
        ("skills/tldr-extractive.wasm", builtin::TLDR_EXTRACTIVE),
    ],
};

/// Every domain compiled into this binary (the two causes the project ships included).
pub const DOMAINS: &[&EmbeddedDomain] = &[
    &SEARCH,
    &ML,
    &ML_SCITLDR,
    &FINANCE,
    &FINANCE_INDUSTRIES,
    &CISI,
    &TLDR,
];
