//! Asymmetric keys from a real JWKS server on loopback: algorithms, the
//! migration window, rotation, outages, floods, limits and alg confusion.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::helpers::TestResponse;
use crate::jwks_support::{JwksApp, JwksServer, Mode, SigningKey, b64, signing_input, user, wait_for};

const INVALID: &str = "invalid_token";

async fn me(app: &JwksApp, token: &str) -> TestResponse {
    app.app.get_bearer("/api/me", token).await
}

#[tokio::test]
async fn es256_rs256_and_eddsa_tokens_verify() {
    let keys = [
        (SigningKey::es256(), "ec-1"),
        (SigningKey::rs256(), "rsa-1"),
        (SigningKey::ed25519(), "ed-1"),
    ];
    let server = JwksServer::start(keys.iter().map(|(k, kid)| k.jwk(kid)).collect()).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    for (key, kid) in &keys {
        let response = me(&app, &key.sign(&user().role("authenticated"), kid)).await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{}: {}",
            key.alg(),
            response.text()
        );
        assert_eq!(response.json()["email"], "ada@example.com");
    }
}

#[tokio::test]
async fn migration_window_accepts_hs256_and_es256_side_by_side() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("new")]).await;
    let app = JwksApp::new(server.config(), true);
    app.ready().await;
    assert_eq!(me(&app, &ec.sign(&user(), "new")).await.status, StatusCode::OK);
    // Supabase adds a kid to HS256 tokens once a project has signing keys.
    let legacy = app.app.sign(user().kid("legacy-hs"));
    assert_eq!(me(&app, &legacy).await.status, StatusCode::OK);
    assert_eq!(
        app.app.get("/readyz").await.json()["key_sources"],
        json!(["hs256", "jwks"])
    );
    // Guards and Option<AuthUser> work unchanged for JWKS tokens.
    let admin = me_at(&app, "/api/admin", &ec.sign(&user().role("admin"), "new")).await;
    assert_eq!(admin.status, StatusCode::OK);
    let greeting = me_at(&app, "/api/greeting", &ec.sign(&user(), "new")).await;
    assert_eq!(greeting.json()["message"], "hello, ada@example.com");
}

/// Sends one `/api/me` request per token, all at once, and returns the statuses.
async fn concurrently(app: &JwksApp, tokens: Vec<String>) -> Vec<StatusCode> {
    let mut set = JoinSet::new();
    for token in tokens {
        let router = app.app.router();
        set.spawn(async move {
            let request = Request::get("/api/me").header("authorization", format!("Bearer {token}"));
            router
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap()
                .status()
        });
    }
    set.join_all().await
}

async fn me_at(app: &JwksApp, path: &str, token: &str) -> TestResponse {
    app.app.get_bearer(path, token).await
}

#[tokio::test]
async fn a_rotated_in_key_is_accepted_after_one_refetch() {
    let (old, new) = (SigningKey::es256(), SigningKey::es256());
    let server = JwksServer::start(vec![old.jwk("old")]).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    let before = app.fetches();
    server.set_keys(vec![old.jwk("old"), new.jwk("new")]);
    let published = Instant::now();
    let response = me(&app, &new.sign(&user(), "new")).await;
    let accepted_after = published.elapsed();
    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(app.fetches(), before + 1, "exactly one refetch");
    eprintln!("rotated key accepted {accepted_after:?} after publication, with 1 refetch");
}

#[tokio::test]
async fn a_removed_key_is_rejected_after_the_next_refresh() {
    let (old, new) = (SigningKey::es256(), SigningKey::es256());
    let server = JwksServer::start(vec![old.jwk("old"), new.jwk("new")]).await;
    server.set_cache_control(Some("public, max-age=0"));
    let mut config = server.config();
    config.min_refresh = Duration::from_millis(200);
    let app = JwksApp::new(config, false);
    app.ready().await;
    let token = old.sign(&user(), "old");
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
    server.set_keys(vec![new.jwk("new")]);
    let hits = server.hits();
    wait_for(|| server.hits() > hits, "the next background refresh").await;
    wait_for(
        || app.state.verifier.jwks().unwrap().status().keys == 1,
        "the new set to be stored",
    )
    .await;
    me(&app, &token)
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID, "unknown signing key");
    assert_eq!(me(&app, &new.sign(&user(), "new")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_outage_keeps_serving_until_max_stale_then_fails_closed() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("k")]).await;
    server.set_cache_control(Some("max-age=0"));
    let mut config = server.config();
    config.min_refresh = Duration::from_millis(100);
    config.cooldown = Duration::from_millis(100);
    config.max_stale = Duration::from_millis(1500);
    let app = JwksApp::new(config, true);
    app.ready().await;
    let token = ec.sign(&user(), "k");

    for mode in [Mode::Down, Mode::Garbage] {
        server.set_mode(mode);
        let hits = server.hits();
        wait_for(|| server.hits() >= hits + 2, "failed refreshes").await;
        assert_eq!(
            me(&app, &token).await.status,
            StatusCode::OK,
            "last good keys keep serving"
        );
        let ready = app.app.get("/readyz").await;
        assert_eq!(ready.status, StatusCode::OK);
        assert!(ready.json()["jwks"]["last_error"].is_string(), "{}", ready.text());
    }

    wait_for(
        || !app.state.verifier.jwks().unwrap().status().ready,
        "max_stale to pass",
    )
    .await;
    let response = me(&app, &token).await;
    response.assert_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "signing keys are not available yet; retry shortly",
    );
    assert!(response.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(
        app.app.get("/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // HS256 tokens do not depend on the JWKS.
    assert_eq!(me(&app, &app.app.valid_token()).await.status, StatusCode::OK);

    server.set_mode(Mode::Normal);
    wait_for(|| app.state.verifier.jwks().unwrap().status().ready, "recovery").await;
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_cooldown() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("real")]).await;
    let mut config = server.config();
    config.cooldown = Duration::from_secs(2);
    let app = JwksApp::new(config, false);
    app.ready().await;
    let tokens: Vec<String> = (0..1000)
        .map(|_| ec.sign(&user(), &uuid::Uuid::new_v4().to_string()))
        .collect();
    let before = server.hits();
    for status in concurrently(&app, tokens).await {
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let fetched = server.hits() - before;
    eprintln!("1000 random kids caused {fetched} JWKS fetch(es)");
    assert_eq!(fetched, 1, "{fetched} fetches");
    assert_eq!(me(&app, &ec.sign(&user(), "real")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn concurrent_requests_during_a_refetch_share_one_fetch() {
    let (old, new) = (SigningKey::es256(), SigningKey::es256());
    let server = JwksServer::start(vec![old.jwk("old")]).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    server.set_keys(vec![old.jwk("old"), new.jwk("new")]);
    server.set_mode(Mode::Slow(Duration::from_millis(300)));
    let before = server.hits();
    let tokens = (0..100).map(|_| new.sign(&user(), "new")).collect();
    for status in concurrently(&app, tokens).await {
        assert_eq!(status, StatusCode::OK);
    }
    let fetched = server.hits() - before;
    eprintln!("100 concurrent requests with a new kid caused {fetched} JWKS fetch(es)");
    assert_eq!(fetched, 1);
}

#[tokio::test]
async fn known_kids_never_wait_for_a_slow_refetch() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("k")]).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    server.set_mode(Mode::Slow(Duration::from_millis(1500)));
    let router = app.app.router();
    let unknown = ec.sign(&user(), "unknown");
    let slow = tokio::spawn(async move {
        let request = Request::get("/api/me").header("authorization", format!("Bearer {unknown}"));
        router
            .oneshot(request.body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    });
    let hits = server.hits();
    wait_for(|| server.hits() > hits, "the slow refetch to start").await;
    let started = Instant::now();
    assert_eq!(me(&app, &ec.sign(&user(), "k")).await.status, StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "a known kid waited {:?}",
        started.elapsed()
    );
    assert_eq!(slow.await.unwrap(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn not_ready_and_503_until_the_first_fetch_then_ready() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("k")]).await;
    server.set_mode(Mode::Down);
    let mut config = server.config();
    config.cooldown = Duration::from_millis(500);
    let app = JwksApp::new(config, true);
    wait_for(|| server.hits() >= 1, "the first attempt").await;
    let ready = app.app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let body = ready.json();
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["jwks"]["keys"], 0);
    assert_eq!(body["jwks"]["last_error"], "unexpected status 500");
    let token = ec.sign(&user(), "k");
    let response = me(&app, &token).await;
    assert_eq!(response.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.header("retry-after").is_some());
    assert_eq!(
        me(&app, &app.app.valid_token()).await.status,
        StatusCode::OK,
        "HS256 is unaffected"
    );

    server.set_mode(Mode::Normal);
    app.ready().await;
    let ready = app.app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    let text = ready.text();
    assert_eq!(ready.json()["jwks"]["keys"], 1);
    assert!(
        !text.contains(&ec.jwk("k")["x"].as_str().unwrap().to_owned()),
        "no key material in /readyz"
    );
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn conditional_requests_use_the_etag() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("k")]).await;
    server.set_etag(Some("\"v1\""));
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    let jwks = app.state.verifier.jwks().unwrap();
    let generation = jwks.key_generation();
    jwks.refresh_now().await.unwrap();
    assert_eq!(server.not_modified(), 1);
    assert_eq!(jwks.key_generation(), generation, "304 keeps the same key set");
    assert_eq!(me(&app, &ec.sign(&user(), "k")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_slow_endpoint_times_out() {
    let server = JwksServer::start(vec![SigningKey::es256().jwk("k")]).await;
    server.set_mode(Mode::Slow(Duration::from_secs(5)));
    let mut config = server.config();
    config.timeout = Duration::from_millis(200);
    let app = JwksApp::new(config, false);
    let started = Instant::now();
    let jwks = app.state.verifier.jwks().unwrap();
    assert!(jwks.refresh_now().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3));
    wait_for(
        || {
            jwks.status()
                .last_error
                .is_some_and(|e| e.starts_with("request failed"))
        },
        "timeout error",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let server = JwksServer::start(vec![]).await;
    server.set_mode(Mode::Huge);
    let app = JwksApp::new(server.config(), false);
    let jwks = app.state.verifier.jwks().unwrap();
    let error = jwks.refresh_now().await.err().map(|e| e.to_string());
    assert_eq!(error.as_deref(), Some("response larger than 262144 bytes"));
    assert!(!jwks.status().ready);
}

#[tokio::test]
async fn redirects_to_another_host_are_not_followed() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("k")]).await;
    let other = JwksServer::start(vec![ec.jwk("k")]).await;
    server.set_mode(Mode::RedirectTo(format!(
        "http://localhost:{}/auth/v1/.well-known/jwks.json",
        other.port
    )));
    let app = JwksApp::new(server.config(), false);
    let jwks = app.state.verifier.jwks().unwrap();
    let error = jwks.refresh_now().await.err().map(|e| e.to_string());
    assert_eq!(error.as_deref(), Some("unexpected status 302"));
    assert_eq!(other.hits(), 0);
}

#[tokio::test]
async fn asymmetric_tokens_need_a_kid_and_the_keys_own_algorithm() {
    let (ec, rsa, ed) = (SigningKey::es256(), SigningKey::rs256(), SigningKey::ed25519());
    let server = JwksServer::start(vec![ec.jwk("ec"), rsa.jwk("rsa"), ed.jwk("ed")]).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    let no_kid = ec.sign_with_header(&user(), json!({"alg": "ES256", "typ": "JWT"}));
    me(&app, &no_kid)
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID, "token has no kid");
    // A token naming the RSA key but claiming ES256 (and the reverse, and EdDSA) is refused.
    for (key, kid) in [(&ec, "rsa"), (&rsa, "ec"), (&ed, "ec"), (&ec, "ed")] {
        me(&app, &key.sign(&user(), kid)).await.assert_bearer_error(
            StatusCode::UNAUTHORIZED,
            INVALID,
            "algorithm does not match the key",
        );
    }
    // Right kid and alg, wrong key.
    let impostor = SigningKey::es256();
    me(&app, &impostor.sign(&user(), "ec")).await.assert_bearer_error(
        StatusCode::UNAUTHORIZED,
        INVALID,
        "invalid signature",
    );
}

#[tokio::test]
async fn hs256_signed_with_public_key_bytes_is_rejected() {
    let ec = SigningKey::es256();
    let jwk = ec.jwk("ec");
    let server = JwksServer::start(vec![jwk.clone()]).await;
    let point = match &ec {
        SigningKey::Es256(k) => aws_lc_rs::signature::KeyPair::public_key(k).as_ref().to_vec(),
        _ => unreachable!(),
    };
    let pem_like = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        b64(&point)
    );
    let candidates: Vec<Vec<u8>> = vec![point.clone(), pem_like.into_bytes(), jwk.to_string().into_bytes()];
    for with_secret in [true, false] {
        let app = JwksApp::new(server.config(), with_secret);
        app.ready().await;
        let expected = if with_secret {
            "invalid signature"
        } else {
            "algorithm not allowed"
        };
        for key_bytes in &candidates {
            let token = user().kid("ec").sign(key_bytes).unwrap();
            me(&app, &token)
                .await
                .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID, expected);
        }
    }
}

#[tokio::test]
async fn an_oct_key_in_the_jwks_is_never_used() {
    let shared = b"an-hmac-key-published-in-the-jwks-for-anyone";
    let ec = SigningKey::es256();
    let oct = json!({"kty": "oct", "kid": "hmac", "alg": "HS256", "k": b64(shared), "key_ops": ["verify"]});
    let server = JwksServer::start(vec![ec.jwk("ec"), oct]).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    assert_eq!(app.state.verifier.jwks().unwrap().status().keys, 1);
    let token = user().kid("hmac").sign(shared).unwrap();
    me(&app, &token)
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID, "algorithm not allowed");
    let relabelled = ec.sign_with_header(&user(), json!({"alg": "ES256", "kid": "hmac"}));
    me(&app, &relabelled)
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID, "unknown signing key");
}

#[tokio::test]
async fn psychic_signatures_are_rejected() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("ec")]).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": "ec"});
    let message = signing_input(&user(), &header);
    // CVE-2022-21449: r = s = 0 must never verify.
    for signature in [vec![0u8; 64], vec![], vec![0u8; 32]] {
        let token = format!("{message}.{}", b64(&signature));
        me(&app, &token)
            .await
            .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID, "invalid signature");
    }
}

#[tokio::test]
async fn sighup_refetches_the_jwks_in_the_real_binary() {
    let ec = SigningKey::es256();
    let server = JwksServer::start(vec![ec.jwk("k")]).await;
    let dir = std::env::temp_dir().join(format!("asa-hup-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_axum-supabase-auth"))
        .arg("serve")
        .env_clear()
        .env("SUPABASE_URL", "https://test.supabase.co")
        .env("SUPABASE_JWKS_URL", &server.url)
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .current_dir(&dir)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for(|| server.hits() == 1, "the startup fetch").await;
    let pid = child.id().unwrap().to_string();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for(|| server.hits() == 2, "the SIGHUP refetch").await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "graceful exit: {status:?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// SIGHUP right after a key is revoked: a fetch already on its way carries
/// the revoked key, so the purge must wait for a fetch of its own.
#[tokio::test]
async fn a_purge_waits_for_a_fetch_that_started_after_it() {
    let (kept, revoked) = (SigningKey::es256(), SigningKey::es256());
    let server = JwksServer::start(vec![kept.jwk("kept"), revoked.jwk("revoked")]).await;
    let app = JwksApp::new(server.config(), false);
    app.ready().await;
    let token = revoked.sign(&user(), "revoked");
    assert_eq!(me(&app, &token).await.status, StatusCode::OK);
    let jwks = app.state.verifier.jwks().unwrap().clone();
    // A fetch is in flight, with both keys in its answer...
    server.set_mode(Mode::Slow(Duration::from_millis(500)));
    let hits = server.hits();
    let in_flight = tokio::spawn({
        let jwks = jwks.clone();
        async move { jwks.refresh_now().await }
    });
    wait_for(|| server.hits() > hits, "the slow fetch to arrive").await;
    // ...when the key is revoked, and the purge is asked for.
    server.set_keys(vec![kept.jwk("kept")]);
    server.set_mode(Mode::Normal);
    assert!(jwks.refresh_now().await.is_ok());
    assert!(in_flight.await.unwrap().is_ok());
    assert_eq!(server.hits(), hits + 2, "the purge made a fetch of its own");
    me(&app, &token)
        .await
        .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID, "unknown signing key");
    assert_eq!(me(&app, &kept.sign(&user(), "kept")).await.status, StatusCode::OK);
    // A purge whose own fetch fails says so.
    server.set_mode(Mode::Down);
    assert!(jwks.refresh_now().await.is_err());
}

/// One verifier used from two runtimes, one after the other (a `block_on`
/// at startup, then the server's): the refresher that died with the first
/// starts again on the second, so the keys never go stale.
#[test]
fn the_background_refresh_survives_the_runtime_it_started_on() {
    // The JWKS server has a runtime of its own, on its own thread.
    let (tx, rx) = std::sync::mpsc::channel();
    let keeper = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let key = SigningKey::es256();
            let server = JwksServer::start(vec![key.jwk("k")]).await;
            tx.send((server.config(), key.sign(&user(), "k"), server.url.clone()))
                .unwrap();
            // Serve until the test drops its end.
            let _server = server;
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
    });
    let (mut config, token, _) = rx.recv().unwrap();
    config.min_refresh = Duration::from_millis(50);
    config.max_refresh = Duration::from_millis(100);
    config.max_stale = Duration::from_secs(1);
    let mut builder = axum_supabase::SupabaseAuth::builder();
    builder
        .project_url("https://test.supabase.co")
        .without_jwt_secret();
    config.apply(&mut builder);
    let auth = builder.build().unwrap();
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    runtime().block_on(async {
        auth.start();
        wait_for(|| auth.jwks().unwrap().status().ready, "the first fetch").await;
        assert!(auth.verify(&token).await.is_ok());
    });
    let fetched = auth.jwks().unwrap().status().fetches;
    runtime().block_on(async {
        assert!(auth.verify(&token).await.is_ok());
        // Well past max_stale: only a live refresher keeps the keys usable.
        let until = Instant::now() + Duration::from_millis(2500);
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(auth.verify(&token).await.is_ok(), "keys went stale");
        }
    });
    assert!(auth.jwks().unwrap().status().fetches >= fetched + 5);
    drop(keeper);
}

/// Preloaded keys are static: never stale, never refetched, and an unknown
/// kid is refused without a fetch.
#[tokio::test]
async fn preloaded_keys_never_go_stale_and_are_never_refetched() {
    let (key, other) = (SigningKey::es256(), SigningKey::es256());
    let server = JwksServer::start(vec![]).await;
    let mut config = server.config();
    config.min_refresh = Duration::from_millis(50);
    config.max_refresh = Duration::from_millis(50);
    config.cooldown = Duration::from_millis(50);
    config.max_stale = Duration::from_secs(1);
    let app = JwksApp::new(config, false);
    app.ready().await;
    let jwks = app.state.verifier.jwks().unwrap();
    let body = json!({ "keys": [key.jwk("static")] }).to_string();
    assert_eq!(jwks.preload(body.as_bytes()).unwrap(), 1);
    let hits = server.hits();
    let token = key.sign(&user(), "static");
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert_eq!(me(&app, &token).await.status, StatusCode::OK);
        me(&app, &other.sign(&user(), "unknown"))
            .await
            .assert_bearer_error(StatusCode::UNAUTHORIZED, INVALID, "unknown signing key");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(jwks.status().ready);
    assert!(
        server.hits() <= hits + 1,
        "fetched after the preload: {} more",
        server.hits() - hits
    );
    assert!(jwks.refresh_now().await.is_ok());
    assert!(server.hits() <= hits + 1);
}
