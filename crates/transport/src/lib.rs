//! Byte streams named by Plan 9 dial strings.
//!
//! `unix!/path/to/sock`, `tcp!host!port` and `{command args}` (a program that speaks 9P on
//! its standard input and output, started with `sh -c`) name places to dial or listen.
//! Authentication and encryption come later as transports of their own; until then plain
//! TCP is for loopback only.

mod addr;
mod conn;
mod listen;

pub use addr::{Addr, AddrError};
pub use conn::{Conn, dial, stdio};
pub use listen::{Listener, listen};
