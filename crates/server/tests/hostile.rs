//! Whatever a client sends — valid messages in any order, with clashing tags and fids, or
//! garbage — the server answers or hangs up cleanly, and never panics.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ninefold_fs::synth::{Entry, StaticFile, SynthTree};
use ninefold_proto::{Stat, Tmsg, encode_t};
use ninefold_server::{Config, serve};
use proptest::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Panics in any thread, including the server's request tasks, which no JoinHandle reports.
static PANICS: AtomicUsize = AtomicUsize::new(0);

fn catch_panics_everywhere() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

fn tree() -> SynthTree {
    SynthTree::new(Entry::dir([
        ("a", Entry::file(StaticFile(Bytes::from_static(b"alpha")))),
        (
            "d",
            Entry::dir([("b", Entry::file(StaticFile(Bytes::from_static(b"beta"))))]),
        ),
    ]))
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("d".to_string()),
        Just("b".to_string()),
        Just("..".to_string()),
        Just("".to_string()),
        Just("nope".to_string()),
    ]
}

/// Messages over a tiny space of fids and tags, so they collide often.
fn tmsg() -> impl Strategy<Value = Tmsg> {
    let fid = 0u32..4;
    prop_oneof![
        (
            0u32..70000,
            prop_oneof![
                Just("9P2000".to_string()),
                Just("9P2000.L".to_string()),
                Just("x".to_string())
            ]
        )
            .prop_map(|(msize, version)| Tmsg::Version { msize, version }),
        (fid.clone(), prop_oneof![Just(u32::MAX), 0u32..4], name()).prop_map(
            |(fid, afid, aname)| Tmsg::Attach {
                fid,
                afid,
                uname: "u".into(),
                aname
            }
        ),
        (0u16..4).prop_map(|oldtag| Tmsg::Flush { oldtag }),
        (
            fid.clone(),
            fid.clone(),
            proptest::collection::vec(name(), 0..4)
        )
            .prop_map(|(fid, newfid, wnames)| Tmsg::Walk {
                fid,
                newfid,
                wnames
            }),
        (fid.clone(), any::<u8>()).prop_map(|(fid, mode)| Tmsg::Open { fid, mode }),
        (fid.clone(), name(), any::<u32>(), any::<u8>()).prop_map(|(fid, name, perm, mode)| {
            Tmsg::Create {
                fid,
                name,
                perm,
                mode,
            }
        }),
        (fid.clone(), any::<u64>(), any::<u32>()).prop_map(|(fid, offset, count)| Tmsg::Read {
            fid,
            offset,
            count
        }),
        (
            fid.clone(),
            any::<u64>(),
            proptest::collection::vec(any::<u8>(), 0..32)
        )
            .prop_map(|(fid, offset, d)| Tmsg::Write {
                fid,
                offset,
                data: d.into()
            }),
        fid.clone().prop_map(|fid| Tmsg::Clunk { fid }),
        fid.clone().prop_map(|fid| Tmsg::Remove { fid }),
        fid.clone().prop_map(|fid| Tmsg::Stat { fid }),
        (fid, name()).prop_map(|(fid, name)| Tmsg::Wstat {
            fid,
            stat: Stat {
                name,
                ..Stat::dont_touch()
            }
        }),
    ]
}

enum Input {
    Msg(u16, Tmsg),
    Garbage(Vec<u8>),
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Msg(t, m) => write!(f, "{t}:{m:?}"),
            Input::Garbage(g) => write!(f, "garbage {g:?}"),
        }
    }
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => ((0u16..4), tmsg()).prop_map(|(t, m)| Input::Msg(t, m)),
        1 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(Input::Garbage),
    ]
}

async fn run(inputs: Vec<Input>) {
    let (client, server_end) = tokio::io::duplex(1 << 16);
    let (sr, sw) = tokio::io::split(server_end);
    let config = Config {
        max_msize: 65536,
        principal: None,
    };
    let server = tokio::spawn(serve(Arc::new(tree()), sr, sw, config));
    let (mut r, mut w) = tokio::io::split(client);
    // Drain replies concurrently so the server never blocks on a full pipe.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    });
    let mut bytes = BytesMut::new();
    // Start most runs with a working session so the messages reach the tree.
    encode_t(
        0xffff,
        &Tmsg::Version {
            msize: 65536,
            version: "9P2000".into(),
        },
        &mut bytes,
        false,
    );
    encode_t(
        0,
        &Tmsg::Attach {
            fid: 0,
            afid: u32::MAX,
            uname: "u".into(),
            aname: "".into(),
        },
        &mut bytes,
        false,
    );
    for i in inputs {
        match i {
            Input::Msg(tag, m) => {
                encode_t(tag, &m, &mut bytes, false);
            }
            Input::Garbage(g) => bytes.extend_from_slice(&g),
        }
    }
    // The server may hang up part way (an impossible frame size): then writes fail.
    let _ = w.write_all(&bytes).await;
    let _ = w.shutdown().await;
    drop(w);
    let res = tokio::time::timeout(Duration::from_secs(10), server).await;
    let joined = res.expect("server finished within 10 s");
    assert!(joined.is_ok(), "server task panicked: {joined:?}");
    let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn hostile_input_never_panics_or_hangs(inputs in proptest::collection::vec(input(), 0..40)) {
        catch_panics_everywhere();
        PANICS.store(0, Ordering::SeqCst);
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(inputs));
        drop(rt);
        prop_assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
    }
}
