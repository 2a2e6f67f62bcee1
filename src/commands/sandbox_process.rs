//! The sandbox in a process of its own, for the benchmarks: as the real external
//! systems are, so that the benchmark process's memory is Knudepunkt's alone.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use super::stack::TempDir;

/// A sandbox in a process of its own, killed when dropped.
pub(super) struct SandboxProcess {
    child: std::process::Child,
    pub url: String,
    _dir: TempDir,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SandboxProcess {
    /// The sandbox process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The sandbox process's peak resident set so far, in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        super::rss::status_mb(&format!("/proc/{}/status", self.pid()), "VmHWM:")
    }
}

/// A loopback port free now, for a listener the sandbox process must be told of
/// before it is opened.
pub(super) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `knudepunkt sandbox` with this process's sandbox certificates (so that its
/// services trust the in-process STS, and the in-process services it pushes to trust
/// it), and `envs`, and waits until it answers.
pub(super) async fn sandbox_process(envs: &[(&str, String)]) -> anyhow::Result<SandboxProcess> {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "knudepunkt-sandbox-process-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7()
    )));
    let certs = dir.0.join("certs");
    knudepunkt_adapters::sandbox::certs::SandboxCertificates::shared().write(&certs, "sandbox")?;
    let port = free_port()?;
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["sandbox", "--listen", &format!("127.0.0.1:{port}")])
        .env("KNUDEPUNKT_SANDBOX_CERTS", &certs)
        .env("KNUDEPUNKT_CLIENT_CERT_PASSWORD", "sandbox")
        .env("RUST_LOG", "warn")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("starting the sandbox process")?;
    let process = SandboxProcess {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let http = knudepunkt_adapters::http::client();
    let until = Instant::now() + Duration::from_secs(20);
    while http
        .get(format!("{}/sagdokumentindeks/_sandbox/counts", process.url))
        .send()
        .await
        .is_err()
    {
        if Instant::now() > until {
            bail!("the sandbox process did not answer within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(process)
}
