//! # hyper-swarm: the peer-to-peer part
//!
//! - [`record`]: signed result records (the author is the PeerId of the signing key);
//! - [`board`]: per-domain leaderboards as Loro CRDT documents that only ever hold verified
//!   records, synced by version vectors.

pub mod board;
pub mod node;
pub mod record;
