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

#[test]
fn the_verify_targets_check_can_fail() {
    use axum_supabase::SupabaseAuth;
    use axum_supabase::testing::Token;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A genuine token passes the whole target, reference check included.
    let good = Token::user()
        .issuer(targets::FUZZ_ISSUER)
        .sign(targets::FUZZ_SECRET.as_bytes())
        .unwrap();
    targets::verify(good.as_bytes());
    // A verifier that wrongly accepts another issuer: the reference check objects.
    let wrong = SupabaseAuth::builder()
        .project_url("https://other.supabase.co")
        .jwt_secret(targets::FUZZ_SECRET)
        .without_jwks()
        .build()
        .unwrap();
    let token = Token::user()
        .issuer("https://other.supabase.co/auth/v1")
        .sign(targets::FUZZ_SECRET.as_bytes())
        .unwrap();
    let user = runtime.block_on(wrong.verify(&token)).unwrap();
    let check = std::panic::catch_unwind(|| targets::assert_reference_agrees(&token, &user));
    assert!(
        check.is_err(),
        "the target must object to a token our verifier should not have accepted"
    );
}

#[test]
fn session_cookie_corpus_replays_cleanly() {
    replay("session_cookie", targets::session_cookie);
}
