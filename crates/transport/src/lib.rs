//! Byte streams named by Plan 9 dial strings.
//!
//! `unix!/path/to/sock`, `tcp!host!port` and `{command args}` (a program that speaks 9P on
//! its standard input and output, started with `sh -c`) name places to dial or listen.
//! `host`, `user@host` and `ssh!user@host!port` name a machine reached with the system
//! `ssh`, which runs `ninefold exportfs --stdio` there ([`ssh`]): authentication and
//! encryption are ssh's. `tls!host!port` is TLS 1.3 with Ed25519 keys on both sides
//! ([`tls`]), for `ninefold exportfs --listen` without sshd. Plain TCP carries neither
//! authentication nor encryption, so it is for loopback only.

mod addr;
mod conn;
mod listen;
pub mod ssh;
pub mod tls;

pub use addr::{Addr, AddrError};
pub use conn::{Conn, dial, gone, stdio};
pub use listen::{Incoming, Listener, Peer, listen, listen_tls};
