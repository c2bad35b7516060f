//! # hyper-archive: the swarm made durable
//!
//! - [`state`]: what a node knows of one domain's board at one moment (results, each one's
//!   verification status, reputations, the diversity signal), the input of everything here;
//! - [`snapshot`]: the network's state as one JSON document (Hyperspace's snapshot v2
//!   fields plus hyper's own), with its JSON Schema (`snapshot.schema.json`);
//! - [`git`]: the git archive — one branch per agent and domain with a file per experiment,
//!   pushed incrementally, idempotently and resumably to any git remote.

pub mod git;
pub mod snapshot;
pub mod state;

pub use git::{archive, ArchiveReport};
pub use snapshot::Snapshot;
pub use state::BoardState;
