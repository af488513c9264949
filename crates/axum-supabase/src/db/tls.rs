//! TLS to Postgres with libpq's meaning of `sslmode` and `sslrootcert`.
//!
//! | `sslmode` | TLS | the certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it, else plain | not checked, unless `sslrootcert` is given (then as `verify-ca`) |
//! | `require` | always, or no connection | the same as `prefer` |
//! | `verify-ca` | always | chains to `sslrootcert`, which it needs |
//! | `verify-full` | always | chains to `sslrootcert`, or to the system roots, and names the host |
//!
//! `sslrootcert=system` takes the system's roots, and as in libpq 16 it
//! makes the default `verify-full`. The system's roots vouch for any host
//! they know, so a check that skips the name never rests on them: `verify-ca`
//! without a root file is refused (libpq looks for `~/.postgresql/root.crt`
//! there, and fails without one). The handshake is rustls with aws-lc-rs,
//! the library's one crypto provider, chosen here and installed nowhere.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode as PgSslMode;

use crate::config::settings::Reason;

/// libpq's `sslmode`: whether the connection uses TLS, and what it checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain text.
    Disable,
    /// TLS when the server offers it, plain text otherwise (libpq's default).
    Prefer,
    /// TLS, or no connection.
    Require,
    /// TLS with a certificate that chains to a trusted root.
    VerifyCa,
    /// TLS with a certificate that chains to a trusted root and names the host.
    VerifyFull,
}

/// The words `sslmode` takes.
const SSL_MODES: &[&str] = &["disable", "prefer", "require", "verify-ca", "verify-full"];

impl SslMode {
    fn parse(word: &str) -> Result<Self, Reason> {
        Ok(match word {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return Err(Reason::NotOneOf(SSL_MODES)),
        })
    }

    /// Its name in a connection string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Where trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RootSource {
    /// None given.
    Unset,
    /// `sslrootcert=system`.
    System,
    /// `sslrootcert=<path>`: PEM certificates.
    File(PathBuf),
}

/// The TLS half of a connection string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsSettings {
    pub(super) mode: SslMode,
    pub(super) roots: RootSource,
}

/// Why the TLS settings were refused.
#[derive(Debug)]
pub(super) enum TlsError {
    /// A fixed phrase.
    Rule(Reason),
    /// `sslrootcert` could not be read.
    Unreadable(PathBuf, std::io::ErrorKind),
}

/// Splits `sslmode` and `sslrootcert` off a `postgresql://` URL's query (the
/// driver knows neither `verify-*` nor `sslrootcert`), percent-decoded as
/// libpq does. A key/value string keeps its own `sslmode` (the driver reads
/// `disable`, `prefer` and `require`); the stricter modes need the URL form.
pub(super) fn split(url: &str) -> Result<(String, TlsSettings), Reason> {
    let is_url = url.starts_with("postgresql://") || url.starts_with("postgres://");
    if !is_url {
        if url.contains("sslrootcert") || url.contains("verify-ca") || url.contains("verify-full") {
            return Err(Reason::Rule(
                "sets sslrootcert or a verify-* sslmode in the key=value form; write it as a URL \
                 (postgresql://user:password@host:port/database?sslmode=verify-full&sslrootcert=...)",
            ));
        }
        return Ok((
            url.to_owned(),
            TlsSettings {
                mode: SslMode::Prefer,
                roots: RootSource::Unset,
            },
        ));
    }
    // As the driver reads it: the user info ends at the first `@`, the query
    // starts at the first `?` after it.
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let host_start = url[after_scheme..]
        .find('@')
        .map_or(after_scheme, |i| after_scheme + i + 1);
    let Some(query_start) = url[host_start..].find('?').map(|i| host_start + i) else {
        return Ok((
            url.to_owned(),
            TlsSettings {
                mode: SslMode::Prefer,
                roots: RootSource::Unset,
            },
        ));
    };
    let (mut mode, mut roots) = (None, RootSource::Unset);
    let mut kept = Vec::new();
    for pair in url[query_start + 1..].split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        match decode(key).as_str() {
            "sslmode" => mode = Some(SslMode::parse(&decode(value))?),
            "sslrootcert" => {
                let value = decode(value);
                roots = match value.as_str() {
                    "" => return Err(Reason::Rule("has an empty sslrootcert")),
                    "system" => RootSource::System,
                    path => RootSource::File(PathBuf::from(path)),
                };
            }
            _ => kept.push(pair),
        }
    }
    let mode = match (mode, &roots) {
        // libpq 16: the system's roots vouch for any host they know, so the name must match.
        (None, RootSource::System) => SslMode::VerifyFull,
        (Some(m), RootSource::System) if m != SslMode::VerifyFull => {
            return Err(Reason::Rule(
                "sets sslrootcert=system, which needs sslmode=verify-full (as in libpq)",
            ));
        }
        (Some(SslMode::VerifyCa), RootSource::Unset) => {
            return Err(Reason::Rule(
                "sets sslmode=verify-ca without sslrootcert: give the CA file, or use verify-full",
            ));
        }
        (m, _) => m.unwrap_or(SslMode::Prefer),
    };
    let mut rest = url[..query_start].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, TlsSettings { mode, roots }))
}

impl TlsSettings {
    /// The settings of a key=value string, whose `sslmode` the driver read.
    pub(super) fn from_driver(mode: PgSslMode) -> Self {
        let mode = match mode {
            PgSslMode::Disable => SslMode::Disable,
            PgSslMode::Require => SslMode::Require,
            _ => SslMode::Prefer,
        };
        Self {
            mode,
            roots: RootSource::Unset,
        }
    }

    /// The driver's mode: it negotiates; the verifier checks.
    pub(super) fn driver_mode(&self) -> PgSslMode {
        match self.mode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            _ => PgSslMode::Require,
        }
    }

    /// The rustls configuration, its roots loaded now: a file that cannot be
    /// read or holds no certificate, or `verify-full` on a system with no
    /// roots, is refused before the server starts. `disable` reads no file,
    /// as in libpq.
    pub(super) fn client_config(&self) -> Result<ClientConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let roots = match (&self.roots, self.mode) {
            (_, SslMode::Disable) => None,
            // `split` refuses verify-ca without a file already; refused here too, should a caller skip it.
            (RootSource::Unset, SslMode::VerifyCa) => {
                return Err(TlsError::Rule(Reason::Rule(
                    "sets sslmode=verify-ca without sslrootcert: give the CA file, or use verify-full",
                )));
            }
            (RootSource::Unset, SslMode::VerifyFull) | (RootSource::System, _) => Some(system_roots()?),
            (RootSource::Unset, _) => None,
            (RootSource::File(path), _) => Some(file_roots(path)?),
        };
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|_| TlsError::Rule(Reason::Rule("no TLS version is available")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, roots) {
            // Disable never shakes hands; prefer and require check nothing without a root.
            (_, None) => Arc::new(AnyCertificate(provider)),
            (mode, Some(roots)) => {
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|_| TlsError::Rule(Reason::Rule("has an sslrootcert that rustls cannot use")))?;
                if mode == SslMode::VerifyFull {
                    webpki
                } else {
                    // libpq's verify-ca, and require or prefer with a root given.
                    Arc::new(ChainOnly(webpki))
                }
            }
        };
        Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }
}

fn file_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let text = std::fs::read(path).map_err(|e| TlsError::Unreadable(path.to_owned(), e.kind()))?;
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&text) {
        let cert = cert
            .map_err(|_| TlsError::Rule(Reason::Rule("has an sslrootcert that is not PEM certificates")))?;
        store.add(cert).map_err(|_| {
            TlsError::Rule(Reason::Rule(
                "has an sslrootcert with a certificate rustls cannot use",
            ))
        })?;
    }
    if store.is_empty() {
        return Err(TlsError::Rule(Reason::Rule(
            "has an sslrootcert that holds no certificate",
        )));
    }
    Ok(store)
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    // Certificates the system lists but rustls cannot parse are skipped, as browsers do.
    let (_, _) = store.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if store.is_empty() {
        return Err(TlsError::Rule(Reason::Rule(
            "needs root certificates and the system has none: set sslrootcert to the CA file",
        )));
    }
    Ok(store)
}

/// `prefer` and `require` without a root, as in libpq: TLS against eavesdroppers,
/// no check of who answers. The handshake's signatures are still verified.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// libpq's `verify-ca`: the whole webpki check but the host name. webpki
/// checks the name only after the chain, so a name error means the chain held.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Whether a connection error is a TLS failure: a handshake that failed, or
/// a server without TLS where TLS is required. The driver's error has no
/// public kind; its message starts with this.
pub(super) fn is_tls_failure(e: &tokio_postgres::Error) -> bool {
    e.to_string().starts_with("error performing TLS handshake")
}

/// Whether the server answered the TLS request with "no" (tokio-postgres's
/// `connect_tls.rs`), rather than failing a handshake it began.
pub(super) fn is_tls_refused(e: &tokio_postgres::Error) -> bool {
    // The reason is the error's source: its own message is only the kind.
    is_tls_failure(e)
        && std::error::Error::source(e).is_some_and(|c| c.to_string() == "server does not support TLS")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that answers every TLS request "no", as one without TLS.
    async fn server_without_tls() -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_ok() {
                    let _ = socket.write_all(b"N").await;
                }
            }
        });
        port
    }

    #[tokio::test]
    async fn a_server_that_offers_no_tls_is_told_from_a_failed_handshake() {
        let port = server_without_tls().await;
        let settings = TlsSettings {
            mode: SslMode::Require,
            roots: RootSource::Unset,
        };
        let connector = tokio_postgres_rustls::MakeRustlsConnect::new(settings.client_config().unwrap());
        let config = |port: u16| {
            let mut config = tokio_postgres::Config::new();
            config
                .host("127.0.0.1")
                .port(port)
                .user("u")
                .ssl_mode(settings.driver_mode());
            config
        };
        let refused = config(port).connect(connector.clone()).await.err().unwrap();
        assert!(
            is_tls_failure(&refused) && is_tls_refused(&refused),
            "{refused:?}"
        );
        // A handshake that starts and fails is a TLS failure, not a refusal.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut request = [0u8; 8];
                if socket.read_exact(&mut request).await.is_ok() {
                    // "Yes", then garbage where a TLS server hello belongs.
                    let _ = socket.write_all(b"Snot a server hello").await;
                }
            }
        });
        let failed = config(port).connect(connector).await.err().unwrap();
        assert!(is_tls_failure(&failed) && !is_tls_refused(&failed), "{failed:?}");
    }

    fn settings(url: &str) -> Result<(String, SslMode, RootSource), Reason> {
        split(url).map(|(rest, s)| (rest, s.mode, s.roots))
    }

    #[test]
    fn sslmode_and_sslrootcert_are_read_and_removed() {
        assert_eq!(
            settings("postgresql://u:p@h:5432/db"),
            Ok((
                "postgresql://u:p@h:5432/db".to_owned(),
                SslMode::Prefer,
                RootSource::Unset
            ))
        );
        assert_eq!(
            settings(
                "postgresql://u:p@h/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.crt&connect_timeout=3"
            ),
            Ok((
                "postgresql://u:p@h/db?application_name=x&connect_timeout=3".to_owned(),
                SslMode::VerifyFull,
                RootSource::File(PathBuf::from("/etc/ca.crt"))
            ))
        );
        assert_eq!(
            settings("postgres://u@h/db?sslmode=require").map(|s| (s.0, s.1)),
            Ok(("postgres://u@h/db".to_owned(), SslMode::Require))
        );
        // A `?` in the password (percent-encoded or not) is not the query.
        assert_eq!(
            settings("postgresql://u:pa%3Fss@h/db?sslmode=disable").map(|s| (s.0, s.1)),
            Ok(("postgresql://u:pa%3Fss@h/db".to_owned(), SslMode::Disable))
        );
        assert_eq!(
            settings("postgresql://u:pa?ss@h/db?sslmode=verify-full").map(|s| (s.0, s.1)),
            Ok(("postgresql://u:pa?ss@h/db".to_owned(), SslMode::VerifyFull))
        );
    }

    #[test]
    fn system_roots_mean_verify_full_as_in_libpq_16() {
        assert_eq!(
            settings("postgresql://u@h/db?sslrootcert=system").map(|s| s.1),
            Ok(SslMode::VerifyFull)
        );
        assert!(settings("postgresql://u@h/db?sslrootcert=system&sslmode=require").is_err());
        assert!(settings("postgresql://u@h/db?sslrootcert=system&sslmode=verify-ca").is_err());
        // Nor may verify-ca fall back to them: any public certificate for any host would pass.
        assert_eq!(
            settings("postgresql://u@h/db?sslmode=verify-ca").err(),
            Some(Reason::Rule(
                "sets sslmode=verify-ca without sslrootcert: give the CA file, or use verify-full"
            ))
        );
        assert!(settings("postgresql://u@h/db?sslmode=verify-ca&sslrootcert=/ca.crt").is_ok());
    }

    #[test]
    fn unknown_modes_and_key_value_verify_are_refused() {
        assert_eq!(
            settings("postgresql://u@h/db?sslmode=allow").err(),
            Some(Reason::NotOneOf(SSL_MODES))
        );
        assert_eq!(
            settings("postgresql://u@h/db?sslmode=VERIFY-FULL").err(),
            Some(Reason::NotOneOf(SSL_MODES))
        );
        assert!(settings("host=h user=u sslmode=verify-full").is_err());
        assert!(settings("host=h user=u sslrootcert=/ca.crt").is_err());
        assert_eq!(
            settings("host=h user=u sslmode=require").map(|s| s.0),
            Ok("host=h user=u sslmode=require".to_owned())
        );
        assert!(settings("postgresql://u@h/db?sslrootcert=").is_err());
    }

    #[test]
    fn verify_modes_need_a_root_and_a_root_file_must_hold_certificates() {
        let dir = std::env::temp_dir().join(format!("asb-tls-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let empty = dir.join("empty.crt");
        let _ = std::fs::write(&empty, "no certificate here\n");
        let with = |mode, roots| TlsSettings { mode, roots }.client_config().err();
        assert!(matches!(
            with(SslMode::VerifyFull, RootSource::File(empty)),
            Some(TlsError::Rule(_))
        ));
        assert!(matches!(
            with(SslMode::VerifyFull, RootSource::File(dir.join("missing.crt"))),
            Some(TlsError::Unreadable(_, std::io::ErrorKind::NotFound))
        ));
        assert!(with(SslMode::Require, RootSource::Unset).is_none());
        assert!(with(SslMode::Disable, RootSource::Unset).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
