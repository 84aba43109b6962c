//! A real moto server for the tests.
//!
//! `MOTO_ENDPOINT` set (by `cargo xtask test`): use that server. Otherwise the
//! first test to ask starts `moto_server` from the project's virtualenv on a
//! free loopback port, under a watchdog shell that stops it when the test
//! process exits (Rust never runs destructors of statics).

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static ENDPOINT: OnceLock<String> = OnceLock::new();

/// The emulator's endpoint, e.g. `http://127.0.0.1:41234`.
pub fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| match std::env::var("MOTO_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => start_for_this_process(),
    })
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral loopback port")
}

/// Blocks until `GET <endpoint>/moto-api/` answers, or panics after `timeout`.
pub fn wait_ready(endpoint: &str, timeout: Duration) {
    let addr = endpoint.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
            use std::io::{Read, Write};
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let req = format!("GET /moto-api/ HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.write_all(req.as_bytes()).is_ok()
                && s.read_exact(&mut buf).is_ok()
                && buf.starts_with(b"HTTP/1.")
            {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto server at {endpoint} did not become ready within {timeout:?}");
}

fn start_for_this_process() -> String {
    let moto = crate::venv_tool("moto_server");
    let port = free_port();
    let script = format!(
        "{moto} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & child=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $child",
        moto = moto.display(),
        parent = std::process::id()
    );
    let mut watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server under its watchdog");
    std::thread::spawn(move || watchdog.wait());
    let endpoint = format!("http://127.0.0.1:{port}");
    wait_ready(&endpoint, Duration::from_secs(30));
    endpoint
}
