//! What a client meets when the server runs out of descriptors: the tree's table of
//! conversations may be larger than `RLIMIT_NOFILE`, which is the real limit on sockets.
//! Alone in its own test binary, since it lowers the limit for the whole process.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ninefold_fs::{NodeRef, Tree};
use ninefold_netfs::NetTree;
use ninefold_proto::om;
use rustix::process::{Resource, getrlimit, setrlimit};

/// Opens a clone and connects it to `port`; the node, or the connect's error.
async fn connect(root: &NodeRef, port: u16) -> Result<NodeRef, ninefold_fs::Error> {
    let ctl = open(root, "tcp/clone", om::ORDWR).await;
    write(&ctl, &format!("connect 127.0.0.1!{port}")).await?;
    Ok(ctl)
}

#[tokio::test]
async fn running_out_of_descriptors_says_which_limit() {
    // Nobody accepts: the calls wait in the listener's backlog and cost us one fd each.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let root = NetTree::new().attach(USER, "").await.unwrap();

    let saved = getrlimit(Resource::Nofile);
    let open_now = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let soft = open_now + 8;
    setrlimit(
        Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(soft),
            maximum: saved.maximum,
        },
    )
    .unwrap();

    let mut held = Vec::new();
    let mut failure = None;
    for _ in 0..64 {
        match connect(&root, port).await {
            Ok(c) => held.push(c),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let e = failure.expect("no connect failed with the descriptor limit lowered");
    assert_eq!(
        e.as_str(),
        format!("too many open files (RLIMIT_NOFILE {soft})")
    );
    assert!(!held.is_empty() && held.len() <= 10, "{}", held.len());

    // The failed conversation is idle again, and one let go makes room for the next.
    held.pop().unwrap().clunk().await;
    let again = connect(&root, port).await.unwrap();

    setrlimit(Resource::Nofile, saved).unwrap();
    drop((again, held));
}
