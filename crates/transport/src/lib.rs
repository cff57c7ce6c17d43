//! Byte streams named by Plan 9 dial strings.
//!
//! `unix!/path/to/sock`, `tcp!host!port` and `{command args}` (a program that speaks 9P on
//! its standard input and output, started with `sh -c`) name places to dial or listen.
//! `host`, `user@host` and `ssh!user@host!port` name a machine reached with the system
//! `ssh`, which runs `ninefold exportfs --stdio` there ([`ssh`]): authentication and
//! encryption are ssh's. Plain TCP carries neither, so it is for loopback only.

mod addr;
mod conn;
mod listen;
pub mod ssh;

pub use addr::{Addr, AddrError};
pub use conn::{Conn, dial, gone, stdio};
pub use listen::{Listener, listen};
