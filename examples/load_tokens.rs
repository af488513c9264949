//! Writes what `scripts/load.sh` sends: Supabase-shaped tokens (about 900 bytes)
//! signed with `SUPABASE_JWT_SECRET` (HS256) and with a fresh test-only ES256 key,
//! whose JWKS it writes too.
//!
//!     cargo run --release --example load_tokens -- DIR COUNT

// A bench tool: failing loudly on bad arguments is the point.
#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use std::fs;
use std::path::PathBuf;

use axum_supabase::testing::Token;

#[path = "../tests/api/keys.rs"]
#[allow(dead_code, unreachable_pub)]
mod keys;

fn user() -> Token {
    Token::user()
        .issuer("https://load.supabase.co/auth/v1")
        .email("ada@example.com")
        .claim("phone", "")
        .claim(
            "user_metadata",
            serde_json::json!({"email": "ada@example.com", "email_verified": true, "sub": "x"}),
        )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: load_tokens DIR COUNT"));
    let count: usize = args
        .next()
        .and_then(|c| c.parse().ok())
        .expect("usage: load_tokens DIR COUNT");
    let secret = std::env::var("SUPABASE_JWT_SECRET").expect("SUPABASE_JWT_SECRET");
    fs::create_dir_all(&dir).unwrap();
    let es = keys::SigningKey::es256();
    fs::write(
        dir.join("jwks.json"),
        serde_json::json!({ "keys": [es.jwk("load-es256")] }).to_string(),
    )
    .unwrap();
    let hs: Vec<String> = (0..count)
        .map(|_| user().sign(secret.as_bytes()).unwrap())
        .collect();
    let ec: Vec<String> = (0..count).map(|_| es.sign(&user(), "load-es256")).collect();
    fs::write(dir.join("hs256-one.txt"), format!("{}\n", hs[0])).unwrap();
    fs::write(dir.join("hs256-many.txt"), hs.join("\n") + "\n").unwrap();
    fs::write(dir.join("es256-one.txt"), format!("{}\n", ec[0])).unwrap();
    fs::write(dir.join("es256-many.txt"), ec.join("\n") + "\n").unwrap();
    eprintln!(
        "wrote {count} HS256 and {count} ES256 tokens ({} bytes each) to {}",
        hs[0].len(),
        dir.display()
    );
}
