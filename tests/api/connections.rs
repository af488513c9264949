//! Connections that send nothing, or stop sending, with the real binary: a
//! socket that never completes a request head is closed at the header
//! timeout, whatever it sent; one left idle after an answer is closed (HTTP/1)
//! or sent a GOAWAY (HTTP/2) at the idle timeout.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{random_secret, status_of, status_within};
use crate::process::Server;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn vars<'a>(secret: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![
        ("SUPABASE_URL", "https://test.supabase.co"),
        ("SUPABASE_JWT_SECRET", secret),
        ("SUPABASE_JWKS_URL", "off"),
        ("RUST_LOG", "warn"),
    ];
    vars.extend_from_slice(extra);
    vars
}

/// Whether the server closes `stream` within `limit` (EOF or a reset), reading what it sends.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// 200 sockets fill `MAX_CONNECTIONS=200`, each sending `first` (maybe
/// nothing) and then nothing more. A real client is refused while they hold
/// the slots, and served within the header timeout plus 1 s; by then every
/// one of them has been closed.
///
/// The clock starts when the first client is refused: the server's header
/// timer starts at accept, and a refused client, queued behind the 200, shows
/// that all of them have been accepted. (Timing from the last connect instead
/// failed on a busy machine, where the server accepted some sockets more than
/// a second after the kernel had connected them.)
async fn silent_sockets_are_closed_at_the_header_timeout(first: &[u8]) {
    let secret = random_secret();
    let server = Server::start(&vars(
        &secret,
        &[("MAX_CONNECTIONS", "200"), ("HEADER_TIMEOUT_SECS", "2")],
    ))
    .await;
    let mut silent = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&server.addr).await.unwrap();
        stream.write_all(first).await.unwrap();
        silent.push(stream);
    }
    // Once the server has accepted all 200, a new connection is closed on accept.
    let mut refused = None;
    for _ in 0..100 {
        if status_of(&server.addr, "/healthz").await == 0 {
            refused = Some(Instant::now());
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let opened = refused.expect("the 200 silent sockets never filled the cap");
    let left = Duration::from_secs(3).saturating_sub(opened.elapsed());
    assert_eq!(
        status_within(server.addr.as_str(), "/healthz", 200, left).await,
        200,
        "not served within the header timeout plus 1 s"
    );
    for (i, stream) in silent.iter_mut().enumerate() {
        assert!(
            // Accepted before `opened`, so closed by its header timeout plus 1 s.
            closed_within(
                stream,
                Duration::from_secs(3)
                    .saturating_sub(opened.elapsed())
                    .max(Duration::from_millis(200))
            )
            .await,
            "silent socket {i} is still open after {:?}",
            opened.elapsed()
        );
    }
}

#[tokio::test]
async fn sockets_that_send_nothing_are_closed_at_the_header_timeout() {
    silent_sockets_are_closed_at_the_header_timeout(b"").await;
}

#[tokio::test]
async fn sockets_that_send_only_the_http2_preface_are_closed_at_the_header_timeout() {
    silent_sockets_are_closed_at_the_header_timeout(PREFACE).await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let secret = random_secret();
    let server = Server::start(&vars(&secret, &[("IDLE_TIMEOUT_SECS", "1")])).await;
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    let request = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
    // Answered, and kept alive: a second request on it is answered too.
    for _ in 0..2 {
        stream.write_all(request).await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before answering");
            head.extend_from_slice(&buf[..n]);
        }
        assert!(head.starts_with(b"HTTP/1.1 200"));
    }
    let idle = Instant::now();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3)).await,
        "still open"
    );
    assert!(
        idle.elapsed() >= Duration::from_millis(900),
        "closed too early: {:?}",
        idle.elapsed()
    );
}

/// One HTTP/2 frame: (type, flags, stream, payload).
type Frame = (u8, u8, u32, Vec<u8>);

async fn read_frame(stream: &mut TcpStream) -> Option<Frame> {
    let mut head = [0u8; 9];
    stream.read_exact(&mut head).await.ok()?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    let id = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).await.ok()?;
    Some((head[3], head[4], id, payload))
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut out = vec![len[1], len[2], len[3], kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn an_idle_http2_connection_gets_a_goaway_at_the_idle_timeout() {
    const HEADERS: u8 = 0x1;
    const SETTINGS: u8 = 0x4;
    const PING: u8 = 0x6;
    const GOAWAY: u8 = 0x7;
    let secret = random_secret();
    let server = Server::start(&vars(&secret, &[("IDLE_TIMEOUT_SECS", "1")])).await;
    let mut stream = TcpStream::connect(&server.addr).await.unwrap();
    stream.write_all(PREFACE).await.unwrap();
    stream.write_all(&frame(SETTINGS, 0, 0, &[])).await.unwrap();
    // GET /healthz, HPACK without Huffman: :method GET, :scheme http, then
    // :path and :authority as literals with indexed names.
    let mut block = vec![0x82, 0x86, 0x04, 8];
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"localhost");
    // END_STREAM | END_HEADERS on stream 1.
    stream.write_all(&frame(HEADERS, 0x5, 1, &block)).await.unwrap();
    let mut answered = None;
    let mut goaway = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        let Ok(Some((kind, flags, id, payload))) =
            tokio::time::timeout(Duration::from_secs(5), read_frame(&mut stream)).await
        else {
            break;
        };
        match kind {
            SETTINGS if flags & 0x1 == 0 => stream.write_all(&frame(SETTINGS, 0x1, 0, &[])).await.unwrap(),
            PING if flags & 0x1 == 0 => stream.write_all(&frame(PING, 0x1, 0, &payload)).await.unwrap(),
            HEADERS if id == 1 => answered = Some(Instant::now()),
            GOAWAY => {
                goaway = Some(Instant::now());
                break;
            }
            _ => {}
        }
    }
    let answered = answered.expect("the request was answered over HTTP/2");
    let goaway = goaway.expect("a GOAWAY after the idle timeout");
    let idle = goaway - answered;
    assert!(
        (Duration::from_millis(900)..Duration::from_secs(3)).contains(&idle),
        "GOAWAY after {idle:?} idle"
    );
    // hyper follows its GOAWAY with a PING; a client answers it, and the server closes.
    let mut closed = false;
    while let Ok(next) = tokio::time::timeout(Duration::from_secs(3), read_frame(&mut stream)).await {
        match next {
            None => {
                closed = true;
                break;
            }
            Some((PING, 0, 0, payload)) => stream.write_all(&frame(PING, 0x1, 0, &payload)).await.unwrap(),
            Some(_) => {}
        }
    }
    assert!(closed, "still open after the GOAWAY");
}
