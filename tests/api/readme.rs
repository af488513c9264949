//! The README is a contract: the variables the configuration reads are the
//! ones its table and `.env.example` list, and the metrics `/metrics` shows
//! after a mixed run are the ones its operations section names.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum_supabase_auth::config::Config;
use serde_json::json;

const README: &str = include_str!("../../README.md");
const ENV_EXAMPLE: &str = include_str!("../../.env.example");

/// The section of the README under `heading`, up to the next heading of its level or above.
fn section(heading: &str) -> &'static str {
    let start = README
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading} in the README"));
    let level = heading.chars().take_while(|c| *c == '#').count();
    let body = &README[start + heading.len()..];
    let end = body
        .match_indices("\n#")
        .find(|(i, _)| body[i + 1..].chars().take_while(|c| *c == '#').count() <= level)
        .map_or(body.len(), |(i, _)| i);
    &body[..end]
}

/// Every name the server's configuration asks its lookup for, in every mode
/// that reads more: so the list comes from the configuration code itself.
fn variables_read() -> BTreeSet<String> {
    let read = RefCell::new(BTreeSet::new());
    let secret = crate::helpers::random_secret();
    let full = [
        ("SUPABASE_URL", "https://abc.supabase.co"),
        ("SUPABASE_JWT_SECRET", secret.as_str()),
        (
            "DATABASE_URL",
            "postgresql://authenticator@127.0.0.1:5432/postgres",
        ),
        ("SESSION_COOKIES", "on"),
        ("SUPABASE_PUBLISHABLE_KEY", "sb_publishable_x"),
    ];
    for dev in [false, true] {
        // The legacy key is read only when the publishable one is missing.
        for skip in [None, Some("SUPABASE_PUBLISHABLE_KEY")] {
            let lookup = |name: &str| {
                read.borrow_mut().insert(name.to_owned());
                full.iter()
                    .find(|(k, _)| *k == name && Some(*k) != skip)
                    .map(|(_, v)| (*v).to_owned())
            };
            let _ = Config::from_lookup(dev, lookup);
        }
    }
    let _ = axum_supabase_auth::config::bind_addr_from_lookup(|name| {
        read.borrow_mut().insert(name.to_owned());
        None
    });
    read.into_inner()
}

/// The `VARIABLE`s of a markdown table's second column ("| part | `VAR` | …").
fn table_variables(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|line| line.strip_prefix('|')?.split('|').nth(1))
        .filter_map(|cell| cell.trim().strip_prefix('`')?.strip_suffix('`'))
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

fn env_example_variables() -> BTreeSet<String> {
    ENV_EXAMPLE
        .lines()
        .filter_map(|line| line.trim_start_matches(['#', ' ']).split_once('='))
        .map(|(name, _)| name)
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_variable_read_is_documented_and_every_documented_one_is_read() {
    let read = variables_read();
    assert!(
        read.contains("SUPABASE_URL") && read.contains("SESSION_MAX_REFRESHES"),
        "{read:?}"
    );
    let table = table_variables(section("## Configuration"));
    let example = env_example_variables();
    for (what, listed) in [
        ("the README's configuration table", &table),
        (".env.example", &example),
    ] {
        let missing: Vec<_> = read.difference(listed).collect();
        let unread: Vec<_> = listed.difference(&read).collect();
        assert!(missing.is_empty(), "read but not in {what}: {missing:?}");
        assert!(unread.is_empty(), "in {what} but read by nothing: {unread:?}");
    }
}

#[test]
fn copying_env_example_sets_nothing() {
    let set: Vec<&str> = ENV_EXAMPLE
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .collect();
    assert!(set.is_empty(), ".env.example sets {set:?}");
}

/// Each commented example, uncommented as a user would, means what it shows
/// once dotenvy has read it: a JSON value keeps its quotes.
#[test]
fn each_example_line_uncommented_reads_as_written() {
    for line in ENV_EXAMPLE.lines() {
        let Some(assignment) = line.strip_prefix("# ") else {
            continue;
        };
        let Some((name, raw)) = assignment.split_once('=') else {
            continue;
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        let read: Vec<(String, String)> = dotenvy::from_read_iter(assignment.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        let shown = raw
            .strip_prefix('\'')
            .and_then(|r| r.strip_suffix('\''))
            .unwrap_or(raw);
        assert_eq!(read, vec![(name.to_owned(), shown.to_owned())], "{line}");
        if name == "SUPABASE_SECRET_KEYS" {
            assert!(serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&read[0].1).is_ok());
        }
    }
}

/// Metric names and label names in `/metrics` text.
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let series = l.split(' ').next().unwrap_or("");
            let (name, labels) = series.split_once('{').unwrap_or((series, ""));
            // A histogram's series carry suffixes; the README names the histogram.
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(name);
            let keys = labels
                .trim_end_matches('}')
                .split(',')
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
                .filter(|k| *k != "le" && *k != "quantile");
            metric(name, keys)
        })
        .collect()
}

/// `name`, or `name{a,b}` with the label names sorted: how both sides are compared.
fn metric<'a>(name: &str, labels: impl Iterator<Item = &'a str>) -> String {
    let mut keys: Vec<&str> = labels.collect();
    keys.sort_unstable();
    if keys.is_empty() {
        name.to_owned()
    } else {
        format!("{name}{{{}}}", keys.join(","))
    }
}

/// The metrics the README's operations section names, as `name` or `name{label,…}`.
fn documented_metrics() -> BTreeSet<String> {
    let text = section("### Health, readiness, metrics");
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|t| {
            t.contains('_')
                && t.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && t.chars().all(|c| c.is_ascii_lowercase() || "_{},".contains(c))
                && (t.ends_with("_total")
                    || t.ends_with("_seconds")
                    || t.contains('{')
                    || t.starts_with("jwks_"))
        })
        .map(|t| {
            let (name, labels) = t.split_once('{').unwrap_or((t, ""));
            metric(
                name,
                labels.trim_end_matches('}').split(',').filter(|k| !k.is_empty()),
            )
        })
        .collect()
}

/// The `outcome` values of `auth_outcomes_total` that `/metrics` shows.
fn outcomes(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("auth_outcomes_total{outcome=\"")?
                .split('"')
                .next()
        })
        .map(str::to_owned)
        .collect()
}

/// A run that makes every metric appear: tokens good and bad, a JWKS, a
/// cookie refresh, a shed request, the metrics endpoint, and connections
/// closed for silence, idleness and the cap.
#[test]
fn the_metrics_exposed_are_the_metrics_documented() {
    use crate::cookie_support::*;
    use crate::jwks_support::{JwksServer, SigningKey, user, wait_for};
    let text = crate::ops::with_own_recorder(async {
        let key = SigningKey::es256();
        let jwks = JwksServer::start(vec![key.jwk("k")]).await;
        let secret = crate::helpers::random_secret();
        let gotrue = GoTrue::new(secret.as_bytes(), API_KEY);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = gotrue.serve(listener).await.unwrap();
        let (app, state) = app_and_state(
            &url,
            &secret,
            |_| {},
            |c| {
                jwks.config().apply(&mut c.auth);
                c.auth
                    .issuers([crate::helpers::ISSUER, &format!("{url}/auth/v1")]);
                c.max_in_flight = 1;
            },
        );
        wait_for(|| state.verifier.jwks().unwrap().status().ready, "the JWKS").await;
        assert_eq!(
            app.get_bearer("/api/me", &key.sign(&user(), "k")).await.status,
            StatusCode::OK
        );
        app.get_bearer("/api/me", &app.sign(app.token().expires_in(-3600)))
            .await;
        app.get("/api/me").await;
        app.get_bearer("/api/admin", &app.valid_token()).await;
        // A refresh that takes a while holds the one request slot: a second request is shed.
        gotrue.set(|k| {
            k.sign_in_expires_in = -120;
            k.delay_ms = 300;
        });
        let cookie = cookie_header(&gotrue.sign_in("ada@example.com", json!({})));
        let slow = app.request(request(Method::GET, "/api/me", &cookie, &[]));
        let shed = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            app.get("/api/greeting").await
        };
        let (slow, shed) = tokio::join!(slow, shed);
        assert_eq!(
            (slow.status, shed.status),
            (StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE)
        );
        assert_eq!(app.get("/metrics").await.status, StatusCode::OK);
        connections_closed().await;
    });
    let exposed = exposed(&text);
    let documented = documented_metrics();
    assert!(
        documented.contains("http_requests_total{route,status}"),
        "{documented:?}"
    );
    let undocumented: Vec<_> = exposed.difference(&documented).collect();
    let absent: Vec<_> = documented.difference(&exposed).collect();
    assert!(
        undocumented.is_empty(),
        "exposed but not in the README: {undocumented:?}\n{text}"
    );
    assert!(
        absent.is_empty(),
        "in the README but not exposed by a mixed run: {absent:?}\n{text}"
    );
    let said = section("### Health, readiness, metrics");
    for outcome in outcomes(&text) {
        assert!(
            said.contains(&format!("`{outcome}`")),
            "outcome {outcome} is not in the README"
        );
    }
}

/// Connections the accept loop closes: one silent, one idle, one over the cap.
async fn connections_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = axum_supabase_auth::ServeOptions {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(200),
        max_connections: 2,
        ..Default::default()
    };
    tokio::spawn(
        async move { axum_supabase_auth::serve(listener, app, std::future::pending(), &options).await },
    );
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut over = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 256];
    for stream in [&mut over, &mut silent, &mut idle] {
        // Each is closed by the server: read to the end, bounded.
        let _ = tokio::time::timeout(Duration::from_secs(3), async {
            while stream.read(&mut buf).await.is_ok_and(|n| n > 0) {}
        })
        .await;
    }
}
