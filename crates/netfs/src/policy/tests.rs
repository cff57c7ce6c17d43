#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn policy(text: &str) -> Policy {
    Policy::parse(text).unwrap()
}

/// Whether `who` may connect with `proto` to `addr`!`port`.
fn connect(p: &Policy, who: &str, proto: Proto, addr: &str, port: u16) -> bool {
    p.check(who, Op::Connect, proto, ip(addr), port).is_ok()
}

fn announce(p: &Policy, who: &str, proto: Proto, addr: &str, port: u16) -> bool {
    p.check(who, Op::Announce, proto, ip(addr), port).is_ok()
}

fn problem(text: &str) -> (usize, Problem) {
    let e = Policy::parse(text).unwrap_err();
    (e.line(), e.problem().clone())
}

#[test]
fn parses_the_documented_example() {
    let p = policy(
        "# PRINCIPAL  OP        PROTO  ADDRESS          PORTS\n\
         alice        connect   tcp    198.51.100.0/24  80,443,8000-8080\n\
         alice        announce  tcp    *                8080\n\
         *            connect   udp    2001:db8::53     53\n\
         bob          connect   tcp    127.0.0.1        22\n",
    );
    assert_eq!(p.rules.len(), 4);
    assert!(connect(&p, "alice", Proto::Tcp, "198.51.100.2", 80));
    assert!(connect(&p, "alice", Proto::Tcp, "198.51.100.2", 8080));
    assert!(!connect(&p, "alice", Proto::Tcp, "198.51.100.2", 22));
    assert!(!connect(&p, "alice", Proto::Udp, "198.51.100.2", 80));
    assert!(!connect(&p, "bob", Proto::Tcp, "198.51.100.2", 80));
    assert!(connect(&p, "carol", Proto::Udp, "2001:db8::53", 53));
    assert!(!connect(&p, "carol", Proto::Tcp, "2001:db8::53", 53));
    assert!(connect(&p, "bob", Proto::Tcp, "127.0.0.1", 22));
    assert!(!connect(&p, "alice", Proto::Tcp, "127.0.0.1", 22));
    assert!(announce(&p, "alice", Proto::Tcp, "::", 8080));
    assert!(!announce(&p, "alice", Proto::Tcp, "::", 8081));
    assert!(!announce(&p, "alice", Proto::Udp, "::", 8080));
}

#[test]
fn comments_blank_lines_and_blanks() {
    let p = policy("\n   \n# all comment\n\talice connect tcp * 80 # web\r\n\n");
    assert_eq!(p.rules.len(), 1);
    assert!(connect(&p, "alice", Proto::Tcp, "192.0.2.1", 80));
    assert_eq!(policy("").rules.len(), 0);
    assert_eq!(policy("#x connect tcp * *").rules.len(), 0);
}

#[test]
fn connect_does_not_give_announce() {
    let p = policy("alice connect * * *");
    assert!(connect(&p, "alice", Proto::Tcp, "192.0.2.1", 80));
    assert!(!announce(&p, "alice", Proto::Tcp, "::", 8080));
    assert!(!announce(&p, "alice", Proto::Tcp, "192.0.2.1", 8080));
    let e = p
        .check("alice", Op::Announce, Proto::Tcp, ip("::"), 8080)
        .unwrap_err();
    assert_eq!(
        e.as_str(),
        "permission denied: alice may not announce tcp!*!8080 (net policy)"
    );
    assert_eq!(e.errno(), 13);
}

#[test]
fn refusals_say_who_what_and_where() {
    let p = Policy::deny_all();
    let e = p
        .check("alice", Op::Connect, Proto::Tcp, ip("127.0.0.1"), 22)
        .unwrap_err();
    assert_eq!(
        e.as_str(),
        "permission denied: alice may not connect to tcp!127.0.0.1!22 (net policy)"
    );
    assert_eq!(e.errno(), 13);
    // Mapped addresses read as IPv4, v6 as %I prints them, and `0.0.0.0` as itself.
    let e = p
        .check("bob", Op::Connect, Proto::Udp, ip("::ffff:10.0.0.1"), 53)
        .unwrap_err();
    assert!(e.as_str().contains(" udp!10.0.0.1!53 "), "{e}");
    let e = p
        .check("bob", Op::Connect, Proto::Tcp, ip("2001:db8::1"), 1)
        .unwrap_err();
    assert!(e.as_str().contains(" tcp!2001:db8::1!1 "), "{e}");
    let e = p
        .check("bob", Op::Connect, Proto::Tcp, ip("0.0.0.0"), 1)
        .unwrap_err();
    assert!(e.as_str().contains(" tcp!0.0.0.0!1 "), "{e}");
    let e = p
        .check("bob", Op::Announce, Proto::Tcp, ip("127.0.0.1"), 0)
        .unwrap_err();
    assert!(e.as_str().contains("announce tcp!127.0.0.1!0 "), "{e}");
}

#[test]
fn allow_all_and_deny_all() {
    let all = Policy::allow_all();
    for (proto, addr) in [
        (Proto::Tcp, "198.51.100.2"),
        (Proto::Udp, "2001:db8::1"),
        (Proto::Tcp, "10.1.2.3"),
    ] {
        assert!(connect(&all, "anyone", proto, addr, 443), "{addr}");
        assert!(announce(&all, "anyone", proto, addr, 443), "{addr}");
    }
    assert!(announce(&all, "anyone", Proto::Tcp, "::", 8080));
    assert!(announce(&all, "anyone", Proto::Udp, "0.0.0.0", 0));
    for denied in [
        "127.0.0.1",
        "::1",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",
        "::",
        "fd00:ec2::254",
    ] {
        assert!(!connect(&all, "anyone", Proto::Tcp, denied, 22), "{denied}");
    }
    assert!(!announce(&all, "anyone", Proto::Tcp, "127.0.0.1", 8080));
    assert!(!announce(
        &all,
        "anyone",
        Proto::Tcp,
        "::ffff:127.0.0.1",
        8080
    ));

    let none = Policy::deny_all();
    assert!(!connect(&none, "anyone", Proto::Tcp, "198.51.100.2", 443));
    assert!(!announce(&none, "anyone", Proto::Tcp, "::", 8080));
}

#[test]
fn loopback_needs_a_rule_of_its_own() {
    let broad = policy(
        "* connect tcp 0.0.0.0/0 *\n\
         * connect tcp ::/0 *\n\
         * connect tcp ::ffff:0.0.0.0/96 *\n\
         * connect tcp 126.0.0.0/7 *",
    );
    for a in [
        "127.0.0.1",
        "::ffff:127.0.0.1",
        "::1",
        "0.0.0.0",
        "::",
        "169.254.1.1",
    ] {
        assert!(!connect(&broad, "alice", Proto::Tcp, a, 22), "{a}");
    }
    assert!(connect(&broad, "alice", Proto::Tcp, "126.1.1.1", 22));
    assert!(connect(&broad, "alice", Proto::Tcp, "2001:db8::1", 22));

    let bob = policy("bob connect tcp 127.0.0.1 22\nbob connect tcp ::1 22");
    assert!(connect(&bob, "bob", Proto::Tcp, "127.0.0.1", 22));
    assert!(connect(&bob, "bob", Proto::Tcp, "::ffff:127.0.0.1", 22));
    assert!(connect(&bob, "bob", Proto::Tcp, "::1", 22));
    assert!(!connect(&bob, "bob", Proto::Tcp, "127.0.0.2", 22));
    assert!(!connect(&bob, "bob", Proto::Tcp, "127.0.0.1", 23));
    assert!(!connect(&bob, "bob", Proto::Udp, "127.0.0.1", 22));
    assert!(!connect(&bob, "alice", Proto::Tcp, "127.0.0.1", 22));

    // A mapped rule is the IPv4 rule.
    let mapped = policy("* connect tcp ::ffff:127.0.0.0/104 *");
    assert!(connect(&mapped, "x", Proto::Tcp, "127.9.9.9", 1));
    assert!(!connect(&mapped, "x", Proto::Tcp, "::1", 1));
    let meta = policy("* connect tcp 169.254.169.254 80");
    assert!(connect(&meta, "x", Proto::Tcp, "169.254.169.254", 80));
    assert!(!connect(&meta, "x", Proto::Tcp, "169.254.169.253", 80));
}

#[test]
fn announcing_on_every_address_needs_star() {
    let specific = policy(
        "a announce tcp 0.0.0.0/0 8080\n\
         a announce tcp ::/0 8080\n\
         a announce tcp 0.0.0.0/8 8080\n\
         a announce tcp :: 8080",
    );
    assert!(!announce(&specific, "a", Proto::Tcp, "::", 8080));
    assert!(!announce(&specific, "a", Proto::Tcp, "0.0.0.0", 8080));
    assert!(announce(&specific, "a", Proto::Tcp, "192.0.2.7", 8080));
    let star = policy("a announce * * 8080");
    assert!(announce(&star, "a", Proto::Tcp, "::", 8080));
    assert!(announce(&star, "a", Proto::Udp, "0.0.0.0", 8080));
    assert!(announce(&star, "a", Proto::Tcp, "::ffff:0.0.0.0", 8080));
    // ... but a specific loopback address is still loopback.
    assert!(!announce(&star, "a", Proto::Tcp, "127.0.0.1", 8080));
    let lo = policy("a announce tcp 127.0.0.1 *");
    assert!(announce(&lo, "a", Proto::Tcp, "127.0.0.1", 0));
    assert!(!announce(&lo, "a", Proto::Tcp, "::", 0));
    // The port-0 rule.
    let ranged = policy("a announce tcp * 8000-8080");
    assert!(!announce(&ranged, "a", Proto::Tcp, "::", 0));
    assert!(announce(
        &policy("a announce tcp * 0"),
        "a",
        Proto::Tcp,
        "::",
        0
    ));
}

#[test]
fn port_lists_and_ranges() {
    let p = policy("* connect tcp * 22,80,8000-8080,65535");
    for (port, ok) in [
        (22, true),
        (23, false),
        (80, true),
        (7999, false),
        (8000, true),
        (8042, true),
        (8080, true),
        (8081, false),
        (65535, true),
        (0, false),
    ] {
        assert_eq!(
            connect(&p, "x", Proto::Tcp, "192.0.2.1", port),
            ok,
            "{port}"
        );
    }
    let all = policy("* connect tcp * 0-65535");
    assert!(connect(&all, "x", Proto::Tcp, "192.0.2.1", 0));
    assert!(connect(&all, "x", Proto::Tcp, "192.0.2.1", 65535));
    assert!(connect(
        &policy("* connect tcp * 5-5"),
        "x",
        Proto::Tcp,
        "192.0.2.1",
        5
    ));
}

#[test]
fn bad_lines_name_their_number_and_fault() {
    assert_eq!(
        problem("# ok\nalice connect tcp *\n"),
        (2, Problem::Fields(4))
    );
    assert_eq!(problem("a b c d e f"), (1, Problem::Fields(6)));
    assert_eq!(
        problem("\n\na listen tcp * *"),
        (3, Problem::Op("listen".into()))
    );
    assert_eq!(
        problem("a connect il * *"),
        (1, Problem::Proto("il".into()))
    );
    assert_eq!(
        problem("a connect tcp example.com *"),
        (1, Problem::Address("example.com".into()))
    );
    assert_eq!(
        problem("a connect tcp 10.0.0.1/24 *"),
        (
            1,
            Problem::HostBits("10.0.0.1/24".into(), "10.0.0.0/24".into())
        )
    );
    for ports in [
        "", "http", "+80", "80,", ",80", "1-", "-1", "1--2", "65536", "1-2-3", "*,80",
    ] {
        let text = format!("a connect tcp * {ports},");
        let e = Policy::parse(&text).unwrap_err();
        assert!(matches!(e.problem(), Problem::Port(_)), "{ports:?}: {e}");
    }
    assert_eq!(
        problem("a connect tcp * 8080-8000"),
        (1, Problem::Range("8080-8000".into()))
    );
    // Case matters, as in ctl messages.
    assert_eq!(
        problem("a CONNECT tcp * *"),
        (1, Problem::Op("CONNECT".into()))
    );
    let e = Policy::parse("ok connect tcp * *\nbad connect tcp * 99999").unwrap_err();
    assert_eq!(
        e.to_string(),
        "net policy line 2: bad port \"99999\" (*, a port, a range like 8000-8080, or a comma list)"
    );
}

#[test]
fn principals_match_exactly() {
    let p = policy("alice connect tcp * *\n* connect udp * 53");
    assert!(connect(&p, "alice", Proto::Tcp, "192.0.2.1", 1));
    assert!(!connect(&p, "Alice", Proto::Tcp, "192.0.2.1", 1));
    assert!(!connect(&p, "alice2", Proto::Tcp, "192.0.2.1", 1));
    assert!(!connect(&p, "", Proto::Tcp, "192.0.2.1", 1));
    // `*` in a rule is everyone; a principal named `*` is only matched by rules for `*`.
    assert!(connect(&p, "", Proto::Udp, "192.0.2.1", 53));
    assert!(connect(&p, "*", Proto::Udp, "192.0.2.1", 53));
    assert!(!connect(&p, "*", Proto::Tcp, "192.0.2.1", 1));
}

/// Fragments rules are made of, right and wrong, so random lines often come close to
/// parsing.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        Just("connect".to_owned()),
        Just("announce".to_owned()),
        Just("tcp".to_owned()),
        Just("udp".to_owned()),
        Just("::ffff:127.0.0.1/128".to_owned()),
        Just("#".to_owned()),
        "[0-9]{1,6}(-[0-9]{0,6})?(,[0-9]{1,6})*",
        "[0-9a-f:.]{0,20}(/[0-9]{0,4})?",
        "\\PC{0,8}",
    ]
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
        any::<[u8; 4]>().prop_map(|b| std::net::Ipv4Addr::from(b).to_ipv6_mapped().into()),
    ]
}

proptest! {
    #[test]
    fn random_text_never_panics(text in "\\PC{0,200}") {
        let _ = Policy::parse(&text);
    }

    #[test]
    fn random_rules_never_panic(
        lines in prop::collection::vec(prop::collection::vec(token(), 0..7), 0..6),
        who in "[a-z*]{0,3}",
        addr in any_ip(),
        port in any::<u16>(),
    ) {
        let text: Vec<String> = lines.iter().map(|l| l.join(" ")).collect();
        if let Ok(p) = Policy::parse(&text.join("\n")) {
            for op in [Op::Connect, Op::Announce] {
                for proto in [Proto::Tcp, Proto::Udp] {
                    let _ = p.check(&who, op, proto, addr, port);
                }
            }
        }
    }

    /// A mapped address is always judged as its IPv4 address.
    #[test]
    fn mapped_addresses_are_their_ipv4(
        v4 in any::<[u8; 4]>(),
        port in any::<u16>(),
        rule in prop_oneof![
            Just("* connect tcp * *"),
            Just("* connect tcp 0.0.0.0/0 *"),
            Just("* connect tcp 127.0.0.0/8 *"),
            Just("* connect tcp 10.0.0.0/8 1-1024"),
            Just("* connect tcp ::ffff:169.254.0.0/112 *"),
        ],
    ) {
        let p = policy(rule);
        let v4 = std::net::Ipv4Addr::from(v4);
        let plain = p.check("x", Op::Connect, Proto::Tcp, v4.into(), port);
        let mapped = p.check("x", Op::Connect, Proto::Tcp, v4.to_ipv6_mapped().into(), port);
        prop_assert_eq!(plain, mapped);
    }

    /// No rule with ADDRESS `*` or a block wider than a denied one reaches loopback.
    #[test]
    fn broad_rules_never_reach_loopback(
        len in 0u8..8,
        low in any::<u32>(),
        port in any::<u16>(),
    ) {
        let net = std::net::Ipv4Addr::from(0x7f00_0000u32 & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0));
        let p = policy(&format!("* connect * {net}/{len} *\n* connect * * *"));
        let lo = std::net::Ipv4Addr::from(0x7f00_0000 | (low & 0x00ff_ffff));
        prop_assert!(p.check("x", Op::Connect, Proto::Tcp, lo.into(), port).is_err());
    }
}
