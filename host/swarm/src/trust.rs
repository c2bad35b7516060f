//! What this node believes about results and identities, computed from the board (results
//! and attestations) and from nothing else a peer can simply assert.
//!
//! - **Trusted attesters**: this node; identities the user trusts (`hyper trust`); and peers
//!   that *earned* it: at least one of their attestations matched a replay this node ran
//!   itself, none contradicted one, and they have verified work of their own and no
//!   refutation. Trust earned that way is lost at once: one attestation that contradicts
//!   this node's own replay and the attester counts for nothing again (BOINC's rule: trust
//!   takes long to earn and is lost at once). Attestations by anyone else count for nothing,
//!   so identities made for free (Sybils) cannot vouch for each other.
//! - **Status of a result**: this node's own results are verified; a result this node
//!   replayed has that verdict; otherwise it is verified by `quorum` distinct trusted
//!   attesters that agree and none that disagrees, refuted by `quorum` that disagree and none
//!   that agrees, disputed when trusted attesters disagree with each other (or fewer than
//!   `quorum` disagree), and unverified until then.
//! - **Reputation** of an identity: its verified and refuted results and its false
//!   attestations (those this node's own replays contradicted). A refutation or a false
//!   attestation costs [`REFUTATION_COST`] verifications.

use std::collections::{BTreeMap, HashMap, HashSet};

use hyper_research::Verdict;
use serde::Serialize;

use crate::attest::SignedAttestation;
use crate::record::SignedResult;

/// Verifications one refutation (or false attestation) costs.
pub const REFUTATION_COST: i64 = 20;
/// Consecutive verified results after which an identity's ordinary results are sampled for
/// replay with probability 1/verified (BOINC's adaptive replication).
pub const SAMPLE_AFTER: u64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Unverified,
    Verified,
    Disputed,
    Refuted,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Unverified,
        Status::Verified,
        Status::Disputed,
        Status::Refuted,
    ];

    /// How many of each status, every status named (zero where none): what reports print.
    pub fn counts(statuses: impl IntoIterator<Item = Status>) -> BTreeMap<String, usize> {
        let mut counts: BTreeMap<String, usize> = Status::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        for status in statuses {
            *counts.entry(status.as_str().to_string()).or_default() += 1;
        }
        counts
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unverified => "unverified",
            Status::Verified => "verified",
            Status::Disputed => "disputed",
            Status::Refuted => "refuted",
        }
    }
}

/// One identity as this node sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Reputation {
    pub verified: u64,
    pub refuted: u64,
    pub disputed: u64,
    /// Attestations this node's own replays contradicted.
    pub false_attestations: u64,
    /// Attestations that matched this node's own replays.
    pub matched_attestations: u64,
    /// Whether its attestations count here.
    pub trusted_attester: bool,
}

impl Reputation {
    /// Verified work minus [`REFUTATION_COST`] per refutation or false attestation.
    pub fn score(&self) -> i64 {
        self.verified as i64
            - REFUTATION_COST * (self.refuted as i64 + self.false_attestations as i64)
    }

    /// Refuted or caught attesting falsely: its results are never adopted.
    pub fn is_refuted(&self) -> bool {
        self.refuted > 0 || self.false_attestations > 0
    }

    /// `trusted`, `good` (verified work, nothing against it), `new` or `refuted`.
    pub fn standing(&self) -> &'static str {
        if self.is_refuted() {
            "refuted"
        } else if self.trusted_attester {
            "trusted"
        } else if self.verified > 0 {
            "good"
        } else {
            "new"
        }
    }
}

/// Who this node is and whom it trusts.
#[derive(Clone, Debug)]
pub struct TrustConfig {
    /// This node's PeerId (base58).
    pub me: String,
    /// PeerIds of identities the user trusts outright.
    pub trusted: HashSet<String>,
    /// Distinct trusted attesters needed to verify (or refute) a result on their word.
    pub quorum: usize,
}

/// The trust view of one board, computed at once from its results and attestations.
#[derive(Clone, Debug, Default)]
pub struct TrustView {
    statuses: HashMap<String, Status>,
    reputations: BTreeMap<String, Reputation>,
    /// Results some attester (trusted or not) disagreed with: replayed with priority.
    contested: HashSet<String>,
    /// Results this node attested (any verdict): not replayed again.
    attested_by_me: HashSet<String>,
}

/// Verdicts on one result by trusted attesters other than this node.
#[derive(Default)]
struct Tally {
    agree: usize,
    disagree: usize,
}

impl TrustView {
    /// `digests` holds [`SignedResult::digest`] of each result by key (the board keeps them).
    pub fn compute(
        config: &TrustConfig,
        results: &BTreeMap<String, SignedResult>,
        attestations: &BTreeMap<String, SignedAttestation>,
        digests: &HashMap<String, String>,
    ) -> Self {
        // Attestations that speak of the bytes on this board (not some other version).
        let valid: Vec<&SignedAttestation> = attestations
            .values()
            .filter(|a| {
                digests
                    .get(&a.attestation.subject)
                    .is_some_and(|d| *d == a.attestation.subject_sha256)
            })
            .collect();
        let mine: HashMap<&str, Verdict> = valid
            .iter()
            .filter(|a| a.attestation.attester == config.me)
            .map(|a| (a.attestation.subject.as_str(), a.attestation.verdict))
            .collect();
        // How each other attester's verdicts compare with this node's own replays.
        let mut matched: HashMap<&str, u64> = HashMap::new();
        let mut contradicted: HashMap<&str, u64> = HashMap::new();
        for a in &valid {
            let at = &a.attestation;
            let Some(&own) = mine.get(at.subject.as_str()) else {
                continue;
            };
            if at.attester == config.me
                || own == Verdict::Unreplayable
                || at.verdict == Verdict::Unreplayable
            {
                continue;
            }
            let counter = if own == at.verdict {
                &mut matched
            } else {
                &mut contradicted
            };
            *counter.entry(at.attester.as_str()).or_default() += 1;
        }
        let mut trusted: HashSet<String> = config.trusted.clone();
        trusted.insert(config.me.clone());
        // Earned trust needs verified work, which depends on who is trusted: iterate to a
        // fixed point (each round only adds attesters; bounded by their number).
        let mut view;
        loop {
            view = Self::statuses(config, results, &valid, &mine, &trusted);
            let mut grew = false;
            for (attester, &m) in &matched {
                if trusted.contains(*attester) || contradicted.contains_key(attester) || m == 0 {
                    continue;
                }
                let rep = view.reputations.get(*attester);
                if rep.is_some_and(|r| r.verified > 0 && !r.is_refuted()) {
                    trusted.insert(attester.to_string());
                    grew = true;
                }
            }
            if !grew {
                break;
            }
        }
        for (attester, m) in matched {
            view.reputations
                .entry(attester.to_string())
                .or_default()
                .matched_attestations = m;
        }
        for (attester, d) in contradicted {
            view.reputations
                .entry(attester.to_string())
                .or_default()
                .false_attestations = d;
        }
        for attester in &trusted {
            if let Some(rep) = view.reputations.get_mut(attester) {
                rep.trusted_attester = !rep.is_refuted() || config.trusted.contains(attester);
            }
        }
        view
    }

    /// Statuses and result counts given a set of trusted attesters.
    fn statuses(
        config: &TrustConfig,
        results: &BTreeMap<String, SignedResult>,
        valid: &[&SignedAttestation],
        mine: &HashMap<&str, Verdict>,
        trusted: &HashSet<String>,
    ) -> TrustView {
        let mut tallies: HashMap<&str, Tally> = HashMap::new();
        let mut contested = HashSet::new();
        for a in valid {
            let at = &a.attestation;
            if at.verdict == Verdict::Disagree {
                contested.insert(at.subject.clone());
            }
            if at.attester == config.me || !trusted.contains(&at.attester) {
                continue;
            }
            let tally = tallies.entry(at.subject.as_str()).or_default();
            match at.verdict {
                Verdict::Agree => tally.agree += 1,
                Verdict::Disagree => tally.disagree += 1,
                Verdict::Unreplayable => {}
            }
        }
        let quorum = config.quorum.max(1);
        let mut view = TrustView {
            contested,
            attested_by_me: mine.keys().map(|k| k.to_string()).collect(),
            ..TrustView::default()
        };
        for (key, result) in results {
            let author = &result.record.author;
            let status = if *author == config.me {
                Status::Verified
            } else {
                match mine.get(key.as_str()) {
                    Some(Verdict::Agree) => Status::Verified,
                    Some(Verdict::Disagree) => Status::Refuted,
                    _ => {
                        let t = tallies.get(key.as_str());
                        let (a, d) = t.map_or((0, 0), |t| (t.agree, t.disagree));
                        match (a, d) {
                            (a, 0) if a >= quorum => Status::Verified,
                            (0, d) if d >= quorum => Status::Refuted,
                            (_, d) if d > 0 => Status::Disputed,
                            _ => Status::Unverified,
                        }
                    }
                }
            };
            let rep = view.reputations.entry(author.clone()).or_default();
            match status {
                Status::Verified => rep.verified += 1,
                Status::Refuted => rep.refuted += 1,
                Status::Disputed => rep.disputed += 1,
                Status::Unverified => {}
            }
            view.statuses.insert(key.clone(), status);
        }
        view
    }

    pub fn status(&self, key: &str) -> Status {
        self.statuses
            .get(key)
            .copied()
            .unwrap_or(Status::Unverified)
    }

    pub fn reputation(&self, identity: &str) -> Reputation {
        self.reputations.get(identity).cloned().unwrap_or_default()
    }

    pub fn reputations(&self) -> &BTreeMap<String, Reputation> {
        &self.reputations
    }

    pub fn attested_by_me(&self, key: &str) -> bool {
        self.attested_by_me.contains(key)
    }

    pub fn is_contested(&self, key: &str) -> bool {
        self.contested.contains(key)
    }

    /// Whether a result may be climbed from or compared against: verified, and its author
    /// not refuted.
    pub fn adoptable(&self, result: &SignedResult) -> bool {
        self.status(&result.key()) == Status::Verified
            && !self.reputation(&result.record.author).is_refuted()
    }

    /// Whether a loop may learn from a result (fit its model on it, count it for the
    /// diversity signal; never climb from it or compare against it — that is
    /// [`Self::adoptable`]): verified, or by an author whose work has been verified or whom
    /// this node trusts as an attester, and not itself refuted or disputed. A new identity's
    /// unchecked results steer nothing, so Sybils cannot pull the swarm's model off course.
    pub fn learnable(&self, result: &SignedResult) -> bool {
        let rep = self.reputation(&result.record.author);
        if rep.is_refuted() {
            return false;
        }
        match self.status(&result.key()) {
            Status::Verified => true,
            Status::Unverified => rep.verified > 0 || rep.trusted_attester,
            Status::Refuted | Status::Disputed => false,
        }
    }

    /// The results a loop may learn from among `results`: [`Self::learnable`], not
    /// `except`'s (this node's own), the newest `max`, with at most `per_author` of any one
    /// author's — so one identity with standing cannot flood the others out of every loop's
    /// model — oldest first.
    pub fn learnable_results<'r>(
        &self,
        results: impl IntoIterator<Item = &'r SignedResult>,
        except: &str,
        max: usize,
        per_author: usize,
    ) -> Vec<SignedResult> {
        let mut newest_first: Vec<&SignedResult> = results
            .into_iter()
            .filter(|r| r.record.author != except && self.learnable(r))
            .collect();
        newest_first.sort_by_key(|r| std::cmp::Reverse(r.record.finished_ms));
        let mut taken: HashMap<&str, usize> = HashMap::new();
        let mut kept: Vec<SignedResult> = newest_first
            .into_iter()
            .filter(|r| {
                let n = taken.entry(r.record.author.as_str()).or_insert(0);
                *n += 1;
                *n <= per_author
            })
            .take(max)
            .cloned()
            .collect();
        kept.reverse();
        kept
    }

    /// The gossipsub application score of an identity: strongly negative once refuted (its
    /// messages are then graylisted), a little positive for verified work.
    pub fn application_score(&self, identity: &str) -> f64 {
        let rep = self.reputation(identity);
        if rep.is_refuted() {
            -1000.0
        } else {
            (rep.verified as f64).min(10.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use hyper_research::ReplayOutcome;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn id(k: &SigningKey) -> String {
        crate::record::peer_id_of(&k.verifying_key())
    }

    fn attest(subject: &SignedResult, by: &SigningKey, verdict: Verdict) -> SignedAttestation {
        let outcome = ReplayOutcome {
            verdict,
            reason: String::new(),
            val: subject.record.val,
            test: subject.record.test,
            platform: String::new(),
            duration_ms: 1,
        };
        SignedAttestation::sign(subject, &outcome, by, 1)
    }

    struct Fixture {
        results: BTreeMap<String, SignedResult>,
        attestations: BTreeMap<String, SignedAttestation>,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                results: BTreeMap::new(),
                attestations: BTreeMap::new(),
            }
        }
        fn result(&mut self, by: &SigningKey, name: &str) -> SignedResult {
            let r = crate::record::sample(by, name, 0.5);
            self.results.insert(r.key(), r.clone());
            r
        }
        fn attest(&mut self, subject: &SignedResult, by: &SigningKey, verdict: Verdict) {
            let a = attest(subject, by, verdict);
            self.attestations.insert(a.key(), a);
        }
        fn view(&self, me: &SigningKey, trusted: &[&SigningKey], quorum: usize) -> TrustView {
            let config = TrustConfig {
                me: id(me),
                trusted: trusted.iter().map(|k| id(k)).collect(),
                quorum,
            };
            let digests = self
                .results
                .iter()
                .map(|(k, r)| (k.clone(), r.digest()))
                .collect();
            TrustView::compute(&config, &self.results, &self.attestations, &digests)
        }
    }

    #[test]
    fn loops_learn_from_verified_work_and_from_authors_with_standing_only() {
        let (me, friend, author, newcomer, liar) = (key(1), key(2), key(3), key(4), key(5));
        let mut f = Fixture::new();
        // The author's first result is verified by this node's replay; its second is not
        // checked yet but counts (the author has standing).
        let checked = f.result(&author, "checked");
        let unchecked = f.result(&author, "unchecked");
        f.attest(&checked, &me, Verdict::Agree);
        // A user-trusted identity's unchecked result counts; a newcomer's does not.
        let friends = f.result(&friend, "f");
        let new = f.result(&newcomer, "n");
        // A refuted author's results count for nothing, even its verified ones.
        let good = f.result(&liar, "good");
        let bad = f.result(&liar, "bad");
        f.attest(&good, &me, Verdict::Agree);
        f.attest(&bad, &me, Verdict::Disagree);
        let view = f.view(&me, &[&friend], 1);
        assert!(view.learnable(&checked) && view.learnable(&unchecked));
        assert!(view.learnable(&friends));
        assert!(
            !view.learnable(&new),
            "a new identity's claims steer nothing"
        );
        assert!(!view.learnable(&good) && !view.learnable(&bad));
        // The newcomer's result once this node replayed it: learnable.
        f.attest(&new, &me, Verdict::Agree);
        assert!(f.view(&me, &[&friend], 1).learnable(&new));
    }

    #[test]
    fn one_author_with_standing_cannot_flood_the_others_out_of_the_model() {
        let (me, flooder, honest) = (key(1), key(2), key(3));
        let mut f = Fixture::new();
        let mut results = Vec::new();
        for i in 0..50 {
            results.push(f.result(&flooder, &format!("flood-{i}")));
        }
        for i in 0..5 {
            results.push(f.result(&honest, &format!("h-{i}")));
        }
        let mine = f.result(&me, "mine");
        let view = f.view(&me, &[&flooder, &honest], 1);
        let all: Vec<&SignedResult> = results.iter().chain([&mine]).collect();
        let kept = view.learnable_results(all.iter().copied(), &id(&me), 20, 10);
        let by = |k: &SigningKey| kept.iter().filter(|r| r.record.author == id(k)).count();
        assert_eq!((by(&flooder), by(&honest), by(&me)), (10, 5, 0));
        // Other sizes: a cap below the honest share, and no per-author cap at all.
        let kept = view.learnable_results(all.iter().copied(), &id(&me), 3, 10);
        assert_eq!(kept.len(), 3);
        let kept = view.learnable_results(all.iter().copied(), &id(&me), 100, 100);
        assert_eq!(kept.len(), 55);
        assert!(kept
            .windows(2)
            .all(|w| w[0].record.finished_ms <= w[1].record.finished_ms));
    }

    #[test]
    fn a_quorum_of_trusted_attesters_verifies_and_disagreement_disputes() {
        let (me, t1, t2, author) = (key(1), key(2), key(3), key(4));
        let mut f = Fixture::new();
        let r = f.result(&author, "r");
        f.attest(&r, &t1, Verdict::Agree);
        assert_eq!(
            f.view(&me, &[&t1, &t2], 1).status(&r.key()),
            Status::Verified
        );
        assert_eq!(
            f.view(&me, &[&t1, &t2], 2).status(&r.key()),
            Status::Unverified
        );
        f.attest(&r, &t2, Verdict::Agree);
        assert_eq!(
            f.view(&me, &[&t1, &t2], 2).status(&r.key()),
            Status::Verified
        );
        // Not trusted: worth nothing, whatever they say.
        assert_eq!(f.view(&me, &[], 1).status(&r.key()), Status::Unverified);
        // One trusted attester disagrees: disputed; this node's own replay decides.
        let mut g = Fixture::new();
        let r = g.result(&author, "r");
        g.attest(&r, &t1, Verdict::Agree);
        g.attest(&r, &t2, Verdict::Disagree);
        assert_eq!(
            g.view(&me, &[&t1, &t2], 1).status(&r.key()),
            Status::Disputed
        );
        g.attest(&r, &me, Verdict::Disagree);
        let v = g.view(&me, &[&t1, &t2], 1);
        assert_eq!(v.status(&r.key()), Status::Refuted);
        // A trusted-by-the-user attester contradicted by this node's replay is caught too.
        assert_eq!(v.reputation(&id(&t1)).false_attestations, 1);
        let rep = v.reputation(&id(&author));
        assert!(rep.is_refuted() && rep.score() == -REFUTATION_COST);
        assert!(!v.adoptable(&r));
        assert_eq!(v.application_score(&id(&author)), -1000.0);
    }

    #[test]
    fn trust_is_earned_by_matching_replays_and_lost_at_once() {
        let (me, peer, author) = (key(11), key(12), key(13));
        let mut f = Fixture::new();
        let checked = f.result(&author, "checked");
        let peer_work = f.result(&peer, "own-work");
        let next = f.result(&author, "next");
        f.attest(&checked, &peer, Verdict::Agree);
        f.attest(&next, &peer, Verdict::Agree);
        // The peer's attestation matches nothing of mine yet: it does not count.
        assert_eq!(f.view(&me, &[], 1).status(&next.key()), Status::Unverified);
        // I replay what it checked (agree) and its own work: now its word counts.
        f.attest(&checked, &me, Verdict::Agree);
        f.attest(&peer_work, &me, Verdict::Agree);
        let v = f.view(&me, &[], 1);
        assert!(v.reputation(&id(&peer)).trusted_attester);
        assert_eq!(v.status(&next.key()), Status::Verified);
        // One contradiction and it is gone, and what it alone vouched for is not verified.
        let wrong = f.result(&author, "wrong");
        let later = f.result(&author, "later");
        f.attest(&wrong, &peer, Verdict::Agree);
        f.attest(&wrong, &me, Verdict::Disagree);
        f.attest(&later, &peer, Verdict::Agree);
        let v = f.view(&me, &[], 1);
        let rep = v.reputation(&id(&peer));
        assert!(!rep.trusted_attester && rep.false_attestations == 1 && rep.is_refuted());
        assert_eq!(v.status(&later.key()), Status::Unverified);
        assert_eq!(v.status(&next.key()), Status::Unverified);
    }
}
