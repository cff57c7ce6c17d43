//! ninefold sessions: a Linux user + mount namespace in which ordinary programs see a
//! ninefold name space (`ninefold newns`), and the control socket through which `ninefold
//! bind`, `mount`, `unmount`, `ns` and `srv` change it.
//!
//! The name space itself lives in process (ninefold-ns) and is the authority; the Linux
//! mounts only show it ([`project`]). The process that starts a session creates the
//! namespaces while it is single-threaded ([`setup::enter`]), replaces `/` with a tmpfs
//! holding the host's entries and the Plan 9 mount points ([`root::build`]), and keeps the
//! capability to mount for as long as it lives; the programs it starts do not have it
//! (capabilities are dropped at exec for a uid other than 0), so every change goes through
//! it. When the last program of the session is gone it exits, and the mount namespace and
//! every FUSE mount go with it: nothing is left on the host.

pub mod control;
pub mod end;
pub mod project;
pub mod root;
pub mod setup;

pub use control::{Control, ENV, SessionNs, request, request_blocking};
pub use project::{FuseMount, FuseMounter, Projector};
pub use setup::SetupError;
