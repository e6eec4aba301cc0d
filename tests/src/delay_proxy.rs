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

#[cfg(test)]
mod tests {
    use super::*;

    const ONE_WAY: Duration = Duration::from_millis(25);

    /// A server on loopback that sends back every byte it reads, and ends
    /// its side when the other ends its own.
    fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
        let addr = listener.local_addr().expect("echo server address");
        std::thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let mut back = conn.try_clone().expect("clone the echo connection");
            let _ = io::copy(&mut conn, &mut back);
            let _ = back.shutdown(Shutdown::Write);
        });
        addr
    }

    fn through_proxy() -> (DelayProxy, TcpStream) {
        let proxy = DelayProxy::start("127.0.0.1:0".parse().unwrap(), echo_server(), ONE_WAY)
            .expect("start the proxy");
        let conn = TcpStream::connect(proxy.addr()).expect("dial the proxy");
        conn.set_nodelay(true).expect("nodelay");
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        (proxy, conn)
    }

    #[test]
    fn a_round_trip_takes_both_delays() {
        let (_proxy, mut conn) = through_proxy();
        for _ in 0..3 {
            let start = Instant::now();
            conn.write_all(b"ping").expect("send");
            let mut answer = [0u8; 4];
            conn.read_exact(&mut answer).expect("the echo");
            let took = start.elapsed();
            assert_eq!(&answer, b"ping");
            assert!(took >= 2 * ONE_WAY, "a round trip took only {took:?}");
            assert!(took < Duration::from_secs(2), "a round trip took {took:?}");
        }
    }

    /// 5 MB go through and come back intact and in order, in far less time
    /// than a pause per chunk would take (at least 80 chunks each way: 4 s).
    #[test]
    fn the_delay_does_not_cut_the_rate() {
        const BYTES: usize = 5_000_000;
        let (proxy, conn) = through_proxy();
        let sent: Vec<u8> = (0..BYTES as u64)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut reader = conn.try_clone().expect("clone the connection");
        let start = Instant::now();
        let receiving = std::thread::spawn(move || {
            let mut got = Vec::with_capacity(BYTES);
            reader
                .read_to_end(&mut got)
                .expect("read the echo to its end");
            got
        });
        let mut writer = conn;
        writer.write_all(&sent).expect("send through the proxy");
        writer
            .shutdown(Shutdown::Write)
            .expect("end the sending side");
        let got = receiving.join().expect("the receiving thread");
        let took = start.elapsed();
        assert_eq!(got.len(), BYTES, "bytes lost or added");
        assert!(got == sent, "the bytes came back changed or out of order");
        assert!(took >= 2 * ONE_WAY, "5 MB came back in {took:?}");
        assert!(
            took < Duration::from_millis(1500),
            "5 MB took {took:?} through a 25 ms proxy: the delay cuts the rate"
        );
        // Counted once written: the last count may trail the reader a little.
        let all = (BYTES as u64, BYTES as u64);
        crate::wait_until(
            "the proxy counts every byte",
            Duration::from_secs(2),
            || proxy.bytes() == all,
        );
    }
}
