//! Configuration: every refusal names its variable and never shows the secret.

use std::collections::HashMap;

use axum_supabase::{DEV_JWT_SECRET, SupabaseAuth};
use axum_supabase_auth::config::{Config, ConfigError, LogFormat};

/// The verifier a config builds, to read what it will accept.
fn auth(config: &Config) -> SupabaseAuth {
    config.auth.build().unwrap()
}

const SECRET: &str = "a-perfectly-fine-secret-of-forty-bytes!!";

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn base() -> HashMap<String, String> {
    env(&[
        ("SUPABASE_JWT_SECRET", SECRET),
        ("SUPABASE_URL", "https://abc.supabase.co"),
    ])
}

fn load(vars: &HashMap<String, String>, dev: bool) -> Result<Config, ConfigError> {
    Config::from_lookup(dev, |k| vars.get(k).cloned())
}

fn refused(vars: &HashMap<String, String>, dev: bool) -> String {
    let message = load(vars, dev).unwrap_err().to_string();
    assert!(!message.contains(SECRET), "the secret leaked: {message}");
    assert!(
        !message.contains(DEV_JWT_SECRET),
        "the dev secret leaked: {message}"
    );
    message
}

#[test]
fn a_hosted_project_config_derives_the_issuer() {
    let config = load(&base(), false).unwrap();
    assert_eq!(
        auth(&config).issuers(),
        vec!["https://abc.supabase.co/auth/v1".to_owned()]
    );
    assert_eq!(auth(&config).audiences(), ["authenticated"]);
    assert_eq!(auth(&config).leeway_secs(), 30);
    assert_eq!(config.serve.max_header_bytes, 32 * 1024);
    assert_eq!(auth(&config).max_token_len(), 32 * 1024);
    assert_eq!(config.bind_addr.to_string(), "127.0.0.1:3000");
    assert_eq!(config.log_format, LogFormat::Pretty);
    assert!(config.cors_allowed_origins.is_empty());
}

#[test]
fn a_trailing_slash_on_the_url_is_tolerated() {
    let mut vars = base();
    vars.insert("SUPABASE_URL".into(), "https://abc.supabase.co/".into());
    assert_eq!(
        auth(&load(&vars, false).unwrap()).issuers(),
        vec!["https://abc.supabase.co/auth/v1".to_owned()]
    );
}

#[test]
fn overrides_are_read() {
    let mut vars = base();
    vars.extend(env(&[
        (
            "JWT_ISSUER",
            "https://auth.example.com/auth/v1, https://abc.supabase.co/auth/v1",
        ),
        ("JWT_AUDIENCE", "my-api, authenticated"),
        ("MAX_HEADER_BYTES", "65536"),
        ("JWT_LEEWAY_SECS", "5"),
        ("PORT", "8080"),
        (
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com, http://localhost:5173",
        ),
        ("LOG_FORMAT", "json"),
        ("RUST_LOG", "debug,tower_http=info"),
    ]));
    let config = load(&vars, false).unwrap();
    assert_eq!(auth(&config).issuers().len(), 2);
    assert_eq!(auth(&config).audiences(), ["my-api", "authenticated"]);
    assert_eq!(config.serve.max_header_bytes, 65536);
    assert_eq!(
        auth(&config).max_token_len(),
        65536,
        "the token cap follows the header limit"
    );
    assert_eq!(auth(&config).leeway_secs(), 5);
    assert_eq!(config.bind_addr.to_string(), "0.0.0.0:8080");
    assert_eq!(config.cors_allowed_origins.len(), 2);
    assert_eq!(config.log_format, LogFormat::Json);
    vars.insert("BIND_ADDR".into(), "127.0.0.1:4000".into());
    assert_eq!(
        load(&vars, false).unwrap().bind_addr.to_string(),
        "127.0.0.1:4000"
    );
}

#[test]
fn missing_variables_are_named() {
    let mut vars = base();
    vars.remove("SUPABASE_JWT_SECRET");
    vars.insert("SUPABASE_JWKS_URL".into(), "off".into());
    let no_keys =
        "SUPABASE_JWT_SECRET is not set and SUPABASE_JWKS_URL is off: there is no key to verify tokens with";
    assert_eq!(refused(&vars, false), no_keys);
    vars.insert("SUPABASE_JWT_SECRET".into(), "   ".into());
    assert_eq!(refused(&vars, false), no_keys);
    let mut vars = base();
    vars.remove("SUPABASE_URL");
    assert_eq!(refused(&vars, false), "SUPABASE_URL is not set");
}

#[test]
fn a_short_secret_is_refused_without_showing_it() {
    let mut vars = base();
    vars.insert("SUPABASE_JWT_SECRET".into(), "short-but-secret-value".into());
    let message = refused(&vars, false);
    assert_eq!(
        message,
        "SUPABASE_JWT_SECRET is invalid: must be at least 32 bytes"
    );
    assert!(!message.contains("short-but-secret-value"));
}

#[test]
fn malformed_urls_are_refused() {
    for url in [
        "not a url",
        "ftp://abc.supabase.co",
        "abc.supabase.co",
        "https://",
        "https://x.co?a=b",
    ] {
        let mut vars = base();
        vars.insert("SUPABASE_URL".into(), url.into());
        let message = refused(&vars, false);
        assert!(
            message.starts_with("SUPABASE_URL is invalid: "),
            "{url}: {message}"
        );
    }
}

#[test]
fn leeway_out_of_range_is_refused() {
    for leeway in ["-1", "301", "ten", "1.5"] {
        let mut vars = base();
        vars.insert("JWT_LEEWAY_SECS".into(), leeway.into());
        assert_eq!(
            refused(&vars, false),
            "JWT_LEEWAY_SECS is invalid: must be a whole number of seconds from 0 to 300",
            "{leeway}"
        );
    }
}

#[test]
fn other_bad_values_are_named() {
    for (var, value) in [
        ("BIND_ADDR", "localhost"),
        ("PORT", "http"),
        ("CORS_ALLOWED_ORIGINS", "*"),
        ("CORS_ALLOWED_ORIGINS", "https://app.example.com/"),
        ("LOG_FORMAT", "xml"),
        ("RUST_LOG", "debug,[[["),
        ("JWT_ISSUER", " , "),
        ("JWT_AUDIENCE", ","),
        ("MAX_HEADER_BYTES", "4096"),
        ("MAX_HEADER_BYTES", "2000000"),
        ("MAX_HEADER_BYTES", "32k"),
    ] {
        let mut vars = base();
        vars.insert(var.into(), value.into());
        let message = refused(&vars, false);
        assert!(
            message.starts_with(&format!("{var} is invalid")),
            "{var}={value}: {message}"
        );
    }
}

#[test]
fn the_dev_secret_is_refused_on_non_loopback_addresses() {
    for (var, value) in [
        ("BIND_ADDR", "0.0.0.0:3000"),
        ("BIND_ADDR", "[::]:3000"),
        ("PORT", "3000"),
    ] {
        let mut vars = base();
        vars.insert("SUPABASE_JWT_SECRET".into(), DEV_JWT_SECRET.into());
        vars.insert(var.into(), value.into());
        let message = refused(&vars, false);
        assert!(
            message
                .starts_with("SUPABASE_JWT_SECRET is invalid: is the Supabase CLI's well-known local secret"),
            "{message}"
        );
    }
    let mut vars = base();
    vars.insert("SUPABASE_JWT_SECRET".into(), DEV_JWT_SECRET.into());
    assert!(load(&vars, false).is_ok(), "on loopback the CLI secret is fine");
}

#[test]
fn dev_mode_uses_cli_defaults_on_loopback_only() {
    let config = load(&HashMap::new(), true).unwrap();
    assert_eq!(
        auth(&config).issuers(),
        vec!["http://127.0.0.1:54321/auth/v1".to_owned()]
    );
    assert_eq!(config.auth.jwt_secret_bytes(), Some(DEV_JWT_SECRET.as_bytes()));
    assert!(
        auth(&config).jwks().is_none(),
        "dev mode leaves JWKS off unless SUPABASE_JWKS_URL is set"
    );
    assert_eq!(config.bind_addr.to_string(), "127.0.0.1:3000");
    assert!(config.dev_mode);
    assert_eq!(
        load(&env(&[("PORT", "4000")]), true)
            .unwrap()
            .bind_addr
            .to_string(),
        "127.0.0.1:4000"
    );
    let message = refused(&env(&[("BIND_ADDR", "0.0.0.0:3000")]), true);
    assert!(
        message.starts_with("BIND_ADDR is invalid: dev mode only listens on loopback"),
        "{message}"
    );
}

#[test]
fn debug_output_redacts_the_secret() {
    let config = load(&base(), false).unwrap();
    let debug = format!(
        "{config:?} {:?}",
        axum_supabase_auth::state::AppState::new(&config)
    );
    assert!(!debug.contains(SECRET), "{debug}");
    assert!(debug.contains("[redacted]"));
}

#[test]
fn jwks_alone_is_enough_and_both_may_be_set() {
    let vars = env(&[("SUPABASE_URL", "https://abc.supabase.co")]);
    let config = load(&vars, false).unwrap();
    assert!(config.auth.jwt_secret_bytes().is_none());
    assert!(auth(&config).jwks().is_some());
    let both = load(&base(), false).unwrap();
    assert!(both.auth.jwt_secret_bytes().is_some() && auth(&both).jwks().is_some());
}

#[test]
fn jwks_url_may_be_overridden_or_turned_off() {
    let mut vars = base();
    vars.insert("SUPABASE_JWKS_URL".into(), "off".into());
    assert!(auth(&load(&vars, false).unwrap()).jwks().is_none());
    for url in [
        "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json",
        "http://localhost:1/j",
        "http://[::1]:9/j",
    ] {
        vars.insert("SUPABASE_JWKS_URL".into(), url.into());
        assert_eq!(auth(&load(&vars, false).unwrap()).jwks().unwrap().url(), url);
    }
    vars.insert("JWKS_MAX_STALE_SECS".into(), "120".into());
    assert_eq!(
        auth(&load(&vars, false).unwrap())
            .jwks()
            .unwrap()
            .max_stale()
            .as_secs(),
        120
    );
    let dev = load(
        &env(&[(
            "SUPABASE_JWKS_URL",
            "http://127.0.0.1:54321/auth/v1/.well-known/jwks.json",
        )]),
        true,
    )
    .unwrap();
    assert!(auth(&dev).jwks().is_some(), "dev mode uses JWKS when asked to");
}

#[test]
fn plain_http_jwks_to_a_remote_host_is_refused() {
    for (var, value) in [
        (
            "SUPABASE_JWKS_URL",
            "http://abc.supabase.co/auth/v1/.well-known/jwks.json",
        ),
        ("SUPABASE_JWKS_URL", "http://10.0.0.1/jwks.json"),
        ("SUPABASE_JWKS_URL", "ftp://abc.supabase.co/jwks.json"),
        ("SUPABASE_JWKS_URL", "not a url"),
        ("SUPABASE_URL", "http://abc.supabase.co"),
        ("JWKS_MAX_STALE_SECS", "0"),
    ] {
        let mut vars = base();
        vars.insert(var.into(), value.into());
        let message = refused(&vars, false);
        // A JWKS URL derived from SUPABASE_URL is refused as that variable.
        let expected_var = if var == "SUPABASE_JWKS_URL" {
            "SUPABASE_JWKS_URL"
        } else {
            var
        };
        assert!(
            message.starts_with(&format!("{expected_var} is invalid")),
            "{var}={value}: {message}"
        );
    }
}

#[test]
fn the_token_cache_size_is_configurable() {
    assert_eq!(auth(&load(&base(), false).unwrap()).cache_capacity(), 16_384);
    let mut vars = base();
    vars.insert("JWT_CACHE_SIZE".into(), "0".into());
    assert_eq!(auth(&load(&vars, false).unwrap()).cache_capacity(), 0);
    vars.insert("JWT_CACHE_SIZE".into(), "lots".into());
    assert!(refused(&vars, false).starts_with("JWT_CACHE_SIZE is invalid"));
}

#[test]
fn connection_and_in_flight_caps_are_configurable() {
    let config = load(&base(), false).unwrap();
    assert_eq!((config.serve.max_connections, config.max_in_flight), (4096, 1024));
    let mut vars = base();
    vars.insert("MAX_CONNECTIONS".into(), "100".into());
    vars.insert("MAX_IN_FLIGHT".into(), "10".into());
    let config = load(&vars, false).unwrap();
    assert_eq!((config.serve.max_connections, config.max_in_flight), (100, 10));
    for (var, value) in [("MAX_CONNECTIONS", "0"), ("MAX_IN_FLIGHT", "many")] {
        let mut vars = base();
        vars.insert(var.into(), value.into());
        assert!(refused(&vars, false).starts_with(&format!("{var} is invalid")));
    }
}
