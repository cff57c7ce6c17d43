//! `#p` with real child processes, directly and through ninefold's 9P server and client:
//! notes and ctl messages arrive as the documented signals, status and args read back
//! what Linux says, a process that is gone is never signalled, and other users' processes
//! are refused.
#![allow(clippy::unwrap_used)]

mod common;

use ninefold_testkit::scenario;

mod scenarios {
    use std::os::unix::process::ExitStatusExt;
    use std::sync::Arc;

    use async_trait::async_trait;
    use ninefold_fs::{Error, NodeRef, QidType, Result};
    use ninefold_procfs::{NsSource, ProcTree, STATUS_SIZE};
    use ninefold_proto::{dm, om};

    use crate::common::*;

    /// A tree whose principal is the user running the tests.
    async fn root(via: Via) -> NodeRef {
        attach(Arc::new(ProcTree::for_this_user()), via).await
    }

    fn uid() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    fn my_name() -> String {
        nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid()))
            .ok()
            .flatten()
            .map_or_else(|| uid().to_string(), |u| u.name)
    }

    pub async fn notes_become_signals(via: Via) {
        let dir = tempfile::tempdir().unwrap();
        let r = root(via).await;
        let mut k = Kid::trapper(&dir.path().join("log"), None).await;
        let p = k.pid();
        echo(&r, &format!("{p}/note"), "interrupt").await.unwrap();
        k.logs("INT").await;
        echo(&r, &format!("{p}/note"), "hangup\n").await.unwrap();
        k.logs("HUP").await;
        echo(&r, &format!("{p}/note"), "alarm").await.unwrap();
        k.logs("ALRM").await;
        // Notes the system alone posts are refused; nothing is sent.
        let e = echo(&r, &format!("{p}/note"), "sys: trap: fault read").await;
        assert!(text(e).starts_with("not supported: sys: trap"));
        assert_eq!(
            text(echo(&r, &format!("{p}/note"), "\n").await),
            Error::BAD_ARG.as_str()
        );
        // Reading a note finds none pending.
        assert_eq!(cat(&r, &format!("{p}/note")).await, "");
        let rw = open(&r, &format!("{p}/note"), om::ORDWR).await;
        assert!(read_all(&rw).await.unwrap().is_empty());
        bounded(rw.clunk()).await;
        // kill as a note is SIGTERM, which the process may catch.
        echo(&r, &format!("{p}/note"), "kill").await.unwrap();
        k.logs("TERM").await;
        assert_eq!(k.exits().await.code(), Some(0));
        assert_eq!(k.logged(), ["ready", "INT", "HUP", "ALRM", "TERM"]);
    }

    pub async fn kill_by_note_and_by_ctl(via: Via) {
        let r = root(via).await;
        let mut a = Kid::sleep();
        echo(&r, &format!("{}/note", a.pid()), "kill\n")
            .await
            .unwrap();
        assert_eq!(a.exits().await.signal(), Some(15));
        // Any other note is SIGTERM too: an unhandled note ends a Plan 9 process.
        let mut b = Kid::sleep();
        echo(&r, &format!("{}/note", b.pid()), "go away")
            .await
            .unwrap();
        assert_eq!(b.exits().await.signal(), Some(15));
        // ctl's kill cannot be caught.
        let dir = tempfile::tempdir().unwrap();
        let mut c = Kid::trapper(&dir.path().join("log"), None).await;
        echo(&r, &format!("{}/ctl", c.pid()), "kill\n")
            .await
            .unwrap();
        assert_eq!(c.exits().await.signal(), Some(9));
        assert_eq!(c.logged(), ["ready"]);
    }

    pub async fn stop_and_start(via: Via) {
        let r = root(via).await;
        let k = Kid::sleep();
        let p = k.pid();
        echo(&r, &format!("{p}/ctl"), "stop").await.unwrap();
        until("state T", || k.state() == 'T').await;
        let status = cat(&r, &format!("{p}/status")).await;
        assert_eq!(
            status.split_whitespace().nth(2),
            Some("Stopped"),
            "{status}"
        );
        // waitstop on a stopped process returns at once.
        echo(&r, &format!("{p}/ctl"), "waitstop").await.unwrap();
        echo(&r, &format!("{p}/ctl"), "start").await.unwrap();
        until("running again", || matches!(k.state(), 'S' | 'R')).await;
        let status = cat(&r, &format!("{p}/status")).await;
        assert_ne!(
            status.split_whitespace().nth(2),
            Some("Stopped"),
            "{status}"
        );
    }

    pub async fn waitstop_blocks_until_stopped(via: Via) {
        let r = root(via).await;
        let k = Kid::sleep();
        let p = k.pid();
        let ctl = open(&r, &format!("{p}/ctl"), om::OWRITE | om::OTRUNC).await;
        // Blocks while the process runs; a flushed waitstop leaves it be.
        stays_blocked(ctl.write(0, "waitstop".into())).await;
        assert_ne!(k.state(), 'T');
        let waiter = {
            let ctl = ctl.clone();
            tokio::spawn(async move { ctl.write(0, "waitstop\n".into()).await })
        };
        tokio::time::sleep(BLOCKED).await;
        assert!(!waiter.is_finished());
        echo(&r, &format!("{p}/ctl"), "stop").await.unwrap();
        let done = bounded(waiter).await.unwrap();
        assert_eq!(done, Ok(9));
        assert_eq!(k.state(), 'T');
        // A process that exits while waited for ends the wait with "process exited".
        let mut k2 = Kid::sleep();
        let ctl2 = open(&r, &format!("{}/ctl", k2.pid()), om::OWRITE).await;
        let waiter = tokio::spawn(async move { ctl2.write(0, "waitstop".into()).await });
        tokio::time::sleep(BLOCKED).await;
        k2.child.kill().unwrap();
        k2.exits().await;
        let e = bounded(waiter).await.unwrap();
        assert_eq!(text(e), "process exited");
        // startstop: continue, then wait for the next stop.
        let ctl = open(&r, &format!("{p}/ctl"), om::OWRITE).await;
        let waiter = {
            let ctl = ctl.clone();
            tokio::spawn(async move { ctl.write(0, "startstop".into()).await })
        };
        until("running again", || k.state() != 'T').await;
        tokio::time::sleep(BLOCKED).await;
        assert!(!waiter.is_finished());
        write(&ctl, "stop").await.unwrap();
        assert_eq!(bounded(waiter).await.unwrap(), Ok(9));
    }

    pub async fn other_ctl_messages_are_refused(via: Via) {
        let r = root(via).await;
        let k = Kid::sleep();
        let ctl = format!("{}/ctl", k.pid());
        for (msg, want) in [
            ("hang", "not supported: hang"),
            ("pri 3\n", "not supported: pri 3"),
            ("close 0", "not supported: close 0"),
            ("private", "not supported: private"),
        ] {
            assert_eq!(text(echo(&r, &ctl, msg).await), want);
        }
        assert_eq!(text(echo(&r, &ctl, "").await), "empty control message");
        assert!(!k.state().eq(&'T'));
        // ctl cannot be read; the read-only files cannot be written or truncated.
        assert_eq!(
            text(try_open(&r, &ctl, om::OREAD).await),
            Error::PERM.as_str()
        );
        for f in ["status", "args", "fd", "ns", "noteid", "ppid"] {
            let path = format!("{}/{f}", k.pid());
            assert_eq!(
                text(try_open(&r, &path, om::OWRITE).await),
                Error::PERM.as_str()
            );
            let e = try_open(&r, &path, om::OREAD | om::OTRUNC).await;
            assert_eq!(text(e), Error::PERM.as_str(), "{f}");
        }
    }

    pub async fn status_args_and_the_rest(via: Via) {
        let r = root(via).await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("held open");
        std::fs::write(&file, "x").unwrap();
        let script = format!("exec 5< '{}'; exec sleep 60", file.display());
        let k = Kid::spawn(
            &["sh", "-c", &script, "it's", "a b"],
            None,
            Some(dir.path()),
        );
        let p = k.pid();
        // Asleep in sleep: the exec is over.
        until("exec of sleep", || {
            std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default() == "sleep\n"
                && proc_state(p) == 'S'
        })
        .await;
        let status = cat(&r, &format!("{p}/status")).await;
        assert_eq!(status.len(), STATUS_SIZE);
        let f: Vec<&str> = status.split_whitespace().collect();
        assert_eq!(f.len(), 12, "{status:?}");
        assert_eq!(f[0], "sleep");
        assert_eq!(f[1], my_name());
        assert!(["Wakeme", "Running"].contains(&f[2]), "{}", f[2]);
        for n in &f[3..] {
            n.parse::<u64>()
                .unwrap_or_else(|_| panic!("{n} in {status:?}"));
        }
        assert!(f[9].parse::<u64>().unwrap() > 0, "memory in {status:?}");
        assert_eq!((f[10], f[11]), ("10", "10"));
        assert_eq!(&status[..28], format!("{:<28}", "sleep"));
        assert_eq!(&status[56..68], "Wakeme      ");
        // exec kept the arguments sleep was given.
        assert_eq!(cat(&r, &format!("{p}/args")).await, "sleep 60");
        let ppid = cat(&r, &format!("{p}/ppid")).await;
        assert_eq!(ppid, format!("{:>11} ", std::process::id()));
        let noteid = cat(&r, &format!("{p}/noteid")).await;
        assert_eq!(noteid, format!("{p:>11} "));
        // fd: the current directory, then the descriptors.
        let fd = cat(&r, &format!("{p}/fd")).await;
        let mut lines = fd.lines();
        assert_eq!(
            lines.next().unwrap(),
            dir.path().canonicalize().unwrap().display().to_string()
        );
        let zero = lines.next().unwrap();
        assert!(zero.starts_with("  0 r  c "), "{zero:?}");
        assert!(zero.ends_with(" /dev/null"), "{zero:?}");
        let five = fd.lines().find(|l| l.starts_with("  5 ")).unwrap();
        assert!(five.starts_with("  5 r  M "), "{five:?}");
        assert!(five.ends_with(&format!(" {}", file.display())), "{five:?}");
        let ino = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&file).unwrap().ino()
        };
        assert!(five.contains(&format!("({ino:016x} 0 00)")), "{five:?}");
        // ns: not in a session.
        let e = try_cat(&r, &format!("{p}/ns")).await;
        assert_eq!(text(e), format!("not a ninefold session: process {p}"));
    }

    pub async fn args_are_quoted(via: Via) {
        let r = root(via).await;
        let k = Kid::spawn(&["sh", "-c", "sleep 60; :", "it's", "a b"], None, None);
        assert_eq!(
            cat(&r, &format!("{}/args", k.pid())).await,
            "sh -c 'sleep 60; :' 'it''s' 'a b'"
        );
    }

    pub async fn directories(via: Via) {
        let r = root(via).await;
        let k = Kid::sleep();
        let p = k.pid();
        let entries = list(&r, "").await;
        let me = entries
            .iter()
            .find(|s| s.name == p.to_string())
            .expect("the child in the listing");
        assert_eq!(me.qid.ty, QidType::DIR);
        assert_eq!(me.mode, dm::DMDIR | 0o555);
        assert_eq!(me.uid, my_name());
        assert!(entries.iter().any(|s| s.name == "1"));
        assert!(entries.iter().all(|s| s.name.parse::<u32>().is_ok()));
        let files = list(&r, &p.to_string()).await;
        let names: Vec<&str> = files.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "args", "ctl", "fd", "note", "noteid", "notepg", "ns", "ppid", "status"
            ]
        );
        let mut paths: Vec<u64> = files.iter().map(|s| s.qid.path).collect();
        paths.push(me.qid.path);
        paths.push(r.qid().path);
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), files.len() + 2, "qid paths collide");
        let status = files.iter().find(|s| s.name == "status").unwrap();
        assert_eq!((status.mode, status.length), (0o444, STATUS_SIZE as u64));
        let ctl = files.iter().find(|s| s.name == "ctl").unwrap();
        assert_eq!(ctl.mode, 0o200);
        // A walk's qids are the listing's, and stable.
        let w = bounded(r.walk(&[p.to_string(), "status".into()]))
            .await
            .unwrap();
        assert_eq!(w.qids[0], me.qid);
        assert_eq!(w.qids[1], status.qid);
        let up = walk(&r, &format!("{p}/..")).await.unwrap();
        assert_eq!(up.qid(), r.qid());
        assert_eq!(walk(&r, "..").await.unwrap().qid(), r.qid());
        // Not processes: names that are not pids, pids nobody has, threads.
        for bad in ["self", "0", "007", "-1", "4194305"] {
            assert_eq!(
                text(walk(&r, bad).await),
                Error::NOT_FOUND.as_str(),
                "{bad}"
            );
        }
        let thread = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find(|&t| t != std::process::id())
            .expect("the test runs threads");
        assert_eq!(
            text(walk(&r, &thread.to_string()).await),
            Error::NOT_FOUND.as_str()
        );
        let status = walk(&r, &format!("{p}/status")).await.unwrap();
        assert_eq!(
            text(bounded(status.walk(&["x".into()])).await),
            Error::WALK_NO_DIR.as_str()
        );
        assert_eq!(
            text(walk(&r, &format!("{p}/nonesuch")).await),
            Error::NOT_FOUND.as_str()
        );
        // Directories cannot be opened for writing.
        let e = try_open(&r, &p.to_string(), om::OWRITE).await;
        assert_eq!(text(e), Error::IS_DIR.as_str());
    }

    /// The pid is gone (the child was reaped) after the directory was walked: nothing is
    /// signalled, whatever process may have the pid by now, and every use of the old fids
    /// says so.
    pub async fn a_gone_process_is_never_signalled(via: Via) {
        let r = root(via).await;
        let mut k = Kid::sleep();
        let p = k.pid();
        let dir = walk(&r, &p.to_string()).await.unwrap();
        let ctl = open(&r, &format!("{p}/ctl"), om::OWRITE | om::OTRUNC).await;
        let note = open(&r, &format!("{p}/note"), om::OWRITE).await;
        let status = open(&r, &format!("{p}/status"), om::OREAD).await;
        k.child.kill().unwrap();
        k.exits().await;
        assert_eq!(text(write(&ctl, "kill").await), "process exited");
        assert_eq!(text(write(&note, "interrupt").await), "process exited");
        assert_eq!(text(write(&ctl, "stop").await), "process exited");
        // The text read at open stays readable; new opens and walks fail.
        assert_eq!(read_all(&status).await.unwrap().len(), STATUS_SIZE);
        let s = walk(&dir, "status").await;
        assert!(s.is_err(), "{s:?}");
        let n = bounded(dir.clone_node()).await.unwrap();
        assert_eq!(text(bounded(n.open(om::OREAD)).await), "process exited");
        // The pid, walked afresh, is another process or none.
        if let Ok(again) = walk(&r, &p.to_string()).await {
            assert_ne!(again.qid(), dir.qid());
        }
    }

    /// A zombie (exited, not yet reaped) cannot be signalled either.
    pub async fn a_zombie_is_not_signalled(via: Via) {
        let r = root(via).await;
        let mut k = Kid::sleep();
        let p = k.pid();
        let ctl = open(&r, &format!("{p}/ctl"), om::OWRITE).await;
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(p as i32).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
        until("a zombie", || k.state() == 'Z').await;
        assert_eq!(text(write(&ctl, "kill").await), "process exited");
        let status = cat(&r, &format!("{p}/status")).await;
        assert_eq!(status.split_whitespace().nth(2), Some("Moribund"));
        k.exits().await;
    }

    pub async fn other_users_processes_are_refused(via: Via) {
        // Root may signal anyone, so a root test run takes the part of nobody.
        let principal = if uid() == 0 { 65534 } else { uid() };
        let tree = Arc::new(ProcTree::new(principal));
        let r = attach(tree, via).await;
        for f in ["ctl", "note", "notepg"] {
            let e = try_open(&r, &format!("1/{f}"), om::OWRITE | om::OTRUNC).await;
            assert_eq!(text(e), "permission denied: process 1 belongs to root");
        }
        // Reading is allowed where Linux allows it.
        let status = cat(&r, "1/status").await;
        assert_eq!(status.split_whitespace().nth(1), Some("root"));
        if uid() == 0 {
            // A child of ours is root's too; the tree refuses before the kernel would not.
            let k = Kid::sleep();
            let e = echo(&r, &format!("{}/ctl", k.pid()), "kill").await;
            assert_eq!(
                text(e),
                format!("permission denied: process {} belongs to root", k.pid())
            );
            assert!(matches!(k.state(), 'S' | 'R'), "the child was signalled");
        }
    }

    pub async fn notepg_reaches_the_group(via: Via) {
        let r = root(via).await;
        let dir = tempfile::tempdir().unwrap();
        let mut a = Kid::trapper(&dir.path().join("a"), None).await;
        let mut b = Kid::trapper(&dir.path().join("b"), Some(a.pid())).await;
        let other = Kid::trapper(&dir.path().join("other"), None).await;
        echo(&r, &format!("{}/notepg", b.pid()), "interrupt")
            .await
            .unwrap();
        a.logs("INT").await;
        b.logs("INT").await;
        echo(&r, &format!("{}/notepg", a.pid()), "kill")
            .await
            .unwrap();
        a.logs("TERM").await;
        b.logs("TERM").await;
        a.exits().await;
        b.exits().await;
        assert_eq!(other.logged(), ["ready"]);
        // killgrp: SIGKILL to the group.
        let c = Kid::sleep();
        let mut d = Kid::spawn(&["sleep", "60"], Some(c.pid()), None);
        let mut c = c;
        echo(&r, &format!("{}/ctl", c.pid()), "killgrp")
            .await
            .unwrap();
        assert_eq!(c.exits().await.signal(), Some(9));
        assert_eq!(d.exits().await.signal(), Some(9));
    }

    #[derive(Debug)]
    struct Sessions;

    #[async_trait]
    impl NsSource for Sessions {
        async fn ns(&self, pid: u32, session: &str) -> Result<String> {
            Ok(format!("bind  #c /dev\ncd /tmp\n# {pid} in {session}\n"))
        }
    }

    pub async fn ns_of_a_session(via: Via) {
        let tree = ProcTree::for_this_user().with_ns(Arc::new(Sessions));
        let r = attach(Arc::new(tree), via).await;
        let k = {
            let mut c = std::process::Command::new("sleep");
            c.arg("60").env("NINEFOLD_NS", "/run/x.sock");
            Kid {
                child: c.spawn().unwrap(),
                log: None,
            }
        };
        let p = k.pid();
        assert_eq!(
            cat(&r, &format!("{p}/ns")).await,
            format!("bind  #c /dev\ncd /tmp\n# {p} in /run/x.sock\n")
        );
        // Without a source, the error says where the session is.
        let r = root(via).await;
        let e = text(try_cat(&r, &format!("{p}/ns")).await);
        assert!(e.contains("/run/x.sock"), "{e}");
    }
}

scenario!(notes_become_signals);
scenario!(kill_by_note_and_by_ctl);
scenario!(stop_and_start);
scenario!(waitstop_blocks_until_stopped);
scenario!(other_ctl_messages_are_refused);
scenario!(status_args_and_the_rest);
scenario!(args_are_quoted);
scenario!(directories);
scenario!(a_gone_process_is_never_signalled);
scenario!(a_zombie_is_not_signalled);
scenario!(other_users_processes_are_refused);
scenario!(notepg_reaches_the_group);
scenario!(ns_of_a_session);
