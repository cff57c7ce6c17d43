//! `/net/ipifc`: the host's interfaces, read-only, as 9front's `readipifc` parses them.
//! Only loopback's 127.0.0.1 is assumed about the host; everything else is checked for
//! shape, not value.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use bytes::Bytes;
use common::*;
use ninefold_fs::{NodeRef, Stat};
use ninefold_proto::{dm, om};

scenario!(loopback_listed);
scenario!(listings_are_stat_entries);
scenario!(writes_refused);
scenario!(missing_interfaces);
scenario!(text_is_fixed_at_open);
scenario!(stats_lines);

/// The numbered entries of `/ipifc`.
async fn interfaces(root: &NodeRef) -> Vec<Stat> {
    list(root, "ipifc")
        .await
        .into_iter()
        .filter(|s| s.name != "clone" && s.name != "stats")
        .collect()
}

/// What libip's `readipifc` makes of a status file: the device name and the local
/// address of each address line, or a complaint if it would reject the file.
fn readipifc(status: &str) -> Result<(String, Vec<String>), String> {
    let mut lines = status.split('\n');
    let first: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    if first.first() != Some(&"device") {
        return Err(format!("no device line: {status:?}"));
    }
    if first.len() & 1 != 0 {
        return Err(format!("odd field count on the device line: {status:?}"));
    }
    let field = |name: &str| {
        first
            .chunks(2)
            .find(|kv| kv[0] == name)
            .map(|kv| kv[1].to_owned())
    };
    let dev = field("device")
        .filter(|d| !d.is_empty())
        .ok_or("no device")?;
    for key in ["maxtu", "pktin", "pktout", "errin", "errout"] {
        let v = field(key).ok_or(format!("no {key}"))?;
        v.parse::<u64>().map_err(|_| format!("{key} {v:?}"))?;
    }
    let mut locals = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 {
            break; // readipifc stops at the first short line
        }
        if !line.starts_with('\t') || f.len() != 5 {
            return Err(format!("address line {line:?}"));
        }
        f[0].parse::<std::net::IpAddr>()
            .map_err(|_| format!("local {:?}", f[0]))?;
        let prefix: u32 = f[1]
            .strip_prefix('/')
            .and_then(|p| p.parse().ok())
            .ok_or(format!("mask {:?}", f[1]))?;
        assert!(prefix <= 128, "{line:?}");
        f[2].parse::<std::net::IpAddr>()
            .map_err(|_| format!("remote {:?}", f[2]))?;
        f[3].parse::<u32>()
            .map_err(|_| format!("validlt {:?}", f[3]))?;
        f[4].parse::<u32>()
            .map_err(|_| format!("preflt {:?}", f[4]))?;
        locals.push(f[0].to_owned());
    }
    Ok((dev, locals))
}

mod scenarios {
    use super::*;

    pub async fn loopback_listed(root: NodeRef) {
        let ifcs = interfaces(&root).await;
        assert!(!ifcs.is_empty());
        let mut loopback = None;
        for ifc in &ifcs {
            let status = cat(&root, &format!("ipifc/{}/status", ifc.name)).await;
            let (dev, locals) =
                readipifc(&status).unwrap_or_else(|e| panic!("ipifc/{}: {e}", ifc.name));
            if locals.iter().any(|l| l == "127.0.0.1") {
                loopback = Some((ifc.name.clone(), dev, status));
            }
        }
        let (n, dev, status) = loopback.expect("no interface has 127.0.0.1");
        // 127.0.0.1's line: a v4 prefix is printed over 128 bits, the network beside it.
        let line = status
            .lines()
            .find(|l| l.split_whitespace().next() == Some("127.0.0.1"))
            .unwrap();
        let f: Vec<&str> = line.split_whitespace().collect();
        let prefix: u32 = f[1][1..].parse().unwrap();
        assert!((96..=128).contains(&prefix), "{line:?}");
        assert!(f[2].starts_with("127."), "{line:?}");
        assert!(!dev.is_empty());

        let local = cat(&root, &format!("ipifc/{n}/local")).await;
        let l = local
            .lines()
            .find(|l| l.starts_with("127.0.0.1 "))
            .unwrap_or_else(|| panic!("{local:?}"));
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f, ["127.0.0.1", "->", "127.0.0.1"]);
        assert!(local.ends_with('\n'));
    }

    pub async fn listings_are_stat_entries(root: NodeRef) {
        let top: Vec<String> = list(&root, "").await.into_iter().map(|s| s.name).collect();
        assert!(top.iter().any(|n| n == "ipifc"), "{top:?}");
        let d = walk(&root, "ipifc").await.unwrap();
        let st = bounded(d.stat()).await.unwrap();
        assert_eq!((st.name.as_str(), st.mode), ("ipifc", dm::DMDIR | 0o555));

        // list() decodes every entry; each must be a whole, sane stat.
        let all = list(&root, "ipifc").await;
        let names: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[names.len() - 2..], ["clone", "stats"], "{names:?}");
        let mut qids = std::collections::HashSet::new();
        for s in &all {
            assert_eq!((s.uid.as_str(), s.gid.as_str()), ("network", "network"));
            assert!(qids.insert(s.qid.path), "{names:?}");
            if s.name == "clone" || s.name == "stats" {
                assert_eq!(s.mode, 0o444, "{}", s.name);
            } else {
                assert!(s.name.parse::<u32>().is_ok(), "{}", s.name);
                assert_eq!(s.mode, dm::DMDIR | 0o555, "{}", s.name);
                let files = list(&root, &format!("ipifc/{}", s.name)).await;
                let got: Vec<(&str, u32)> =
                    files.iter().map(|f| (f.name.as_str(), f.mode)).collect();
                assert_eq!(got, [("local", 0o444), ("status", 0o444)]);
                for f in &files {
                    assert!(qids.insert(f.qid.path), "{}/{}", s.name, f.name);
                }
            }
        }
        // No qid shared with tcp's files.
        for s in list(&root, "tcp").await {
            assert!(!qids.contains(&s.qid.path), "tcp/{}", s.name);
        }
        // Numbered directories in ascending order, as devip lists conversations.
        let nums: Vec<u32> = all.iter().filter_map(|s| s.name.parse().ok()).collect();
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "{nums:?}");
        // A walked directory's qid is the listed one.
        let n = &interfaces(&root).await[0];
        let node = walk(&root, &format!("ipifc/{}", n.name)).await.unwrap();
        assert_eq!(node.qid(), n.qid);
        let up = walk(&node, "..").await.unwrap();
        assert_eq!(up.qid(), st.qid);
    }

    pub async fn writes_refused(root: NodeRef) {
        let n = interfaces(&root).await[0].name.clone();
        for path in [
            format!("ipifc/{n}/status"),
            format!("ipifc/{n}/local"),
            "ipifc/stats".to_owned(),
        ] {
            for mode in [om::OWRITE, om::ORDWR, om::OWRITE | om::OTRUNC] {
                let e = try_open(&root, &path, mode).await.unwrap_err();
                assert_eq!(e.as_str(), "permission denied", "{path} {mode}");
            }
        }
        for path in ["ipifc".to_owned(), format!("ipifc/{n}")] {
            let e = try_open(&root, &path, om::OWRITE).await.unwrap_err();
            assert_eq!(e.as_str(), "permission denied", "{path}");
        }
        // clone does not make interfaces here.
        for mode in [om::OREAD, om::ORDWR] {
            let e = try_open(&root, "ipifc/clone", mode).await.unwrap_err();
            assert_eq!(e.as_str(), "permission denied");
        }
        // A write on a fid opened for reading fails too (the server refuses it before the
        // tree sees it: "inappropriate use of fd"; the tree itself: "permission denied").
        let f = open(&root, &format!("ipifc/{n}/status"), om::OREAD).await;
        let e = bounded(f.write(0, Bytes::from_static(b"add 10.0.0.1 /120")))
            .await
            .unwrap_err();
        assert!(
            ["permission denied", "inappropriate use of fd"].contains(&e.as_str()),
            "{e}"
        );
        bounded(f.clunk()).await;
        // Nor can anything be made, removed or changed.
        let d = walk(&root, "ipifc").await.unwrap();
        let e = bounded(d.create("new", 0o666, om::ORDWR))
            .await
            .unwrap_err();
        assert_eq!(e.as_str(), "permission denied");
        let s = walk(&root, &format!("ipifc/{n}/status")).await.unwrap();
        let st = bounded(s.stat()).await.unwrap();
        let e = bounded(s.wstat(&Stat { mode: 0o666, ..st }))
            .await
            .unwrap_err();
        assert_eq!(e.as_str(), "permission denied");
        let e = bounded(s.remove()).await.unwrap_err();
        assert_eq!(e.as_str(), "permission denied");
        // Still there.
        assert!(
            cat(&root, &format!("ipifc/{n}/status"))
                .await
                .starts_with("device ")
        );
    }

    pub async fn missing_interfaces(root: NodeRef) {
        let d = walk(&root, "ipifc").await.unwrap();
        let present: Vec<String> = interfaces(&root)
            .await
            .into_iter()
            .map(|s| s.name)
            .collect();
        // Host indices start at 1; the others are not canonical numbers or not numbers.
        for name in [
            "0",
            "4294967295",
            "99999999999",
            "01",
            "-1",
            "lo",
            "ctl",
            "data",
        ] {
            assert!(!present.iter().any(|p| p == name));
            let e = bounded(d.walk(&[name.to_owned()])).await.unwrap_err();
            assert_eq!(e.as_str(), "file does not exist", "{name}");
        }
        let n = &present[0];
        let ifc = walk(&root, &format!("ipifc/{n}")).await.unwrap();
        for name in ["ctl", "data", "remote", "snoop", "x"] {
            let e = bounded(ifc.walk(&[name.to_owned()])).await.unwrap_err();
            assert_eq!(e.as_str(), "file does not exist", "{name}");
        }
        let status = walk(&ifc, "status").await.unwrap();
        let e = bounded(status.walk(&["x".to_owned()])).await.unwrap_err();
        assert_eq!(e.as_str(), "walk in non-directory");
    }

    pub async fn text_is_fixed_at_open(root: NodeRef) {
        let n = interfaces(&root).await[0].name.clone();
        let f = open(&root, &format!("ipifc/{n}/status"), om::OREAD).await;
        let whole = text(&f).await;
        // Small reads at increasing offsets put the same text together, even though the
        // packet counters may have moved meanwhile; past the end is EOF.
        let mut pieces = Vec::new();
        let mut off = 0u64;
        loop {
            let b = bounded(f.read(off, 7)).await.unwrap();
            if b.is_empty() {
                break;
            }
            off += b.len() as u64;
            pieces.extend_from_slice(&b);
        }
        assert_eq!(String::from_utf8(pieces).unwrap(), whole);
        assert!(bounded(f.read(1 << 40, 10)).await.unwrap().is_empty());
        bounded(f.clunk()).await;
    }

    pub async fn stats_lines(root: NodeRef) {
        let s = cat(&root, "ipifc/stats").await;
        // Whatever /proc/net/snmp offers, under devip's names: `Name: number`.
        for line in s.lines() {
            let (name, value) = line.split_once(": ").unwrap_or_else(|| panic!("{line:?}"));
            assert!(name.bytes().all(|b| b.is_ascii_alphabetic()), "{line:?}");
            value.parse::<u64>().unwrap();
        }
        if std::path::Path::new("/proc/net/snmp").exists() {
            assert!(s.starts_with("Forwarding: "), "{s:?}");
        }
    }
}
