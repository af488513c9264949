//! A real Postgres for the database tests: `TEST_DATABASE_URL` (a superuser
//! connection), or a throwaway cluster started here from the installed
//! binaries (initdb into a temp dir, loopback only, stopped and deleted when
//! the test binary exits). With neither, the tests fail and say what to
//! install; they never pass without a database.
//!
//! Every test gets its own database, copied from a template that has the
//! local bootstrap, the migrations, a GoTrue-shaped `auth.sessions` and a
//! password for `authenticator`, the role the server connects as.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum_supabase::db::tokio_postgres::{self, Client, NoTls};
use tokio::sync::OnceCell;

/// The password the tests give `authenticator` (test-only).
pub const AUTHENTICATOR_PASSWORD: &str = "test-only-authenticator-password";
const TEMPLATE: &str = "axum_supabase_template";

/// Where the tests' Postgres listens and who may create databases.
#[derive(Debug, Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub admin_user: String,
    pub admin_password: Option<String>,
}

impl Server {
    pub fn url(&self, user: &str, password: Option<&str>, db: &str) -> String {
        let auth = match password {
            Some(p) => format!("{user}:{p}"),
            None => user.to_owned(),
        };
        format!("postgresql://{auth}@{}:{}/{db}", self.host, self.port)
    }

    pub fn admin_url(&self, db: &str) -> String {
        self.url(&self.admin_user, self.admin_password.as_deref(), db)
    }
}

/// A throwaway cluster: its directory, and the pipe whose closing (at exit,
/// however the binary ends) makes the reaper stop the server and delete it.
pub struct Cluster {
    pub server: Server,
    pub data: PathBuf,
    pub bin: PathBuf,
    _reaper: Mutex<ChildStdin>,
    _reaper_child: Child,
}

static SHARED: OnceCell<Result<Server, String>> = OnceCell::const_new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `cmd` as the `postgres` system user when we are root (initdb and
/// postgres refuse to run as root), as ourselves otherwise.
fn pg_command(program: &Path) -> Command {
    if as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn find_bin() -> Result<PathBuf, String> {
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    candidates.sort();
    candidates.reverse();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        candidates.insert(0, PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    candidates
        .into_iter()
        .find(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .ok_or_else(|| {
            "no Postgres found for the database tests: set TEST_DATABASE_URL to a superuser \
             connection, or install the server binaries (Debian: apt-get install postgresql)"
                .to_owned()
        })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

impl Cluster {
    /// initdb + pg_ctl start on a free loopback port. `extra` adds server settings.
    pub fn start(extra: &[&str]) -> Result<Self, String> {
        let bin = find_bin()?;
        let dir = std::env::temp_dir().join(format!(
            "axum-supabase-pg-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        if as_root() {
            let ok = Command::new("chown").arg("postgres").arg(&dir).status();
            if !ok.is_ok_and(|s| s.success()) {
                return Err("cannot hand the cluster directory to the postgres user".to_owned());
            }
        }
        let data = dir.join("data");
        let out = pg_command(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let server = Server {
            host: "127.0.0.1".to_owned(),
            port: 0,
            admin_user: "postgres".to_owned(),
            admin_password: None,
        };
        let mut cluster = Self::with_reaper(server, data, bin, &dir)?;
        cluster.server.port = free_port();
        let mut options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            cluster.server.port,
            dir.display()
        );
        for e in extra {
            options.push_str(" -c ");
            options.push_str(e);
        }
        std::fs::write(dir.join("options"), &options).map_err(|e| e.to_string())?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    fn with_reaper(server: Server, data: PathBuf, bin: PathBuf, dir: &Path) -> Result<Self, String> {
        // Reads until our end of the pipe closes, then stops and deletes the cluster.
        let script = format!(
            "cat >/dev/null; {} -D {} stop -m immediate >/dev/null 2>&1; rm -rf {}",
            bin.join("pg_ctl").display(),
            data.display(),
            dir.display()
        );
        let mut child = pg_command(Path::new("/bin/sh"))
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start the cluster reaper: {e}"))?;
        let stdin = child.stdin.take().ok_or("no reaper pipe")?;
        Ok(Self {
            server,
            data,
            bin,
            _reaper: Mutex::new(stdin),
            _reaper_child: child,
        })
    }

    fn dir(&self) -> PathBuf {
        self.data.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    /// Starts the server and waits until it accepts connections.
    pub fn pg_ctl_start(&self) -> Result<(), String> {
        let options = std::fs::read_to_string(self.dir().join("options")).map_err(|e| e.to_string())?;
        let out = pg_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(self.dir().join("log"))
            .args(["-w", "-t", "60", "start"])
            .output()
            .map_err(|e| format!("cannot run pg_ctl: {e}"))?;
        if !out.status.success() {
            let log = std::fs::read_to_string(self.dir().join("log")).unwrap_or_default();
            return Err(format!(
                "pg_ctl start failed: {}{log}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    }

    /// Stops the server at once (as a crash would look to clients).
    pub fn pg_ctl_stop(&self) {
        let _ = pg_command(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    /// Tells the reaper to clean up now.
    pub fn stop(self) {
        if let Ok(mut pipe) = self._reaper.lock() {
            let _ = pipe.flush();
        }
        drop(self._reaper);
        let mut child = self._reaper_child;
        let _ = child.wait();
    }
}

pub async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test database: {e}"));
    tokio::spawn(connection);
    client
}

/// Bootstrap, migrations, the GoTrue-shaped sessions table, and a password
/// for `authenticator`, in database `db` of `server`.
pub async fn prepare(server: &Server, db: &str) {
    let admin = connect(&server.admin_url(db)).await;
    axum_supabase_auth::migrate::bootstrap_local(&admin)
        .await
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    axum_supabase_auth::migrate::migrate(&admin, &dir).await.unwrap();
    admin
        .batch_execute(&format!(
            "create table if not exists auth.sessions (\
               id uuid primary key, user_id uuid not null, \
               created_at timestamptz not null default now(), not_after timestamptz); \
             grant usage on schema auth to authenticator; \
             grant select (id, not_after) on auth.sessions to authenticator; \
             alter role authenticator password '{AUTHENTICATOR_PASSWORD}'"
        ))
        .await
        .unwrap();
}

/// The shared server: TEST_DATABASE_URL, or one cluster per test binary.
pub async fn shared() -> &'static Server {
    let server = SHARED
        .get_or_init(|| async {
            let server = match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
                Some(url) => from_url(&url)?,
                None => {
                    let cluster = Cluster::start(&[])?;
                    let server = cluster.server.clone();
                    // Lives until the process exits; the reaper then cleans up.
                    std::mem::forget(cluster);
                    server
                }
            };
            let admin = connect(&server.admin_url("postgres")).await;
            let _ = admin
                .batch_execute(&format!("drop database if exists {TEMPLATE}"))
                .await;
            admin
                .batch_execute(&format!("create database {TEMPLATE}"))
                .await
                .map_err(|e| format!("cannot create the template database: {e}"))?;
            prepare(&server, TEMPLATE).await;
            Ok(server)
        })
        .await;
    match server {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

fn from_url(url: &str) -> Result<Server, String> {
    let config: tokio_postgres::Config = url
        .parse()
        .map_err(|_| "TEST_DATABASE_URL does not parse".to_owned())?;
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => return Err("TEST_DATABASE_URL must name a TCP host".to_owned()),
    };
    Ok(Server {
        host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        admin_user: config.get_user().unwrap_or("postgres").to_owned(),
        admin_password: config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    })
}

/// A fresh database for one test, copied from the prepared template.
pub struct TestDb {
    pub server: Server,
    pub name: String,
}

impl TestDb {
    pub async fn new() -> Self {
        let server = shared().await.clone();
        Self::create_on(server, true).await
    }

    pub async fn create_on(server: Server, from_template: bool) -> Self {
        let name = format!(
            "t_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let admin = connect(&server.admin_url("postgres")).await;
        let sql = if from_template {
            format!("create database {name} template {TEMPLATE}")
        } else {
            format!("create database {name}")
        };
        let started = Instant::now();
        // Another test may be copying the template this very moment.
        loop {
            match admin.batch_execute(&sql).await {
                Ok(()) => break,
                Err(_) if started.elapsed() < Duration::from_secs(30) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot create test database: {e}"),
            }
        }
        Self { server, name }
    }

    /// The superuser connection, for setting up and checking state.
    pub async fn admin(&self) -> Client {
        connect(&self.server.admin_url(&self.name)).await
    }

    /// The server's connection string: as `authenticator`.
    pub fn server_url(&self) -> String {
        self.server
            .url("authenticator", Some(AUTHENTICATOR_PASSWORD), &self.name)
    }
}

/// Debian's PgBouncer in `pool_mode = transaction` in front of `server`,
/// with fewer server connections than clients, so that server connections
/// really are shared between client sessions. Stopped when dropped or when
/// the test binary exits.
pub struct Bouncer {
    pub port: u16,
    _reaper: Child,
}

impl Bouncer {
    pub fn start(server: &Server, server_pool: usize) -> Result<Self, String> {
        Self::start_with(server, server_pool, "")
    }

    /// As [`start`](Self::start), with more `[pgbouncer]` settings (lines of `key = value`).
    pub fn start_with(server: &Server, server_pool: usize, extra: &str) -> Result<Self, String> {
        let bin = ["/usr/sbin/pgbouncer", "/usr/bin/pgbouncer"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .ok_or_else(|| "pgbouncer is not installed (Debian: apt-get install pgbouncer)".to_owned())?;
        let dir = std::env::temp_dir().join(format!(
            "axum-supabase-bouncer-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let port = free_port();
        let admin_password = server.admin_password.clone().unwrap_or_default();
        std::fs::write(
            dir.join("users.txt"),
            format!(
                "\"authenticator\" \"{AUTHENTICATOR_PASSWORD}\"\n\"{}\" \"{admin_password}\"\n",
                server.admin_user
            ),
        )
        .map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("pgbouncer.ini"),
            format!(
                "[databases]\n* = host={} port={}\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\n\
                 unix_socket_dir =\nauth_type = trust\nauth_file = {users}\npool_mode = transaction\n\
                 default_pool_size = {server_pool}\nmax_client_conn = 500\nserver_reset_query =\n\
                 ignore_startup_parameters = extra_float_digits\nlogfile = {log}\n{extra}",
                server.host,
                server.port,
                users = dir.join("users.txt").display(),
                log = dir.join("pgbouncer.log").display(),
            ),
        )
        .map_err(|e| e.to_string())?;
        if as_root() {
            let ok = Command::new("chown").args(["-R", "postgres"]).arg(&dir).status();
            if !ok.is_ok_and(|s| s.success()) {
                return Err("cannot hand the pgbouncer directory to the postgres user".to_owned());
            }
        }
        // pgbouncer refuses to run as root. It runs until our pipe closes.
        let script = format!(
            "{} {} & pid=$!; cat >/dev/null; kill $pid; wait $pid; rm -rf {}",
            bin.display(),
            dir.join("pgbouncer.ini").display(),
            dir.display()
        );
        let child = pg_command(Path::new("/bin/sh"))
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start pgbouncer: {e}"))?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                let log = std::fs::read_to_string(dir.join("pgbouncer.log")).unwrap_or_default();
                return Err(format!("pgbouncer did not start: {log}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Self { port, _reaper: child })
    }

    /// `db`'s server connection string through the pooler.
    pub fn server_url(&self, db: &TestDb) -> String {
        format!(
            "postgresql://authenticator:{AUTHENTICATOR_PASSWORD}@127.0.0.1:{}/{}",
            self.port, db.name
        )
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        drop(self._reaper.stdin.take());
        let _ = self._reaper.wait();
    }
}
