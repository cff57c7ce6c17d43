#![allow(clippy::unwrap_used)]

use std::fmt;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

use super::*;

/// The events logged while it is the thread's subscriber: level and `field=value …`.
#[derive(Default, Clone)]
struct Capture(Arc<Mutex<Vec<(Level, String)>>>);

struct Fields(String);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!("{}={value:?} ", field.name()));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, e: &Event<'_>) {
        let mut f = Fields(String::new());
        e.record(&mut f);
        let line = f.0.trim_end().to_owned();
        self.0.lock().unwrap().push((*e.metadata().level(), line));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// What `f` logs.
fn logged(f: impl FnOnce()) -> Vec<(Level, String)> {
    let c = Capture::default();
    tracing::subscriber::with_default(c.clone(), f);
    c.0.lock().unwrap().clone()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn gate(rules: &str, principal: &str) -> Gate {
    Gate {
        policy: Arc::new(Policy::parse(rules).unwrap()),
        principal: principal.into(),
    }
}

#[test]
fn without_a_policy_everything_passes_and_is_logged_with_the_uname() {
    let c = Caller::new(None, "glenda");
    let log = logged(|| {
        c.connect(ProtoId::Tcp, sa("127.0.0.1:22")).unwrap();
        c.announce(ProtoId::Udp, None, 53).unwrap();
        c.send_to(sa("[::1]:53")).unwrap();
    });
    assert_eq!(
        log,
        [
            (
                Level::INFO,
                "message=connect tcp!127.0.0.1!22 principal=glenda".to_owned()
            ),
            (
                Level::INFO,
                "message=announce udp!*!53 principal=glenda".to_owned()
            ),
            (
                Level::TRACE,
                "message=datagram principal=glenda to=[::1]:53".to_owned()
            ),
        ]
    );
}

#[test]
fn the_policy_judges_the_trees_principal() {
    let g = gate("alice connect tcp 198.51.100.0/24 80", "alice");
    // The attach name is not who the policy judges.
    let c = Caller::new(Some(&g), "root");
    let log = logged(|| {
        c.connect(ProtoId::Tcp, sa("198.51.100.2:80")).unwrap();
        let e = c.connect(ProtoId::Tcp, sa("127.0.0.1:22")).unwrap_err();
        assert_eq!(
            e.as_str(),
            "permission denied: alice may not connect to tcp!127.0.0.1!22 (net policy)"
        );
        let e = c.announce(ProtoId::Tcp, None, 8080).unwrap_err();
        assert_eq!(
            e.as_str(),
            "permission denied: alice may not announce tcp!*!8080 (net policy)"
        );
    });
    assert_eq!(
        log,
        [
            (
                Level::INFO,
                "message=connect tcp!198.51.100.2!80 principal=alice".to_owned()
            ),
            (
                Level::WARN,
                "message=refused: permission denied: alice may not connect to \
                 tcp!127.0.0.1!22 (net policy) principal=alice"
                    .to_owned()
            ),
            (
                Level::WARN,
                "message=refused: permission denied: alice may not announce tcp!*!8080 \
                 (net policy) principal=alice"
                    .to_owned()
            ),
        ]
    );
}

#[test]
fn datagrams_are_checked_as_udp_connects() {
    let g = gate("* connect udp 192.0.2.0/24 53", "bob");
    let c = Caller::new(Some(&g), "bob");
    let log = logged(|| {
        c.send_to(sa("192.0.2.1:53")).unwrap();
        c.send_to(sa("[::ffff:192.0.2.1]:53")).unwrap();
        let e = c.send_to(sa("[::ffff:127.0.0.1]:53")).unwrap_err();
        assert_eq!(
            e.as_str(),
            "permission denied: bob may not connect to udp!127.0.0.1!53 (net policy)"
        );
        assert!(c.connect(ProtoId::Tcp, sa("192.0.2.1:53")).is_err());
    });
    let levels: Vec<Level> = log.iter().map(|(l, _)| *l).collect();
    assert_eq!(
        levels,
        [Level::TRACE, Level::TRACE, Level::WARN, Level::WARN],
        "{log:?}"
    );
}
