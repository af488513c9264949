//! Reading settings from the environment: one reader for every part of the
//! library (and for the application's own variables), so that a number, a
//! flag or a list means the same thing wherever it is read.

use std::path::Path;

use super::settings::{Bounds, BuildError, Reason, Setting};

/// The secret variables, each of which may instead name a file in
/// `<NAME>_FILE` (Docker and Kubernetes secrets), as the official Postgres
/// image reads its own; and the setting each belongs to.
pub const SECRET_VARIABLES: &[(&str, &str, Setting)] = &[
    (
        "SUPABASE_JWT_SECRET",
        "SUPABASE_JWT_SECRET_FILE",
        Setting::JwtSecret,
    ),
    ("DATABASE_URL", "DATABASE_URL_FILE", Setting::DatabaseUrl),
    (
        "SUPABASE_PUBLISHABLE_KEY",
        "SUPABASE_PUBLISHABLE_KEY_FILE",
        Setting::ApiKey,
    ),
    ("SUPABASE_ANON_KEY", "SUPABASE_ANON_KEY_FILE", Setting::ApiKey),
    (
        "SUPABASE_SECRET_KEYS",
        "SUPABASE_SECRET_KEYS_FILE",
        Setting::SecretKeys,
    ),
    (
        "SUPABASE_SECRET_KEY",
        "SUPABASE_SECRET_KEY_FILE",
        Setting::SecretKeys,
    ),
];

/// The words a flag takes.
const FLAG: &[&str] = &["on", "off"];

/// Variables read through a lookup: the process environment
/// ([`Env::process`]) or any other source (a test's map, a secret store).
///
/// ```
/// use axum_supabase::{Bounds, Env, Reason, Unit};
///
/// let lookup = |name: &str| (name == "WORKERS").then(|| " 8 ".to_owned());
/// let env = Env::new(&lookup);
/// assert_eq!(env.number("WORKERS", Bounds::new(1, 64, Unit::Count)), Ok(Some(8)));
/// assert_eq!(env.flag("VERBOSE"), Ok(None));
/// ```
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl std::fmt::Debug for Env<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

/// The process environment, as a lookup.
pub(crate) fn process(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl<'a> Env<'a> {
    /// Variables through `lookup`.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The process environment.
    pub fn process() -> Env<'static> {
        Env { lookup: &process }
    }

    /// The variable, trimmed; `None` when it is unset or blank.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A secret: the variable `name`, or the content of the file its
    /// `<NAME>_FILE` twin names, less one trailing newline; `None` when
    /// neither is set. Both set, an unreadable file or an empty one is an
    /// error that names the variables and the path, never the content. A
    /// name outside [`SECRET_VARIABLES`] reads as [`var`](Self::var).
    pub fn secret(&self, name: &str) -> Result<Option<String>, BuildError> {
        let Some(&(var, file_var, setting)) = SECRET_VARIABLES.iter().find(|(v, ..)| *v == name) else {
            return Ok(self.var(name));
        };
        let Some(path) = self.var(file_var) else {
            return Ok(self.var(var));
        };
        if self.var(var).is_some() {
            return Err(BuildError::var(setting, var, Reason::BothSet));
        }
        let path = Path::new(&path);
        let unreadable = |kind| BuildError::var(setting, file_var, Reason::Unreadable(kind)).with_file(path);
        let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.kind()))?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        if text.is_empty() {
            return Err(
                BuildError::var(setting, file_var, Reason::Rule("names an empty file")).with_file(path),
            );
        }
        Ok(Some(text.to_owned()))
    }

    /// A whole number within `bounds`; `None` when unset.
    pub fn number(&self, name: &str, bounds: Bounds) -> Result<Option<u64>, Reason> {
        self.var(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| Reason::OutOfRange(bounds))
                    .and_then(|n| bounds.check(n))
            })
            .transpose()
    }

    /// `on`/`true` or `off`/`false`; `None` when unset.
    pub fn flag(&self, name: &str) -> Result<Option<bool>, Reason> {
        match self.var(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => Ok(None),
            Some("on" | "true") => Ok(Some(true)),
            Some("off" | "false") => Ok(Some(false)),
            Some(_) => Err(Reason::NotOneOf(FLAG)),
        }
    }

    /// One of `words`; `None` when unset.
    pub fn choice(&self, name: &str, words: &'static [&'static str]) -> Result<Option<&'static str>, Reason> {
        match self.var(name) {
            None => Ok(None),
            Some(v) => words
                .iter()
                .find(|w| w.eq_ignore_ascii_case(&v))
                .copied()
                .map(Some)
                .ok_or(Reason::NotOneOf(words)),
        }
    }

    /// A comma-separated list, each item trimmed and empty ones dropped;
    /// `None` when unset.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.var(name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
    }

    /// A setting's variable (a library setting always has one here).
    pub(crate) fn setting(&self, setting: Setting) -> Option<String> {
        self.var(setting.env_var()?)
    }

    /// A secret setting's variable, or its `_FILE`.
    pub(crate) fn setting_secret(&self, setting: Setting) -> Result<Option<String>, BuildError> {
        match setting.env_var() {
            Some(name) => self.secret(name),
            None => Ok(None),
        }
    }

    /// A numeric setting, within its own bounds.
    pub(crate) fn setting_number(&self, setting: Setting) -> Result<Option<u64>, BuildError> {
        let (Some(name), Some(bounds)) = (setting.env_var(), setting.bounds()) else {
            return Ok(None);
        };
        self.number(name, bounds).map_err(|r| BuildError::env(setting, r))
    }

    /// A flag setting.
    #[cfg(feature = "cookies")]
    pub(crate) fn setting_flag(&self, setting: Setting) -> Result<Option<bool>, BuildError> {
        let Some(name) = setting.env_var() else {
            return Ok(None);
        };
        self.flag(name).map_err(|r| BuildError::env(setting, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::settings::Unit;

    #[test]
    fn a_secret_comes_from_its_variable_or_its_file_never_both() {
        let dir = std::env::temp_dir().join(format!("asb-secret-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join("jwt");
        let _ = std::fs::write(&file, "from-the-file \n\n");
        let empty = dir.join("empty");
        let _ = std::fs::write(&empty, "\n");
        let path = file.display().to_string();
        let read = |pairs: Vec<(&'static str, String)>| {
            let lookup = move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
            Env::new(&lookup).secret("SUPABASE_JWT_SECRET")
        };
        // One trailing newline goes; the rest of the content stays as it is.
        assert_eq!(
            read(vec![("SUPABASE_JWT_SECRET_FILE", path.clone())]),
            Ok(Some("from-the-file \n".to_owned()))
        );
        assert_eq!(
            read(vec![("SUPABASE_JWT_SECRET", " v ".to_owned())]),
            Ok(Some("v".to_owned()))
        );
        assert_eq!(read(vec![]), Ok(None));
        let both = read(vec![
            ("SUPABASE_JWT_SECRET", "v".to_owned()),
            ("SUPABASE_JWT_SECRET_FILE", path.clone()),
        ]);
        assert_eq!(
            both.map_err(|e| e.to_string()),
            Err("SUPABASE_JWT_SECRET and SUPABASE_JWT_SECRET_FILE are both set; set one of them".to_owned())
        );
        let missing = dir.join("missing");
        let unreadable = read(vec![("SUPABASE_JWT_SECRET_FILE", missing.display().to_string())]).err();
        assert_eq!(
            unreadable.as_ref().and_then(BuildError::variable),
            Some("SUPABASE_JWT_SECRET_FILE")
        );
        assert_eq!(
            unreadable.as_ref().and_then(BuildError::file),
            Some(missing.as_path())
        );
        let text = unreadable.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.starts_with(&format!(
                "SUPABASE_JWT_SECRET_FILE names {}, which cannot be read",
                missing.display()
            )),
            "{text}"
        );
        let blank = read(vec![("SUPABASE_JWT_SECRET_FILE", empty.display().to_string())]).err();
        assert_eq!(
            blank.as_ref().map(|e| e.reason()),
            Some(Reason::Rule("names an empty file"))
        );
        assert_eq!(
            blank.map(|e| e.to_string()),
            Some(format!(
                "SUPABASE_JWT_SECRET_FILE is invalid: names an empty file ({})",
                empty.display()
            ))
        );
        // Not a secret: no _FILE.
        let lookup = |name: &str| (name == "RUST_LOG_FILE").then(|| path.clone());
        assert_eq!(Env::new(&lookup).secret("RUST_LOG"), Ok(None));
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn with(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn one_meaning_for_numbers_flags_words_and_lists() {
        let lookup = with(&[
            ("N", "42"),
            ("BIG", "99999"),
            ("NEG", "-1"),
            ("ON", "ON"),
            ("OFF", "false"),
            ("BAD", "yes"),
            ("LIST", " a, ,b "),
            ("BLANK", "  "),
            ("MODE", "db"),
        ]);
        let env = Env::new(&lookup);
        let bounds = Bounds::new(1, 100, Unit::Count);
        assert_eq!(env.number("N", bounds), Ok(Some(42)));
        assert_eq!(env.number("BIG", bounds), Err(Reason::OutOfRange(bounds)));
        assert_eq!(env.number("NEG", bounds), Err(Reason::OutOfRange(bounds)));
        assert_eq!(env.number("UNSET", bounds), Ok(None));
        assert_eq!(env.number("BLANK", bounds), Ok(None));
        assert_eq!(env.flag("ON"), Ok(Some(true)));
        assert_eq!(env.flag("OFF"), Ok(Some(false)));
        assert_eq!(env.flag("BAD"), Err(Reason::NotOneOf(FLAG)));
        assert_eq!(env.list("LIST"), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(env.choice("MODE", &["off", "db"]), Ok(Some("db")));
        assert_eq!(
            env.choice("ON", &["off", "db"]),
            Err(Reason::NotOneOf(&["off", "db"]))
        );
    }
}
