//! Certificates made at test time (rcgen) and a throwaway Postgres that
//! speaks TLS with them, for the `sslmode` tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::sync::OnceCell;

use crate::pg_support::{Cluster, Server, as_root, prepare};

/// A CA and the files a server and its clients need.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA that signed the server's certificate.
    pub ca: PathBuf,
    /// Another CA, which signed nothing the server presents.
    pub other_ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Pki {
    /// A CA, and a server certificate for `names` (DNS names) it signed, in
    /// a fresh directory the `postgres` user owns (Postgres refuses a key
    /// others can read).
    pub fn new(names: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("axum-supabase-pki-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let issuer = ca("test root CA");
        let other = ca("another CA");
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();
        let pki = Self {
            ca: dir.join("ca.crt"),
            other_ca: dir.join("other-ca.crt"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            dir,
        };
        std::fs::write(&pki.ca, issuer.pem()).unwrap();
        std::fs::write(&pki.other_ca, other.pem()).unwrap();
        std::fs::write(&pki.server_cert, cert.pem()).unwrap();
        std::fs::write(&pki.server_key, key.serialize_pem()).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pki.server_key, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::set_permissions(&pki.dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        if as_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(&pki.dir)
                .status();
            assert!(
                ok.is_ok_and(|s| s.success()),
                "cannot hand the certificates to postgres"
            );
        }
        pki
    }
}

/// A Postgres with `ssl=on` and a certificate for `localhost` only, with
/// the bootstrap, the migrations and `authenticator` in database `postgres`.
pub struct TlsServer {
    pub server: Server,
    pub pki: Pki,
}

static TLS_SERVER: OnceCell<TlsServer> = OnceCell::const_new();

/// The shared TLS server of this test binary.
pub async fn tls_server() -> &'static TlsServer {
    TLS_SERVER
        .get_or_init(|| async {
            let pki = Pki::new(&["localhost"]);
            let cert = format!("ssl_cert_file={}", pki.server_cert.display());
            let key = format!("ssl_key_file={}", pki.server_key.display());
            let cluster = Cluster::start(&["ssl=on", &cert, &key]).unwrap_or_else(|e| panic!("{e}"));
            let server = cluster.server.clone();
            // Lives until the process exits; the reaper then cleans up.
            std::mem::forget(cluster);
            prepare(&server, "postgres").await;
            TlsServer { server, pki }
        })
        .await
}

/// `postgresql://authenticator:…@host:port/db?query`.
pub fn url(server: &Server, host: &str, db: &str, query: &str) -> String {
    format!(
        "postgresql://authenticator:{}@{host}:{}/{db}?{query}",
        crate::pg_support::AUTHENTICATOR_PASSWORD,
        server.port
    )
}

/// `sslrootcert=<path>`, percent-encoded as a URL wants it.
pub fn root(path: &Path) -> String {
    format!("sslrootcert={}", path.display().to_string().replace('/', "%2F"))
}
