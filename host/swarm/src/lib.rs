//! # hyper-swarm: the peer-to-peer part
//!
//! - [`record`]: signed result records (the author is the PeerId of the signing key);
//! - [`board`]: per-domain leaderboards as Loro CRDT documents that only ever hold verified
//!   records, synced by version vectors;
//! - [`announce`]: signed claims, hypotheses and skill announcements;
//! - [`node`]: the libp2p node that carries all of it;
//! - [`peers`]: a research loop's view of the swarm through a running node.

pub mod announce;
pub mod board;
pub mod node;
pub mod peers;
pub mod record;
