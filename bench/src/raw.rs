//! The baselines: plain blocking sockets with no protocol at all.
//!
//! `raw-serve` copies a file into each connection with read(2)/write(2); `raw-recv` reads a
//! connection to its end and discards it. `raw-pong` answers every `req` bytes with `resp`
//! bytes, and [`ping_pong`] is its client. These helpers run as child processes of the
//! benchmark, as `ninefold exportfs` does, and exit when their stdin (a pipe from the
//! benchmark) closes.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use ninefold_transport::Addr;

use crate::cpu::cpu_time_of;
use crate::ninep::Trips;

/// A connected stream of either kind.
pub trait Stream: Read + Write + Send {}
impl Stream for UnixStream {}
impl Stream for TcpStream {}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    fn bind(addr: &Addr) -> Result<(Listener, Addr)> {
        match addr {
            Addr::Unix(p) => Ok((Listener::Unix(UnixListener::bind(p)?), addr.clone())),
            Addr::Tcp { host, port } => {
                let l = TcpListener::bind((host.as_str(), *port))?;
                let a = l.local_addr()?;
                let bound = Addr::Tcp {
                    host: a.ip().to_string(),
                    port: a.port(),
                };
                Ok((Listener::Tcp(l), bound))
            }
            _ => bail!("cannot listen on {addr}"),
        }
    }

    fn accept(&self) -> io::Result<Box<dyn Stream>> {
        match self {
            Listener::Unix(l) => Ok(Box::new(l.accept()?.0)),
            Listener::Tcp(l) => {
                let s = l.accept()?.0;
                s.set_nodelay(true)?;
                Ok(Box::new(s))
            }
        }
    }
}

pub fn connect(addr: &Addr) -> Result<Box<dyn Stream>> {
    match addr {
        Addr::Unix(p) => Ok(Box::new(
            UnixStream::connect(p).with_context(|| format!("dial {addr}"))?,
        )),
        Addr::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port))
                .with_context(|| format!("dial {addr}"))?;
            s.set_nodelay(true)?;
            Ok(Box::new(s))
        }
        _ => bail!("cannot dial {addr} here"),
    }
}

/// Binds, announces the bound address on stdout, and exits once stdin closes.
fn listen_and_announce(addr: &str) -> Result<Listener> {
    let addr: Addr = addr.parse()?;
    let (l, bound) = Listener::bind(&addr)?;
    let mut out = io::stdout();
    writeln!(out, "listening on {bound}")?;
    out.flush()?;
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        while matches!(io::stdin().read(&mut sink), Ok(n) if n > 0) {}
        std::process::exit(0);
    });
    Ok(l)
}

/// `raw-serve ADDR FILE BUF`: for each connection, read FILE and write it into the
/// connection, BUF bytes at a time, then close it.
pub fn serve_file(addr: &str, file: &Path, buf_size: usize) -> Result<()> {
    let l = listen_and_announce(addr)?;
    let mut buf = vec![0u8; buf_size];
    loop {
        let mut s = l.accept()?;
        let mut f = File::open(file)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if s.write_all(&buf[..n]).is_err() {
                break;
            }
        }
    }
}

/// `raw-recv ADDR LEN BUF`: read the connection to its end, BUF bytes at a time, discarding
/// it; fails unless exactly LEN bytes came.
pub fn recv_discard(addr: &str, want: u64, buf_size: usize) -> Result<()> {
    let mut s = connect(&addr.parse()?)?;
    let mut buf = vec![0u8; buf_size];
    let mut total = 0u64;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    if total != want {
        bail!("raw-recv: got {total} bytes, expected {want}");
    }
    Ok(())
}

/// `raw-pong ADDR REQ RESP`: answer every REQ bytes received with RESP bytes.
pub fn pong(addr: &str, req: usize, resp: usize) -> Result<()> {
    let l = listen_and_announce(addr)?;
    let mut inb = vec![0u8; req];
    let outb = vec![0x5au8; resp];
    loop {
        let mut s = l.accept()?;
        while s.read_exact(&mut inb).is_ok() {
            if s.write_all(&outb).is_err() {
                break;
            }
        }
    }
}

/// `ops` sequential round trips of `req` bytes out and `resp` bytes back, after `warm`
/// untimed ones, noting the CPU time processes `pids` spend during the timed ones.
pub fn ping_pong(
    addr: &Addr,
    req: usize,
    resp: usize,
    warm: usize,
    ops: usize,
    pids: &[u32],
) -> Result<Trips> {
    let mut s = connect(addr)?;
    let outb = vec![0xa5u8; req];
    let mut inb = vec![0u8; resp];
    let mut round = |s: &mut Box<dyn Stream>| -> Result<()> {
        s.write_all(&outb)?;
        s.read_exact(&mut inb)?;
        Ok(())
    };
    for _ in 0..warm {
        round(&mut s)?;
    }
    let cpu0 = cpu_time_of(pids);
    let start = Instant::now();
    for _ in 0..ops {
        round(&mut s)?;
    }
    let wall = start.elapsed();
    let cpu = cpu_time_of(pids).saturating_sub(cpu0);
    Ok(Trips { wall, cpu })
}
