//! The one moto launcher: moto's server from the project's virtualenv on a
//! free loopback port, tied to this process. It runs through
//! `moto_server.py`, which keeps moto's transactions as they are but
//! snapshots only the items a transaction touches (moto deep-copies whole
//! tables, which makes every transaction slower as its table grows).
//!
//! The server runs under a watchdog shell, in a process group of its own:
//! dropping [`Moto`] stops the group, and the watchdog stops the server when
//! this process ends without dropping it (a test binary's shared server is a
//! static, and Rust never runs the destructors of statics).

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use operator::base::tools::Tools;

/// How long a server may take to answer its first request.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A moto server on 127.0.0.1, stopped when dropped (or when this process ends).
#[derive(Debug)]
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    watchdog: Child,
}

impl Moto {
    /// Starts a server on a port the system picks.
    ///
    /// # Errors
    /// `moto_server` could not be started or never answered.
    pub fn start(tools: &Tools) -> anyhow::Result<Moto> {
        Moto::start_with(tools, 0, &[])
    }

    /// Starts a server on `port` (0: one the system picks).
    ///
    /// # Errors
    /// `moto_server` could not be started or never answered.
    pub fn start_on(tools: &Tools, port: u16) -> anyhow::Result<Moto> {
        Moto::start_with(tools, port, &[])
    }

    /// Starts a server on `port` (0: one the system picks) with these
    /// environment variables set for it. The server binds the port itself
    /// and writes it to a file the launcher reads; the launcher then asks
    /// it for the nonce it was started with, so the answer is surely this
    /// server's.
    ///
    /// # Errors
    /// `moto_server` could not be started or never answered.
    pub fn start_with(tools: &Tools, port: u16, env: &[(&str, &str)]) -> anyhow::Result<Moto> {
        use std::os::unix::process::CommandExt;
        let nonce = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let dir = std::env::temp_dir().join(format!("moto-{}-{nonce}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        let port_file = dir.join("port");
        let script = format!(
            "{python} {server} --port {port} --port-file {port_file} >/dev/null 2>&1 & child=$!; \
             trap 'kill $child 2>/dev/null; exit 0' TERM INT; \
             while kill -0 {parent} 2>/dev/null && kill -0 $child 2>/dev/null; do sleep 0.5; done; \
             kill $child 2>/dev/null",
            python = tools.tool("python").display(),
            server = operator::root()
                .join("tests/testkit/src/emulator/moto_server.py")
                .display(),
            port_file = port_file.display(),
            parent = std::process::id()
        );
        let spawned = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("MOTO_LAUNCH_NONCE", &nonce)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("start moto_server under its watchdog");
        let bound = spawned.and_then(|watchdog| {
            let port = read_port(&port_file, READY_TIMEOUT);
            let mut moto = Moto {
                endpoint: String::new(),
                watchdog,
            };
            match port.and_then(|p| {
                let endpoint = format!("http://127.0.0.1:{p}");
                wait_ready(&endpoint, &nonce, READY_TIMEOUT).map(|()| endpoint)
            }) {
                Ok(endpoint) => {
                    moto.endpoint = endpoint;
                    Ok(moto)
                }
                Err(e) => {
                    moto.stop();
                    Err(e)
                }
            }
        });
        let _ = std::fs::remove_dir_all(&dir);
        bound
    }

    /// Waits until the server stops (e.g. on Ctrl-C, which reaches its group).
    ///
    /// # Errors
    /// Waiting failed.
    pub fn wait(&mut self) -> anyhow::Result<()> {
        self.watchdog.wait().context("wait for moto_server")?;
        Ok(())
    }

    fn stop(&mut self) {
        // The whole group: the watchdog and the server it started.
        let group = format!("-{}", self.watchdog.id());
        let _ = Command::new("kill")
            .args(["-TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.watchdog.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server the tests of this process share: `MOTO_ENDPOINT` when set (by
/// `cargo xtask test`), else one started on first use from the project's
/// virtualenv and stopped when the process ends.
///
/// # Panics
/// No server could be started (the tools are not installed: `cargo xtask tools`).
pub fn shared_endpoint() -> &'static str {
    static SHARED: OnceLock<String> = OnceLock::new();
    static SERVER: OnceLock<Moto> = OnceLock::new();
    SHARED.get_or_init(|| match std::env::var("MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => {
            let tools = Tools::installed().unwrap_or_else(|e| panic!("{e:#}"));
            let moto = Moto::start(&tools).unwrap_or_else(|e| panic!("{e:#}"));
            SERVER.get_or_init(|| moto).endpoint.clone()
        }
    })
}

/// Wipes every resource of the server at `endpoint` (`POST /moto-api/reset`).
/// moto's transactions copy their whole table first, so a big table slows
/// every later transaction on it: the bench starts each section afresh.
///
/// # Errors
/// The server did not answer.
pub fn reset(endpoint: &str) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).context("connect to moto")?;
    write!(
        s,
        "POST /moto-api/reset HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut answer = String::new();
    s.read_to_string(&mut answer)?;
    anyhow::ensure!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "moto reset: {}",
        answer.lines().next().unwrap_or("")
    );
    Ok(())
}

/// The port the server wrote to `file` once it bound it.
fn read_port(file: &std::path::Path, timeout: Duration) -> anyhow::Result<u16> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text
                .trim()
                .parse()
                .with_context(|| format!("moto_server wrote {text:?} as its port"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "moto_server did not bind a port within {timeout:?} (is .venv complete? `cargo xtask tools`)"
    )
}

/// Waits until the server at `endpoint` answers `GET /moto-api/launcher`
/// with `nonce`: the server this launcher started, ready.
///
/// # Errors
/// No such answer within `timeout`.
fn wait_ready(endpoint: &str, nonce: &str, timeout: Duration) -> anyhow::Result<()> {
    use std::io::{Read, Write};
    let addr = endpoint.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + timeout;
    let mut last = String::from("no answer");
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = format!("GET /moto-api/launcher HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut answer = String::new();
            if s.write_all(req.as_bytes()).is_ok() && s.read_to_string(&mut answer).is_ok() {
                if answer.starts_with("HTTP/1.") && answer.ends_with(nonce) {
                    return Ok(());
                }
                last = answer.lines().next().unwrap_or_default().to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "the moto server at {endpoint} did not answer as the one started ({last}) within {timeout:?}"
    )
}
