//! The minimal skill of sdk/README.md, built and run by the test suite so the docs stay true.

use hyper_sdk::prelude::*;

struct Shortest;

impl Skill for Shortest {
    fn info() -> SkillInfo {
        SkillInfo::new("shortest", "0.1.0", "search")
            .describe("ranks the shortest documents first, whatever the query")
            .param(ParamSpec::int(
                "depth",
                "documents returned per query",
                1,
                100,
                10,
            ))
    }

    fn run(experiment: &Experiment) -> Result<Artifact, Error> {
        let depth = experiment.params.int("depth")? as usize;
        let docs = data::read_to_string("cran.all.1400")?; // the domain's data, read-only at /data
        let mut lengths: Vec<(usize, u32)> = docs
            .split(".I ")
            .filter_map(|d| Some((d.len(), d.lines().next()?.trim().parse().ok()?)))
            .collect();
        lengths.sort();
        let mut run = String::new();
        for q in 1..=225 {
            for (rank, (_, doc)) in lengths.iter().take(depth).enumerate() {
                run.push_str(&format!("{q}\t{doc}\t{}\t{}\n", rank + 1, depth - rank));
            }
        }
        log::info("done");
        Ok(Artifact::new(
            "text/tab-separated-values; profile=trec-run",
            run.into_bytes(),
        ))
    }
}

register_skill!(Shortest);
