//! A starter skill for the cause `{{name}}`: answers `a op b` questions from
//! /data/questions.tsv, and can be told to get some wrong (`careless`) so that the research
//! loop has something to improve. Replace it with a real approach.

use hyper_sdk::prelude::*;

struct Starter;

fn answer(question: &str) -> Option<String> {
    let mut parts = question.split_whitespace();
    let a: i64 = parts.next()?.parse().ok()?;
    let op = parts.next()?;
    let b: i64 = parts.next()?.parse().ok()?;
    Some(match op {
        "+" => a.checked_add(b)?,
        "-" => a.checked_sub(b)?,
        "*" => a.checked_mul(b)?,
        "/" if b != 0 => a / b,
        _ => return None,
    }
    .to_string())
}

impl Skill for Starter {
    fn info() -> SkillInfo {
        SkillInfo::new("{{name}}-starter", "0.1.0", "{{name}}")
            .describe("answers arithmetic questions; `careless` skips every n-th one")
            .param(ParamSpec::int("careless", "skip every n-th question (0 = never)", 0, 5, 2))
    }

    fn run(experiment: &Experiment) -> Result<Artifact, Error> {
        let careless = experiment.params.int("careless")?.max(0) as usize;
        let questions = data::read_to_string("questions.tsv")?;
        let mut out = String::new();
        for (i, line) in questions.lines().skip(1).enumerate() {
            let Some((id, question)) = line.split_once('\t') else {
                continue;
            };
            if careless > 0 && (i + 1) % careless == 0 {
                continue;
            }
            if let Some(a) = answer(question) {
                out.push_str(&format!("{id}\t{a}\n"));
            }
        }
        Ok(Artifact::new("text/tab-separated-values", out.into_bytes()))
    }
}

register_skill!(Starter);
