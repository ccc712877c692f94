//! [`Killable`]: one service in a tokio runtime of its own, so a crash test can
//! kill it hard (every task dropped where it stands, connections cut
//! mid-transaction, child processes killed with their tasks) and start a new
//! one on the same address, database and state.
//!
//! ```ignore
//! let mut wallet = Killable::start("wallet", addr, move |l, stop| loop_wallet::run(config, l, stop));
//! wallet.wait_serving(loop_wallet::SERVICE_NAME).await;
//! wallet.kill();
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// A service running in its own runtime; dropping it shuts it down gracefully.
pub struct Killable {
    name: &'static str,
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: CancellationToken,
    exited: Arc<Mutex<Option<String>>>,
}

impl Killable {
    /// Binds `addr` (retrying for a while: a killed predecessor's socket may
    /// linger) and runs `run(listener, shutdown)` in a new two-thread runtime.
    pub fn start<F, Fut>(name: &'static str, addr: SocketAddr, run: F) -> Self
    where
        F: FnOnce(tokio::net::TcpListener, CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|err| panic!("{name} runtime: {err}"));
        let listener = bind(addr);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let exited = Arc::new(Mutex::new(None));
        let report = exited.clone();
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)
                .unwrap_or_else(|err| panic!("{name} listener: {err}"));
            if let Err(err) = run(listener, token).await {
                eprintln!("{name} exited: {err:#}");
                *report.lock().unwrap_or_else(PoisonError::into_inner) = Some(format!("{err:#}"));
            }
        });
        Self {
            name,
            addr,
            runtime: Some(runtime),
            shutdown,
            exited,
        }
    }

    /// Why the service stopped on its own, if it did.
    pub fn exited(&self) -> Option<String> {
        self.exited
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until the service's gRPC health reports `service` SERVING;
    /// panics at once if it exits instead.
    pub async fn wait_serving(&self, service: &str) {
        let channel = loop_platform::grpc::channel(&format!("http://{}", self.addr))
            .unwrap_or_else(|err| panic!("{} channel: {err}", self.name));
        let what = format!("{} serving", self.name);
        loop_platform::testing::wait_for(&what, Duration::from_secs(110), || {
            if let Some(why) = self.exited() {
                panic!("{} exited: {why}", self.name);
            }
            let channel = channel.clone();
            async move { crate::serving(channel, service).await.then_some(()) }
        })
        .await;
    }

    /// Kills the service: no graceful shutdown, every task dropped mid-run.
    pub fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            // A runtime cannot be shut down from inside another one.
            let _ = std::thread::spawn(move || rt.shutdown_background()).join();
        }
    }
}

impl Drop for Killable {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(rt) = self.runtime.take() {
            let _ = std::thread::spawn(move || rt.shutdown_timeout(Duration::from_secs(5))).join();
        }
    }
}

fn bind(addr: SocketAddr) -> std::net::TcpListener {
    let deadline = Instant::now() + Duration::from_secs(30);
    let listener = loop {
        match std::net::TcpListener::bind(addr) {
            Ok(listener) => break listener,
            Err(err) if Instant::now() < deadline => {
                eprintln!("rebinding {addr}: {err}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(err) => panic!("cannot bind {addr}: {err}"),
        }
    };
    listener
        .set_nonblocking(true)
        .unwrap_or_else(|err| panic!("{addr} nonblocking: {err}"));
    listener
}
