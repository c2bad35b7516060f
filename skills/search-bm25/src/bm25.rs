//! Okapi BM25 over SMART-format collections (Cranfield), with no dependency on the SDK.
//!
//! Compiled into the skill and, unchanged, into the native side of the sandbox benchmark.

use std::collections::HashMap;

/// The media type of the artifact: one `qid<TAB>docid<TAB>rank<TAB>score` line per hit.
pub const RUN_MEDIA_TYPE: &str = "text/tab-separated-values; profile=trec-run";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Tokenizer {
    /// Letters only; digits split terms.
    Alpha,
    /// Letters and digits.
    Alnum,
}

impl Tokenizer {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "alpha" => Some(Tokenizer::Alpha),
            "alnum" => Some(Tokenizer::Alnum),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stemmer {
    None,
    /// Harman's S-stemmer: plural endings only.
    S,
    /// Snowball English (Porter2).
    Porter,
}

impl Stemmer {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Stemmer::None),
            "s" => Some(Stemmer::S),
            "porter" => Some(Stemmer::Porter),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub k1: f64,
    pub b: f64,
    pub tokenizer: Tokenizer,
    pub stemmer: Stemmer,
    pub stopwords: bool,
    pub title_weight: f64,
    pub prf_docs: usize,
    pub prf_terms: usize,
    pub prf_weight: f64,
    pub depth: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            k1: 1.2,
            b: 0.75,
            tokenizer: Tokenizer::Alnum,
            stemmer: Stemmer::Porter,
            stopwords: true,
            title_weight: 0.0,
            prf_docs: 0,
            prf_terms: 10,
            prf_weight: 0.3,
            depth: 100,
        }
    }
}

pub struct Doc {
    pub id: u32,
    pub title: String,
    pub body: String,
}

pub struct Query {
    /// The id the relevance judgements use: for Cranfield the 1-based position in `cran.qry`
    /// (its `.I` numbers are not sequential), for collections that say so the `.I` number.
    pub qid: u32,
    pub text: String,
}

/// Splits a SMART file into records: (`.I` value, [(field letter, text)]).
fn smart_records(text: &str) -> Vec<(String, Vec<(char, String)>)> {
    let mut records: Vec<(String, Vec<(char, String)>)> = Vec::new();
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix(".I") {
            records.push((rest.trim().to_string(), Vec::new()));
            continue;
        }
        let Some((_, fields)) = records.last_mut() else {
            continue;
        };
        let bytes = line.as_bytes();
        if bytes.len() == 2 && bytes[0] == b'.' && bytes[1].is_ascii_uppercase() {
            fields.push((bytes[1] as char, String::new()));
        } else if let Some((_, value)) = fields.last_mut() {
            value.push_str(line);
            value.push('\n');
        }
    }
    records
}

pub fn parse_docs(text: &str) -> Vec<Doc> {
    smart_records(text)
        .into_iter()
        .filter_map(|(id, fields)| {
            let id = id.parse().ok()?;
            let field = |c: char| {
                fields
                    .iter()
                    .filter(|(f, _)| *f == c)
                    .map(|(_, v)| v.as_str())
                    .collect::<String>()
            };
            Some(Doc {
                id,
                title: field('T'),
                body: field('W'),
            })
        })
        .collect()
}

/// Queries numbered by their 1-based position (Cranfield's convention).
pub fn parse_queries(text: &str) -> Vec<Query> {
    parse_queries_with(text, false)
}

/// Queries numbered by position, or by their `.I` number when `id_field` (CISI's convention;
/// a record whose `.I` is not a number is skipped).
pub fn parse_queries_with(text: &str, id_field: bool) -> Vec<Query> {
    smart_records(text)
        .into_iter()
        .enumerate()
        .filter_map(|(i, (id, fields))| {
            let qid = if id_field {
                id.parse().ok()?
            } else {
                i as u32 + 1
            };
            Some((qid, fields))
        })
        .map(|(qid, fields)| Query {
            qid,
            text: fields
                .into_iter()
                .filter(|(f, _)| *f == 'W')
                .map(|(_, v)| v)
                .collect(),
        })
        .collect()
}

/// A fixed list of English function words (the SMART list's most frequent entries). Kept as data
/// here rather than pulling a crate for 90 words.
const STOPWORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "as", "at", "be", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from",
    "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how",
    "i", "if", "in", "into", "is", "it", "its", "itself", "me", "more", "most", "must", "my", "no",
    "nor", "not", "of", "off", "on", "once", "only", "or", "other", "our", "out", "over", "own",
    "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "obtained", "results", "made", "given",
];

pub struct Analyzer {
    tokenizer: Tokenizer,
    stemmer: Stemmer,
    stopwords: Option<std::collections::HashSet<&'static str>>,
    porter: rust_stemmers::Stemmer,
}

impl Analyzer {
    pub fn new(options: &Options) -> Self {
        Analyzer {
            tokenizer: options.tokenizer,
            stemmer: options.stemmer,
            stopwords: options
                .stopwords
                .then(|| STOPWORDS.iter().copied().collect()),
            porter: rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English),
        }
    }

    /// Calls `emit` with every term of `text`. One lowercase buffer is reused for all words, so
    /// the only allocations are the stemmer's (when it changes a word).
    pub fn terms(&self, text: &str, mut emit: impl FnMut(&str)) {
        let keep = |c: char| match self.tokenizer {
            Tokenizer::Alpha => c.is_alphabetic(),
            Tokenizer::Alnum => c.is_alphanumeric(),
        };
        let mut word = String::new();
        for raw in text.split(|c: char| !keep(c)) {
            if raw.is_empty() {
                continue;
            }
            word.clear();
            if raw.is_ascii() {
                word.push_str(raw);
                word.make_ascii_lowercase();
            } else {
                word.extend(raw.chars().flat_map(char::to_lowercase));
            }
            if self
                .stopwords
                .as_ref()
                .is_some_and(|s| s.contains(word.as_str()))
            {
                continue;
            }
            match self.stemmer {
                Stemmer::None => emit(&word),
                Stemmer::S => emit(&s_stem(&word)),
                Stemmer::Porter => emit(&self.porter.stem(&word)),
            }
        }
    }
}

/// Harman (1991): ies -> y, es -> e, s -> "" with the usual exceptions. Returns a slice of
/// `w` except for the `ies -> y` case.
fn s_stem(w: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if w.len() > 3 && w.ends_with("ies") && !w.ends_with("eies") && !w.ends_with("aies") {
        Cow::Owned(format!("{}y", &w[..w.len() - 3]))
    } else if w.len() > 2
        && w.ends_with("es")
        && !w.ends_with("aes")
        && !w.ends_with("ees")
        && !w.ends_with("oes")
    {
        Cow::Borrowed(&w[..w.len() - 1])
    } else if w.len() > 1 && w.ends_with('s') && !w.ends_with("us") && !w.ends_with("ss") {
        Cow::Borrowed(&w[..w.len() - 1])
    } else {
        Cow::Borrowed(w)
    }
}

pub struct Index {
    analyzer: Analyzer,
    vocab: HashMap<String, u32>,
    /// term id -> (document index, weighted term frequency)
    postings: Vec<Vec<(u32, f32)>>,
    /// document index -> (term id, weighted term frequency), for feedback
    forward: Vec<Vec<(u32, f32)>>,
    doc_len: Vec<f32>,
    avg_len: f64,
    doc_ids: Vec<u32>,
}

impl Index {
    pub fn build(docs: &[Doc], options: &Options) -> Self {
        let analyzer = Analyzer::new(options);
        let mut vocab: HashMap<String, u32> = HashMap::new();
        let mut postings: Vec<Vec<(u32, f32)>> = Vec::new();
        let mut forward = Vec::with_capacity(docs.len());
        let mut doc_len = Vec::with_capacity(docs.len());
        let mut doc_ids = Vec::with_capacity(docs.len());
        for (d, doc) in docs.iter().enumerate() {
            let mut tf: HashMap<u32, f32> = HashMap::new();
            let mut add = |text: &str, weight: f32| {
                analyzer.terms(text, |t| {
                    let id = match vocab.get(t) {
                        Some(&id) => id,
                        None => {
                            let id = vocab.len() as u32;
                            vocab.insert(t.to_string(), id);
                            id
                        }
                    };
                    *tf.entry(id).or_insert(0.0) += weight;
                });
            };
            add(&doc.body, 1.0);
            if options.title_weight > 0.0 {
                add(&doc.title, options.title_weight as f32);
            }
            postings.resize_with(vocab.len(), Vec::new);
            let mut terms: Vec<(u32, f32)> = tf.into_iter().collect();
            terms.sort_unstable_by_key(|(t, _)| *t);
            doc_len.push(terms.iter().map(|(_, f)| f).sum());
            for &(t, f) in &terms {
                postings[t as usize].push((d as u32, f));
            }
            forward.push(terms);
            doc_ids.push(doc.id);
        }
        let avg_len = doc_len.iter().map(|&l| l as f64).sum::<f64>() / docs.len().max(1) as f64;
        Index {
            analyzer,
            vocab,
            postings,
            forward,
            doc_len,
            avg_len,
            doc_ids,
        }
    }

    fn idf(&self, term: u32) -> f64 {
        let n = self.doc_len.len() as f64;
        let df = self.postings[term as usize].len() as f64;
        (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
    }

    fn score(&self, query: &[(u32, f64)], options: &Options) -> Vec<(u32, f64)> {
        let mut acc = vec![0.0f64; self.doc_len.len()];
        for &(term, weight) in query {
            let idf = self.idf(term);
            for &(d, tf) in &self.postings[term as usize] {
                let tf = tf as f64;
                let norm = options.k1
                    * (1.0 - options.b
                        + options.b * self.doc_len[d as usize] as f64 / self.avg_len);
                acc[d as usize] += weight * idf * tf * (options.k1 + 1.0) / (tf + norm);
            }
        }
        let mut hits: Vec<(u32, f64)> = acc
            .into_iter()
            .enumerate()
            .filter(|(_, s)| *s > 0.0)
            .map(|(d, s)| (d as u32, s))
            .collect();
        // Ties broken by document id so that runs are deterministic.
        hits.sort_unstable_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then(self.doc_ids[a.0 as usize].cmp(&self.doc_ids[b.0 as usize]))
        });
        hits
    }

    /// Ranks documents for `text`; returns (document id, score), best first, at most `depth`.
    pub fn search(&self, text: &str, options: &Options) -> Vec<(u32, f64)> {
        let mut qtf: HashMap<u32, f64> = HashMap::new();
        self.analyzer.terms(text, |t| {
            if let Some(&id) = self.vocab.get(t) {
                *qtf.entry(id).or_insert(0.0) += 1.0;
            }
        });
        let mut query: Vec<(u32, f64)> = qtf.into_iter().collect();
        query.sort_unstable_by_key(|(t, _)| *t);
        let mut hits = self.score(&query, options);
        if options.prf_docs > 0 && options.prf_weight > 0.0 && !hits.is_empty() {
            query = self.expand(&query, &hits, options);
            hits = self.score(&query, options);
        }
        hits.truncate(options.depth);
        hits.into_iter()
            .map(|(d, s)| (self.doc_ids[d as usize], s))
            .collect()
    }

    /// RM3-style expansion: mix the original query with the term distribution of the top
    /// documents, weighted by their retrieval scores.
    fn expand(
        &self,
        query: &[(u32, f64)],
        hits: &[(u32, f64)],
        options: &Options,
    ) -> Vec<(u32, f64)> {
        let top = &hits[..options.prf_docs.min(hits.len())];
        let total: f64 = top.iter().map(|(_, s)| s).sum();
        let mut relevance: HashMap<u32, f64> = HashMap::new();
        for &(d, s) in top {
            let len = self.doc_len[d as usize] as f64;
            for &(t, tf) in &self.forward[d as usize] {
                *relevance.entry(t).or_insert(0.0) += (s / total) * (tf as f64 / len) * self.idf(t);
            }
        }
        let mut feedback: Vec<(u32, f64)> = relevance.into_iter().collect();
        feedback.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        feedback.truncate(options.prf_terms);
        let fb_total: f64 = feedback.iter().map(|(_, w)| w).sum();
        let q_total: f64 = query.iter().map(|(_, w)| w).sum();
        let mut mixed: HashMap<u32, f64> = HashMap::new();
        for &(t, w) in query {
            *mixed.entry(t).or_insert(0.0) += (1.0 - options.prf_weight) * w / q_total;
        }
        for (t, w) in feedback {
            *mixed.entry(t).or_insert(0.0) += options.prf_weight * w / fb_total;
        }
        let mut out: Vec<(u32, f64)> = mixed.into_iter().collect();
        out.sort_unstable_by_key(|(t, _)| *t);
        out
    }
}

/// Appends one query's hits in run format.
pub fn write_run(out: &mut String, qid: u32, hits: &[(u32, f64)]) {
    use std::fmt::Write;
    for (rank, (doc, score)) in hits.iter().enumerate() {
        let _ = writeln!(out, "{qid}\t{doc}\t{}\t{score:.6}", rank + 1);
    }
}

#[allow(dead_code)] // used by the native benchmark, not by the skill
/// The whole skill without the sandbox: parse, index, rank every query. Used by benchmarks.
pub fn run_collection(docs: &str, queries: &str, options: &Options) -> String {
    let docs = parse_docs(docs);
    let queries = parse_queries(queries);
    let index = Index::build(&docs, options);
    let mut run = String::new();
    for q in &queries {
        write_run(&mut run, q.qid, &index.search(&q.text, options));
    }
    run
}
