//! How the server is started.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `prelabel serve` is told on its command line.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The directory holding `project.json` (and, usually, the videos).
    pub project_dir: PathBuf,
    /// Where label rows and task positions are kept [default: `<project_dir>/.state`].
    pub state_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Accept a well-formed, valid signature by any Ed25519 key, registered or not.
    pub accept_any_key: bool,
    /// Largest allowed distance between a v2 signature's `created` time and the server clock.
    pub max_skew_secs: i64,
    /// Tasks per page of the stage-task listing (small by default, so that clients page).
    pub page_size: usize,
    /// Base of the signed file URLs [default: `http://<bound address>`].
    pub public_url: Option<String>,
    /// Faults to inject into API requests.
    pub faults: FaultConfig,
}

/// Faults injected into API requests (never into file downloads), drawn from a seeded PRNG so
/// that a run with the same requests in the same order injects the same faults.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Share of requests answered `500 {"message":"injected fault"}` before any work.
    pub fail_rate: f64,
    /// Share of requests answered `429` with `Retry-After: 1` before any work.
    pub throttle_rate: f64,
    /// Share of requests that are processed (changes applied) and whose response is then lost:
    /// the connection is closed without a byte of it.
    pub drop_rate: f64,
    /// Delay before every API request is handled.
    pub latency: Duration,
    /// PRNG seed.
    pub seed: u64,
    /// The first this many API requests whose path contains `fail_matching` are answered `500`
    /// before any work (and draw nothing from the PRNG): a fault aimed at one endpoint.
    pub fail_first: u64,
    /// See `fail_first`.
    pub fail_matching: String,
}
