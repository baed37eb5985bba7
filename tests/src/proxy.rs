//! A loopback TCP proxy that tests put between a client and a real service to break the
//! connection on purpose: drop everything the service sends for a while (deliveries lost in
//! transit, as on a half-dead link), then cut every connection (the client reconnects through the
//! proxy and finds the service again); or play a service that is down (every connection closed
//! at once) and comes back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Shared switches of one proxy.
#[derive(Default)]
struct Switches {
    /// Bytes from the service are read and thrown away.
    blackhole: AtomicBool,
    /// Bytes from the service dropped so far.
    dropped: AtomicU64,
    /// New connections are closed at once, as by a service that is down.
    refusing: AtomicBool,
}

/// A running proxy; dropping it stops accepting and closes every connection.
pub struct TcpProxy {
    addr: SocketAddr,
    switches: Arc<Switches>,
    /// Bumped to close every connection open at that moment.
    cut: watch::Sender<u64>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listen on a free loopback port and forward each connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let switches = Arc::new(Switches::default());
        let (cut, cut_rx) = watch::channel(0u64);
        let accept = tokio::spawn(accept_loop(listener, upstream, switches.clone(), cut_rx));
        Ok(TcpProxy {
            addr,
            switches,
            cut,
            accept,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Start or stop throwing away what the service sends (the client's bytes still get through).
    pub fn set_blackhole(&self, on: bool) {
        self.switches.blackhole.store(on, Ordering::SeqCst);
    }

    /// Bytes from the service thrown away so far.
    pub fn dropped_bytes(&self) -> u64 {
        self.switches.dropped.load(Ordering::SeqCst)
    }

    /// Play a service that is down (`true`: every connection is closed, new ones at once) or
    /// back (`false`: new connections reach the service again).
    pub fn set_down(&self, down: bool) {
        self.switches.refusing.store(down, Ordering::SeqCst);
        if down {
            self.cut_connections();
        }
    }

    /// Close every connection open now (new ones are accepted as usual).
    pub fn cut_connections(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_connections();
    }
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    switches: Arc<Switches>,
    cut: watch::Receiver<u64>,
) {
    while let Ok((client, _)) = listener.accept().await {
        if switches.refusing.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let switches = switches.clone();
        let mut cut = cut.clone();
        cut.mark_unchanged();
        tokio::spawn(async move {
            let Ok(service) = TcpStream::connect(upstream).await else {
                return;
            };
            tokio::select! {
                _ = pipe(client, service, switches) => {}
                _ = cut.changed() => {}
            }
        });
    }
}

/// Copy both ways until either side closes; the service's bytes are dropped while blackholed.
async fn pipe(client: TcpStream, service: TcpStream, switches: Arc<Switches>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut service_read, mut service_write) = service.into_split();
    let upward = async {
        let _ = tokio::io::copy(&mut client_read, &mut service_write).await;
    };
    let downward = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match service_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if switches.blackhole.load(Ordering::SeqCst) {
                switches.dropped.fetch_add(n as u64, Ordering::SeqCst);
                continue;
            }
            if client_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = upward => {}
        _ = downward => {}
    }
}
