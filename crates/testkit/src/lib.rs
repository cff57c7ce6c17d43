//! Test support for trees: every scenario runs twice, once straight through the `Node`
//! trait and once through ninefold's own 9P server and client, and every step is bounded
//! in time so a hang fails the test instead of stalling the suite. Used only as a
//! dev-dependency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ninefold_client::Client;
use ninefold_fs::{Error, NodeRef, Result, Tree};
use ninefold_server::{Config, serve_stream};

pub const USER: &str = "glenda";

/// The longest any single step may take.
pub const STEP: Duration = Duration::from_secs(10);

/// The longest a whole scenario may take.
pub const SCENARIO: Duration = Duration::from_secs(60);

/// How long a step that should stay blocked is watched.
pub const BLOCKED: Duration = Duration::from_millis(300);

/// Asserts that `f` is still waiting after [`BLOCKED`], then drops it.
///
/// Over 9P the drop is a Tflush, which the client sends from a task of its own and the
/// server carries out in another: a request sent at once could overtake it and wake the
/// flushed work before it is cancelled (a flushed pipe read would then take bytes whose
/// reply is thrown away). So this waits a little more for the flush to be done.
pub async fn stays_blocked<F: Future>(f: F)
where
    F::Output: std::fmt::Debug,
{
    if let Ok(out) = tokio::time::timeout(BLOCKED, f).await {
        panic!("expected to block, finished with {out:?}");
    }
    tokio::time::sleep(BLOCKED).await;
}

/// How a scenario reaches the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Direct,
    Served,
}

/// A root of `tree`, reached `via`.
pub async fn attach(tree: Arc<dyn Tree>, via: Via) -> NodeRef {
    match via {
        Via::Direct => bounded(tree.attach(USER, "")).await.unwrap(),
        Via::Served => {
            let (a, b) = tokio::io::duplex(1 << 20);
            tokio::spawn(serve_stream(tree, b, Config::default()));
            let c = bounded(Client::connect_stream(a, 1 << 20)).await.unwrap();
            Arc::new(bounded(c.attach_node(USER, "")).await.unwrap())
        }
    }
}

/// `f`, failing the test if it takes longer than [`STEP`].
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(STEP, f).await.expect("step timed out")
}

/// `f`, failing the test if it takes longer than [`SCENARIO`].
pub async fn within_scenario<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(SCENARIO, f)
        .await
        .expect("scenario timed out")
}

fn names(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

pub async fn walk(root: &NodeRef, path: &str) -> Result<NodeRef> {
    let w = bounded(root.walk(&names(path))).await?;
    w.node.ok_or(Error::NOT_FOUND)
}

pub async fn try_open(root: &NodeRef, path: &str, mode: u8) -> Result<NodeRef> {
    let n = walk(root, path).await?;
    bounded(n.open(mode)).await?;
    Ok(n)
}

pub async fn open(root: &NodeRef, path: &str, mode: u8) -> NodeRef {
    try_open(root, path, mode)
        .await
        .unwrap_or_else(|e| panic!("open {path}: {e}"))
}

/// Declares a scenario (a function in the file's `scenarios` module taking a [`Via`]) as
/// two tests: `NAME::direct` and `NAME::served`.
#[macro_export]
macro_rules! scenario {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn direct() {
                $crate::within_scenario(super::scenarios::$name($crate::Via::Direct)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn served() {
                $crate::within_scenario(super::scenarios::$name($crate::Via::Served)).await
            }
        }
    };
}
