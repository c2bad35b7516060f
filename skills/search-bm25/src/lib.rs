//! The official search skill: BM25 over the domain's documents, one run file per experiment.
//!
//! The ranking code lives in `bm25.rs`, which has no dependency on the SDK so that the
//! benchmark can compile the very same file natively and compare.

mod bm25;

use hyper_sdk::prelude::*;

struct SearchBm25;

/// Which files of `/data` hold the collection. Cranfield (the search domain) needs nothing;
/// another SMART collection says so in `/data/collection.json`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Collection {
    documents: String,
    queries: String,
    /// `position` (1-based order in the file) or `field` (the `.I` number).
    #[serde(default = "position")]
    query_ids: String,
}

fn position() -> String {
    "position".into()
}

impl Collection {
    fn read() -> Result<Self, Error> {
        let Ok(text) = data::read_to_string("collection.json") else {
            return Ok(Collection {
                documents: "cran.all.1400".into(),
                queries: "cran.qry".into(),
                query_ids: position(),
            });
        };
        let c: Collection = serde_json::from_str(&text)
            .map_err(|e| Error::Data(format!("collection.json: {e}")))?;
        if c.query_ids != "position" && c.query_ids != "field" {
            return Err(Error::Data(format!(
                "collection.json: query_ids must be `position` or `field`, got `{}`",
                c.query_ids
            )));
        }
        Ok(c)
    }
}

impl Skill for SearchBm25 {
    fn info() -> SkillInfo {
        SkillInfo::new("search-bm25", env!("CARGO_PKG_VERSION"), "search")
            .describe("Okapi BM25 with choice of tokeniser, stemmer, stopwords, title weighting and RM3-style pseudo-relevance feedback")
            .param(ParamSpec::float("k1", "term-frequency saturation", 0.1, 3.0, 1.2))
            .param(ParamSpec::float("b", "document-length normalisation", 0.0, 1.0, 0.75))
            .param(ParamSpec::choice("tokenizer", "how text is split into terms", &["alpha", "alnum"], "alnum"))
            .param(ParamSpec::choice("stemmer", "suffix stripping applied to every term", &["none", "s", "porter"], "porter"))
            .param(ParamSpec::flag("stopwords", "drop common English function words", true))
            .param(ParamSpec::float("title_weight", "extra weight of title terms (0 = body only)", 0.0, 4.0, 0.0))
            .param(ParamSpec::int("prf_docs", "pseudo-relevance feedback: top documents used (0 = off)", 0, 20, 0))
            .param(ParamSpec::int("prf_terms", "pseudo-relevance feedback: expansion terms added", 1, 40, 10))
            .param(ParamSpec::float("prf_weight", "pseudo-relevance feedback: weight of the expansion", 0.0, 1.0, 0.3))
    }

    fn run(experiment: &Experiment) -> Result<Artifact, Error> {
        let p = &experiment.params;
        let options = bm25::Options {
            k1: p.float("k1")?,
            b: p.float("b")?,
            tokenizer: bm25::Tokenizer::parse(p.choice("tokenizer")?)
                .ok_or_else(|| Error::InvalidParams("unknown tokenizer".into()))?,
            stemmer: bm25::Stemmer::parse(p.choice("stemmer")?)
                .ok_or_else(|| Error::InvalidParams("unknown stemmer".into()))?,
            stopwords: p.flag("stopwords")?,
            title_weight: p.float("title_weight")?,
            prf_docs: p.int("prf_docs")?.max(0) as usize,
            prf_terms: p.int("prf_terms")?.max(0) as usize,
            prf_weight: p.float("prf_weight")?,
            depth: 100,
        };
        let collection = Collection::read()?;
        let docs = data::read_to_string(&collection.documents)?;
        let queries = data::read_to_string(&collection.queries)?;
        let docs = bm25::parse_docs(&docs);
        let queries = bm25::parse_queries_with(&queries, collection.query_ids == "field");
        if docs.is_empty() || queries.is_empty() {
            return Err(Error::Data(
                "no documents or no queries in the data directory".into(),
            ));
        }
        log::info(&format!(
            "indexing {} documents, {} queries",
            docs.len(),
            queries.len()
        ));
        let index = bm25::Index::build(&docs, &options);
        let total = queries.len() as u32;
        let mut run = String::new();
        for (i, query) in queries.iter().enumerate() {
            let hits = index.search(&query.text, &options);
            bm25::write_run(&mut run, query.qid, &hits);
            if (i + 1) % 50 == 0 {
                progress::report(i as u32 + 1, total, &[]);
            }
        }
        Ok(Artifact::new(bm25::RUN_MEDIA_TYPE, run.into_bytes()))
    }
}

register_skill!(SearchBm25);
