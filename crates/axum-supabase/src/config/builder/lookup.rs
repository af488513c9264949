//! The builder read from the environment: each variable parsed into its
//! setting, the secrets from `<NAME>_FILE` too. The rules are `build`'s.

use std::time::Duration;

use secrecy::SecretString;

use super::{JwksSource, Origins, SupabaseAuthBuilder};
use crate::config::env::Env;
use crate::config::settings::{BuildError, Reason, Setting};

impl SupabaseAuthBuilder {
    /// A builder from the process environment: `SUPABASE_URL`,
    /// `SUPABASE_JWT_SECRET`, `SUPABASE_JWKS_URL` (`off` disables),
    /// `JWKS_MAX_STALE_SECS`, `JWT_ISSUER` and `JWT_AUDIENCE` (comma-separated
    /// lists), `JWT_LEEWAY_SECS`, `JWT_CACHE_SIZE`, and the secret API keys
    /// `SUPABASE_SECRET_KEYS` (a JSON object of names to keys) or
    /// `SUPABASE_SECRET_KEY` (one key, named `default`). The secrets also
    /// come from the file a `<NAME>_FILE` variable names. Unset or blank
    /// variables keep the defaults. Values are parsed here; the rules are
    /// checked by `build`, whose errors name the variables.
    pub fn from_env() -> Result<Self, BuildError> {
        Self::from_lookup(crate::config::env::process)
    }

    /// As [`from_env`](Self::from_env), reading through `lookup`, so that
    /// tests and applications with their own sources never touch the process
    /// environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, BuildError> {
        let env = Env::new(&lookup);
        let mut b = Self {
            origins: Origins::env(),
            ..Self::default()
        };
        if let Some(url) = env.setting(Setting::ProjectUrl) {
            b.project_url = Some(url);
            b.origins.read(Setting::ProjectUrl);
        }
        if let Some(secret) = env.setting_secret(Setting::JwtSecret)? {
            b.jwt_secret = Some(SecretString::from(secret));
            b.origins.read(Setting::JwtSecret);
        }
        let (keys, single) = (
            env.secret("SUPABASE_SECRET_KEYS")?,
            env.secret("SUPABASE_SECRET_KEY")?,
        );
        match (keys, single) {
            (Some(_), Some(_)) => {
                return Err(BuildError::env(
                    Setting::SecretKeys,
                    Reason::Rule("is set, and so is SUPABASE_SECRET_KEY: set one of them"),
                ));
            }
            (Some(json), None) => {
                b.secret_keys =
                    parse_secret_keys(&json).map_err(|r| BuildError::env(Setting::SecretKeys, r))?;
                b.secret_keys_var = Some("SUPABASE_SECRET_KEYS");
                b.origins.read(Setting::SecretKeys);
            }
            (None, Some(key)) => {
                b.secret_keys = vec![("default".to_owned(), SecretString::from(key))];
                b.secret_keys_var = Some("SUPABASE_SECRET_KEY");
                b.origins.read(Setting::SecretKeys);
            }
            (None, None) => {}
        }
        if let Some(url) = env.setting(Setting::JwksUrl) {
            b.jwks = if url.eq_ignore_ascii_case("off") {
                JwksSource::Off
            } else {
                JwksSource::Url(url)
            };
            b.origins.read(Setting::JwksUrl);
        }
        if let Some(secs) = env.setting_number(Setting::JwksMaxStale)? {
            b.jwks_max_stale = Duration::from_secs(secs);
            b.origins.read(Setting::JwksMaxStale);
        }
        for (setting, field) in [
            (Setting::Issuers, &mut b.issuers),
            (Setting::Audiences, &mut b.audiences),
        ] {
            if let Some(list) = setting.env_var().and_then(|var| env.list(var)) {
                if list.is_empty() {
                    return Err(BuildError::env(
                        setting,
                        Reason::Rule("must list at least one value"),
                    ));
                }
                *field = list;
                b.origins.read(setting);
            }
        }
        if let Some(secs) = env.setting_number(Setting::Leeway)? {
            b.leeway = Duration::from_secs(secs);
            b.origins.read(Setting::Leeway);
        }
        if let Some(entries) = env.setting_number(Setting::CacheSize)? {
            b.cache_size = usize::try_from(entries).unwrap_or(usize::MAX);
            b.origins.read(Setting::CacheSize);
        }
        Ok(b)
    }
}

/// `SUPABASE_SECRET_KEYS`: a JSON object of names to keys, as
/// `@supabase/server` reads it. The reason never quotes the value.
fn parse_secret_keys(json: &str) -> Result<Vec<(String, SecretString)>, Reason> {
    /// Every entry, in the order given: a map would keep one of two keys of
    /// the same name silently, and `ServiceKeys::new` must see both.
    struct Entries(Vec<(String, SecretString)>);

    impl<'de> serde::Deserialize<'de> for Entries {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Entries;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object of strings")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                    let mut entries = Vec::new();
                    while let Some((name, key)) = map.next_entry::<String, String>()? {
                        entries.push((name, SecretString::from(key)));
                    }
                    Ok(Entries(entries))
                }
            }
            d.deserialize_map(Visitor)
        }
    }

    // serde_json's message could quote the JSON, keys and all: it is dropped.
    serde_json::from_str::<Entries>(json).map(|e| e.0).map_err(|_| {
        Reason::Rule(
            "must be a JSON object of names to sb_secret_ keys, like {\"default\":\"sb_secret_...\"}",
        )
    })
}
