//! The node's libp2p behaviours and how they are configured.

use std::time::Duration;

use libp2p::gossipsub;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{identify, identity, kad, mdns, noise, tcp, yamux, StreamProtocol, Swarm};
use sha2::{Digest, Sha256};

use super::{
    SkillRequest, SkillResponse, SyncRequest, SyncResponse, KAD_PROTOCOL, MAX_PACKAGE_BYTES,
    SKILL_FETCH_PROTOCOL, SYNC_PROTOCOL,
};
use crate::record::MAX_RECORD_BYTES;

/// Largest sync response: a full board of ~100k results is tens of MB.
const MAX_SYNC_RESPONSE: u64 = 512 << 20;

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub gossipsub: gossipsub::Behaviour,
    pub sync: request_response::cbor::Behaviour<SyncRequest, SyncResponse>,
    pub skills: request_response::cbor::Behaviour<SkillRequest, SkillResponse>,
    pub identify: identify::Behaviour,
    pub kad: kad::Behaviour<kad::store::MemoryStore>,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
}

/// Peer scoring serves one purpose here: the application score, which this node sets from
/// an identity's reputation (refuted identities are graylisted). Topic scores are off (our
/// messages carry their own signatures and are validated by content), and so is the IP
/// colocation penalty: many honest nodes share one address on a LAN or loopback.
fn score_params() -> gossipsub::PeerScoreParams {
    gossipsub::PeerScoreParams {
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: 0.0,
        ..gossipsub::PeerScoreParams::default()
    }
}

/// gossipsub's default thresholds (gossip -10, publish -50, graylist -80): a refuted
/// identity's score of -1000 is far below all of them.
fn score_thresholds() -> gossipsub::PeerScoreThresholds {
    gossipsub::PeerScoreThresholds::default()
}

/// The swarm with every behaviour, TCP + noise + yamux and QUIC.
pub(super) fn build(keypair: identity::Keypair, mdns: bool) -> anyhow::Result<Swarm<Behaviour>> {
    let swarm: Swarm<Behaviour> = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )?
        .with_quic()
        .with_behaviour(
            |key| -> Result<Behaviour, Box<dyn std::error::Error + Send + Sync>> {
                // Every message we send is already signed by its author (results and
                // announcements carry their own ed25519 signatures, checked before anything is
                // accepted or forwarded), so gossipsub's own per-message signatures would only
                // be verified again on every duplicate copy, which dominated CPU in a
                // well-connected swarm. Messages are anonymous and identified by a hash of
                // their content, so an identical replay is a duplicate to gossipsub too.
                let gossip_config = gossipsub::ConfigBuilder::default()
                    .heartbeat_interval(Duration::from_millis(200))
                    .validation_mode(gossipsub::ValidationMode::Anonymous)
                    .message_id_fn(|message: &gossipsub::Message| {
                        gossipsub::MessageId::from(Sha256::digest(&message.data).to_vec())
                    })
                    .validate_messages()
                    .max_transmit_size(MAX_RECORD_BYTES + 1024)
                    .build()?;
                let mut gossipsub = gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Anonymous,
                    gossip_config,
                )?;
                gossipsub.with_peer_score(score_params(), score_thresholds())?;
                let codec =
                    request_response::cbor::codec::Codec::<SyncRequest, SyncResponse>::default()
                        .set_request_size_maximum(1 << 20)
                        .set_response_size_maximum(MAX_SYNC_RESPONSE);
                let sync = request_response::Behaviour::with_codec(
                    codec,
                    [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(120)),
                );
                let skill_codec =
                    request_response::cbor::codec::Codec::<SkillRequest, SkillResponse>::default()
                        .set_request_size_maximum(4 << 10)
                        .set_response_size_maximum(MAX_PACKAGE_BYTES + (1 << 10));
                let skills = request_response::Behaviour::with_codec(
                    skill_codec,
                    [(
                        StreamProtocol::new(SKILL_FETCH_PROTOCOL),
                        ProtocolSupport::Full,
                    )],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(120)),
                );
                let identify = identify::Behaviour::new(identify::Config::new(
                    "/hyper/1".into(),
                    key.public(),
                ));
                let mut kad = kad::Behaviour::with_config(
                    key.public().to_peer_id(),
                    kad::store::MemoryStore::new(key.public().to_peer_id()),
                    kad::Config::new(StreamProtocol::new(KAD_PROTOCOL)),
                );
                // Serve the DHT even before an external address is confirmed (loopback, LAN):
                // otherwise nobody would store or answer provider records.
                kad.set_mode(Some(kad::Mode::Server));
                let mdns = if mdns {
                    Some(mdns::tokio::Behaviour::new(
                        mdns::Config::default(),
                        key.public().to_peer_id(),
                    )?)
                } else {
                    None
                };
                Ok(Behaviour {
                    gossipsub,
                    sync,
                    skills,
                    identify,
                    kad,
                    mdns: Toggle::from(mdns),
                })
            },
        )
        .map_err(|e| anyhow::anyhow!("building the node: {e}"))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    Ok(swarm)
}
