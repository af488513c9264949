//! The real client library: `@supabase/ssr`'s `createServerClient` (from npm,
//! pinned in `tests/node/package-lock.json`) writes the session cookies, our
//! server accepts them, refreshes, and the same library reads our `Set-Cookie`
//! values back as the new session.

use std::path::Path;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::cookie_support::*;

/// Runs `tests/node/ssr.mjs` and parses what it prints.
async fn ssr(args: &[&str]) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    assert!(
        dir.join("node_modules/@supabase/ssr").exists(),
        "the Node fixture is not installed: run `npm ci --prefix tests/node` (scripts/test.sh does)"
    );
    let output = tokio::process::Command::new("node")
        .arg("ssr.mjs")
        .args(args)
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "ssr.mjs {}: {}",
        args[0],
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("ssr.mjs prints JSON")
}

fn cookie_line(cookies: &Value) -> String {
    cookies
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}={}", c["name"].as_str().unwrap(), c["value"].as_str().unwrap()))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The cookies a browser holds after applying `Set-Cookie` lines to `sent`:
/// set ones replace, `Max-Age=0` ones go.
fn kept(sent: &Value, set_cookies: &[String]) -> Value {
    let mut jar: Vec<(String, String)> = sent
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    for line in set_cookies {
        let (name, value) = line.split(';').next().unwrap().split_once('=').unwrap();
        jar.retain(|(n, _)| n != name);
        if !line.contains("Max-Age=0") {
            jar.push((name.to_owned(), value.to_owned()));
        }
    }
    jar.iter()
        .map(|(name, value)| serde_json::json!({ "name": name, "value": value }))
        .collect()
}

async fn accepts_what_supabase_ssr_writes(metadata_bytes: usize, chunked: bool) {
    let t = cookie_app().await;
    let size = metadata_bytes.to_string();
    let written = ssr(&["write", &t.url, API_KEY, "node@example.com", &size]).await;
    let names: Vec<&str> = written["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        // The PKCE flow also writes `…-code-verifier` cookies; they are not the session.
        .filter(|n| *n == NAME || n.strip_prefix("sb-127-auth-token.").is_some())
        .collect();
    assert!(
        written["cookies"].as_array().unwrap().len() > names.len(),
        "the code-verifier cookies ride along, and are ignored"
    );
    if chunked {
        assert!(
            names.contains(&"sb-127-auth-token.0") && names.contains(&"sb-127-auth-token.1"),
            "{names:?}"
        );
    } else {
        assert_eq!(names, ["sb-127-auth-token"]);
    }
    let response = t.get("/api/me", &cookie_line(&written["cookies"])).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.json()["email"], "node@example.com");
    assert!(set_cookies(&response.headers).is_empty());
    assert_eq!(t.gotrue.refresh_calls(), 0);
}

#[tokio::test]
async fn our_server_accepts_the_cookie_supabase_ssr_writes() {
    accepts_what_supabase_ssr_writes(0, false).await;
}

#[tokio::test]
async fn our_server_accepts_the_chunks_supabase_ssr_writes() {
    accepts_what_supabase_ssr_writes(6000, true).await;
}

#[tokio::test]
async fn supabase_ssr_reads_back_the_session_our_server_refreshed() {
    for metadata_bytes in ["0", "6000"] {
        let t = cookie_app().await;
        // Within the 90 s margin: our server refreshes on the first request.
        t.gotrue.set(|k| k.sign_in_expires_in = 30);
        let written = ssr(&["write", &t.url, API_KEY, "node@example.com", metadata_bytes]).await;
        let old = &written["session"];
        let response = t
            .app
            .request(request(
                Method::GET,
                "/api/me",
                &cookie_line(&written["cookies"]),
                &[],
            ))
            .await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.text());
        assert_eq!(t.gotrue.refresh_calls(), 1);
        let ours = session_from(&set_cookies(&response.headers)).unwrap();
        assert_ne!(ours["refresh_token"], old["refresh_token"]);

        let read = ssr(&[
            "read",
            &t.url,
            API_KEY,
            &kept(&written["cookies"], &set_cookies(&response.headers)).to_string(),
        ])
        .await;
        assert_eq!(
            read["access_token"], ours["access_token"],
            "metadata {metadata_bytes}"
        );
        assert_eq!(read["refresh_token"], ours["refresh_token"]);
        assert_eq!(read["email"], "node@example.com");
        assert_eq!(read["expires_at"], ours["expires_at"]);
        // Reading was enough: the library did not refresh again.
        assert_eq!(t.gotrue.refresh_calls(), 1);
    }
}
