//! Replays the committed fuzz corpora (`tests/fuzz/corpus/<target>/`, minimised libFuzzer
//! corpora) through the fuzz targets' bodies, plus a deterministic stream of mutations of the
//! entries (about 4,000 per target in all, to stay within CI's time), so that every input a
//! fuzzer once found interesting keeps being checked by the ordinary suite.

use hyper_tests::fuzz_targets::TARGETS;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| std::fs::read(e.expect("entry").path()).expect("read"))
        .collect();
    inputs.sort();
    inputs
}

/// xorshift64*: a fixed stream of byte flips, truncations and splices.
fn mutations(seed: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut state = 0x2545_f491_4f6c_dd1du64 ^ seed.len() as u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    (0..n)
        .map(|_| {
            let mut m = seed.to_vec();
            for _ in 0..1 + next() % 8 {
                let r = next();
                match r % 4 {
                    0 if !m.is_empty() => {
                        let i = (r >> 8) as usize % m.len();
                        m[i] ^= (r >> 32) as u8 | 1;
                    }
                    1 if !m.is_empty() => m.truncate((r >> 8) as usize % m.len()),
                    2 => m.push((r >> 8) as u8),
                    _ => m.extend_from_slice(&(r >> 16).to_le_bytes()),
                }
            }
            m
        })
        .collect()
}

#[test]
fn every_corpus_entry_and_its_mutations_pass_the_fuzz_targets() {
    for (name, target) in TARGETS {
        let inputs = corpus(name);
        assert!(!inputs.is_empty(), "corpus of `{name}` is empty");
        let mut runs = 0;
        let per_entry = (4000 / inputs.len()).max(1);
        for input in &inputs {
            target(input);
            for m in mutations(input, per_entry) {
                target(&m);
                runs += 1;
            }
        }
        println!("{name}: {} corpus entries, {runs} mutations", inputs.len());
    }
}
