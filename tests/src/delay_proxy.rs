//! A TCP proxy that delays every byte by the same time each way: the
//! round trip of a long link, where this kernel has no `netem`. Each
//! direction is a reader thread that stamps every chunk with its arrival
//! time (read time + delay) and a writer thread that holds it until then,
//! in order; chunks read back to back leave back to back, so the delay
//! adds latency and never cuts the rate. What is queued is bounded (as a
//! socket's buffer is), so a slow receiver slows the sender down.
//!
//! The proxy's sockets belong to the network namespace of the thread that
//! starts it (see [`crate::slow_link`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bytes read at once; with [`QUEUED_CHUNKS`], at most 4 MiB wait in
/// each direction of a connection.
const CHUNK: usize = 64 * 1024;
const QUEUED_CHUNKS: usize = 64;

/// Bytes the proxy delivered, by direction.
#[derive(Debug, Default)]
pub struct ProxyBytes {
    /// From the dialing side to the target.
    pub to_target: AtomicU64,
    /// From the target back to the dialing side.
    pub from_target: AtomicU64,
}

/// A running proxy; it stops, and closes every connection, when dropped.
pub struct DelayProxy {
    addr: SocketAddr,
    bytes: Arc<ProxyBytes>,
    stop: Arc<AtomicBool>,
    /// Both ends of every connection, to shut down on drop.
    open: Arc<Mutex<Vec<TcpStream>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Listens on `listen` and forwards each connection to `target`, each
    /// byte `one_way` later than it was read, in both directions.
    pub fn start(
        listen: SocketAddr,
        target: SocketAddr,
        one_way: Duration,
    ) -> io::Result<DelayProxy> {
        let listener = TcpListener::bind(listen)?;
        // Polled, so that dropping the proxy ends the acceptor promptly.
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let bytes = Arc::new(ProxyBytes::default());
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (b, s, o) = (bytes.clone(), stop.clone(), open.clone());
        let acceptor = std::thread::Builder::new()
            .name("delay-proxy".into())
            .spawn(move || accept_loop(&listener, target, one_way, &b, &s, &o))?;
        Ok(DelayProxy {
            addr,
            bytes,
            stop,
            open,
            acceptor: Some(acceptor),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes delivered so far: (to the target, from the target).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.bytes.to_target.load(Ordering::Relaxed),
            self.bytes.from_target.load(Ordering::Relaxed),
        )
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Ok(open) = self.open.lock() {
            for s in open.iter() {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    target: SocketAddr,
    one_way: Duration,
    bytes: &Arc<ProxyBytes>,
    stop: &AtomicBool,
    open: &Mutex<Vec<TcpStream>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
        };
        // A target that does not answer is a refused connection for the
        // dialer, as it would be without the proxy.
        let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5)) else {
            continue;
        };
        // A connection that cannot be set up is closed, which the dialer sees.
        if let Err(e) = forward(client, server, one_way, bytes, open) {
            eprintln!("delay proxy: a connection could not be forwarded: {e}");
        }
    }
}

fn forward(
    client: TcpStream,
    server: TcpStream,
    one_way: Duration,
    bytes: &Arc<ProxyBytes>,
    open: &Mutex<Vec<TcpStream>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    for s in [&client, &server] {
        // Small writes (a request, an acknowledgement) leave at once.
        s.set_nodelay(true)?;
    }
    if let Ok(mut open) = open.lock() {
        open.push(client.try_clone()?);
        open.push(server.try_clone()?);
    }
    let up = (client.try_clone()?, server.try_clone()?);
    let b = bytes.clone();
    one_direction(up.0, up.1, one_way, move |n| {
        b.to_target.fetch_add(n, Ordering::Relaxed);
    })?;
    let b = bytes.clone();
    one_direction(server, client, one_way, move |n| {
        b.from_target.fetch_add(n, Ordering::Relaxed);
    })
}

/// Bytes read from `from` reach `to` `delay` after they were read; the
/// end of `from` becomes the end of `to` once everything before it left.
fn one_direction(
    mut from: TcpStream,
    to: TcpStream,
    delay: Duration,
    delivered: impl Fn(u64) + Send + 'static,
) -> io::Result<()> {
    let (queue, arrivals) = sync_channel::<(Instant, Vec<u8>)>(QUEUED_CHUNKS);
    let reader_end = from.try_clone()?;
    std::thread::Builder::new()
        .name("delay-proxy-read".into())
        .spawn(move || {
            loop {
                let mut chunk = vec![0u8; CHUNK];
                let n = match from.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                chunk.truncate(n);
                if queue.send((Instant::now() + delay, chunk)).is_err() {
                    break;
                }
            }
        })?;
    std::thread::Builder::new()
        .name("delay-proxy-write".into())
        .spawn(move || {
            deliver(&arrivals, to, delivered);
            // The receiving side is gone: stop reading what it would get.
            let _ = reader_end.shutdown(Shutdown::Read);
        })?;
    Ok(())
}

/// Writes each chunk at its arrival time, in order, until the reader ends.
fn deliver(arrivals: &Receiver<(Instant, Vec<u8>)>, mut to: TcpStream, delivered: impl Fn(u64)) {
    for (due, chunk) in arrivals {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if to.write_all(&chunk).is_err() {
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
        delivered(chunk.len() as u64);
    }
    let _ = to.shutdown(Shutdown::Write);
}
