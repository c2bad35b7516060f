//! An optional proposer that asks a chat model for the next parameters: any endpoint that
//! speaks the OpenAI chat-completions protocol (`POST {url}/chat/completions`), with the
//! declared space, the best so far and the history of (parameters, metric) as context. Off
//! by default. Whatever the model answers is only a proposal: it must name values inside the
//! declared space and not repeat a tried point, else the loop falls back to the seeded
//! hill-climber for that experiment (and says why in the log). The model never scores
//! anything.

use std::time::Duration;

use crate::params::{Assignment, Space};
use crate::proposer::{Context, MixedProposer, Observation, Proposer};

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LlmConfig {
    /// Base URL, e.g. `http://127.0.0.1:8080/v1` (the proposer appends `/chat/completions`).
    pub url: String,
    pub model: String,
    /// Sent as a bearer token when set (never logged or journalled).
    #[serde(skip)]
    pub api_key: Option<String>,
    pub timeout: Duration,
}

pub struct LlmProposer {
    config: LlmConfig,
    fallback: MixedProposer,
    /// Proposals taken from the model, and times the fallback answered instead.
    pub answered: u32,
    pub fell_back: u32,
}

/// Largest answer read from the endpoint.
const MAX_ANSWER_BYTES: u64 = 1 << 20;

impl LlmProposer {
    pub fn new(config: LlmConfig, seed: u64) -> Self {
        LlmProposer {
            config,
            fallback: MixedProposer::new(seed),
            answered: 0,
            fell_back: 0,
        }
    }

    fn prompt(space: &Space, best: &Assignment, history: &[Observation]) -> serde_json::Value {
        let params: Vec<serde_json::Value> = space
            .specs
            .iter()
            .map(|s| serde_json::json!({ "name": s.name, "description": s.description, "kind": format!("{:?}", s.kind) }))
            .collect();
        let history: Vec<serde_json::Value> = history
            .iter()
            .rev()
            .take(50)
            .map(|o| serde_json::json!({ "params": Space::to_json(&o.params), "metric": o.val }))
            .collect();
        serde_json::json!({
            "parameters": params,
            "best": Space::to_json(best),
            "history_newest_first": history,
        })
    }

    /// Asks the endpoint; the answer's content must be one JSON object of parameter values.
    fn ask(&self, context: &Context) -> Result<Assignment, String> {
        let (space, best, tried) = (context.space, context.best, context.avoid);
        let body = serde_json::json!({
            "model": self.config.model,
            "temperature": 0.7,
            "messages": [
                { "role": "system", "content": "You choose the next experiment of a research loop. Reply with one JSON object that maps parameter names to values inside their declared ranges and options, and nothing else. Do not repeat a configuration from the history." },
                { "role": "user", "content": Self::prompt(space, best, context.history).to_string() },
            ],
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(self.config.timeout))
            .build()
            .into();
        let url = format!("{}/chat/completions", self.config.url.trim_end_matches('/'));
        let mut request = agent.post(&url);
        if let Some(key) = &self.config.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = request
            .send_json(&body)
            .map_err(|e| format!("{url}: {e}"))?;
        let answer: serde_json::Value = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_json()
            .map_err(|e| format!("{url}: not a chat completion: {e}"))?;
        let content = answer["choices"][0]["message"]["content"]
            .as_str()
            .ok_or("the answer has no choices[0].message.content")?;
        // Models like to wrap JSON in a code fence.
        let text = content
            .trim()
            .trim_start_matches("```json")
            .trim_start_matches("```")
            .trim_end_matches("```")
            .trim();
        let proposed: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("the model's answer is not JSON: {e}"))?;
        let proposed = proposed
            .as_object()
            .ok_or("the model's answer is not a JSON object")?;
        let mut merged = Space::to_json(best)
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (k, v) in proposed {
            if !merged.contains_key(k) {
                return Err(format!(
                    "the model named `{k}`, which the skill does not declare"
                ));
            }
            merged.insert(k.clone(), v.clone());
        }
        let assignment = space
            .from_json(&serde_json::Value::Object(merged))
            .ok_or("the model proposed values outside the declared space")?;
        if tried.contains(&assignment) {
            return Err("the model repeated a tried configuration".into());
        }
        Ok(assignment)
    }
}

impl Proposer for LlmProposer {
    fn propose(&mut self, context: &Context) -> Assignment {
        match self.ask(context) {
            Ok(a) => {
                self.answered += 1;
                a
            }
            Err(why) => {
                tracing::warn!("LLM proposer: {why}; using the hill-climber for this experiment");
                self.fell_back += 1;
                self.fallback.propose(context)
            }
        }
    }
}
