//! # hyper-swarm: the peer-to-peer part
//!
//! - [`record`]: signed result records with their receipts (everything a replay needs; the
//!   author is the PeerId of the signing key);
//! - [`attest`]: signed attestations — "I replayed that result and got this";
//! - [`trust`]: what a node believes: result statuses, reputations, trusted attesters;
//! - [`board`]: per-domain boards as Loro CRDT documents that only ever hold verified
//!   signed records and attestations, synced by version vectors;
//! - [`dry_run`]: a peer's bytes decoded first in a forked child, so that a decoder that
//!   aborts, overflows its stack or hangs on them takes down only the child;
//! - [`announce`]: signed claims, hypotheses and skill announcements;
//! - [`feed`]: the node's live feed of new results, attestations, claims and hypotheses;
//! - [`node`]: the libp2p node that carries all of it;
//! - [`verifier`]: the replays every node runs on others' results, in a bounded share of
//!   its compute;
//! - [`peers`]: a research loop's view of the swarm through a running node.

pub mod announce;
pub mod attest;
pub mod board;
pub mod dry_run;
pub mod feed;
pub mod node;
pub mod peers;
pub mod record;
pub mod trust;
pub mod verifier;
