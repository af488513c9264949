//! Replays the committed fuzz corpora through the fuzz targets' own code, so a
//! regression on any input the fuzzer once found interesting fails `cargo test`.
//! (Fuzzing itself is `scripts/fuzz.sh`; CI only replays.)

#[path = "../../fuzz/targets.rs"]
#[allow(dead_code, unreachable_pub)]
mod targets;

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "hex") {
            let data = hex::decode(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
            run(&data);
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for {target}");
    count
}

#[test]
fn authorization_corpus_replays_cleanly() {
    replay("authorization", targets::authorization);
}

#[test]
fn jwks_corpus_replays_cleanly() {
    replay("jwks", targets::jwks);
}

#[test]
fn verify_corpus_replays_cleanly() {
    replay("verify", targets::verify);
}
