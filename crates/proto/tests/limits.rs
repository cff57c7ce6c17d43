//! Frames a peer may send that must be refused, each with the exact [`DecodeError`].
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use ninefold_proto::{
    DecodeError, HEADER_SIZE, MAXWELEM, Qid, Rmsg, Stat, Tmsg, decode_r, decode_t, encode_r,
    encode_t, frame_len, read_dir_entries,
};

fn t(frame: &[u8]) -> Result<(u16, Tmsg), DecodeError> {
    decode_t(Bytes::copy_from_slice(frame))
}

fn r(frame: &[u8]) -> Result<(u16, Rmsg), DecodeError> {
    decode_r(Bytes::copy_from_slice(frame))
}

/// A frame of type `ty` and tag 1 around `body`, with a correct size field.
fn frame(ty: u8, body: &[u8]) -> Vec<u8> {
    let size = (HEADER_SIZE + body.len()) as u32;
    let mut v = size.to_le_bytes().to_vec();
    v.push(ty);
    v.extend_from_slice(&[1, 0]);
    v.extend_from_slice(body);
    v
}

/// s[2]
fn s(text: &[u8]) -> Vec<u8> {
    let mut v = (text.len() as u16).to_le_bytes().to_vec();
    v.extend_from_slice(text);
    v
}

fn enc_t(msg: &Tmsg) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_t(1, msg, &mut buf, false);
    buf.to_vec()
}

fn enc_r(msg: &Rmsg) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode_r(1, msg, &mut buf, false);
    buf.to_vec()
}

/// Overwrites the size field with the frame's real length.
fn fix_size(mut v: Vec<u8>) -> Vec<u8> {
    let n = v.len() as u32;
    v[..4].copy_from_slice(&n.to_le_bytes());
    v
}

fn sample_stat() -> Stat {
    Stat {
        ty: 1,
        dev: 2,
        qid: Qid::default(),
        mode: 0o644,
        atime: 3,
        mtime: 4,
        length: 5,
        name: "name".into(),
        uid: "uid".into(),
        gid: "gid".into(),
        muid: "muid".into(),
    }
}

fn sample_t() -> Vec<Tmsg> {
    vec![
        Tmsg::Version {
            msize: 8192,
            version: "9P2000".into(),
        },
        Tmsg::Auth {
            afid: 1,
            uname: "u".into(),
            aname: "a".into(),
        },
        Tmsg::Attach {
            fid: 1,
            afid: 2,
            uname: "u".into(),
            aname: "a".into(),
        },
        Tmsg::Flush { oldtag: 1 },
        Tmsg::Walk {
            fid: 1,
            newfid: 2,
            wnames: vec!["a".into(), "bc".into()],
        },
        Tmsg::Open { fid: 1, mode: 0 },
        Tmsg::Create {
            fid: 1,
            name: "n".into(),
            perm: 0o644,
            mode: 1,
        },
        Tmsg::Read {
            fid: 1,
            offset: 2,
            count: 3,
        },
        Tmsg::Write {
            fid: 1,
            offset: 2,
            data: Bytes::from_static(b"xyz"),
        },
        Tmsg::Clunk { fid: 1 },
        Tmsg::Remove { fid: 1 },
        Tmsg::Stat { fid: 1 },
        Tmsg::Wstat {
            fid: 1,
            stat: sample_stat(),
        },
    ]
}

fn sample_r() -> Vec<Rmsg> {
    let qid = Qid::default();
    vec![
        Rmsg::Version {
            msize: 8192,
            version: "9P2000".into(),
        },
        Rmsg::Auth { aqid: qid },
        Rmsg::Attach { qid },
        Rmsg::Error { ename: "e".into() },
        Rmsg::Flush,
        Rmsg::Walk {
            wqids: vec![qid, qid],
        },
        Rmsg::Open { qid, iounit: 1 },
        Rmsg::Create { qid, iounit: 1 },
        Rmsg::Read {
            data: Bytes::from_static(b"xyz"),
        },
        Rmsg::Write { count: 3 },
        Rmsg::Clunk,
        Rmsg::Remove,
        Rmsg::Stat {
            stat: sample_stat(),
        },
        Rmsg::Wstat,
    ]
}

// ---------------------------------------------------------------------------------------
// Truncation and the size field

#[test]
fn every_prefix_of_every_message_is_truncated() {
    for msg in sample_t() {
        let wire = enc_t(&msg);
        assert_eq!(t(&wire), Ok((1, msg.clone())));
        for n in 0..wire.len() {
            assert_eq!(
                t(&wire[..n]),
                Err(DecodeError::Truncated),
                "{msg:?} cut to {n}"
            );
        }
    }
    for msg in sample_r() {
        let wire = enc_r(&msg);
        assert_eq!(r(&wire), Ok((1, msg.clone())));
        for n in 0..wire.len() {
            assert_eq!(
                r(&wire[..n]),
                Err(DecodeError::Truncated),
                "{msg:?} cut to {n}"
            );
        }
    }
}

#[test]
fn body_cut_short_with_a_consistent_size_field_is_truncated() {
    // The size field agrees with the frame, but the body stops inside a field. Messages whose
    // body ends in a counted payload are excluded: cutting them short is a BadCount.
    for msg in sample_t() {
        if matches!(msg, Tmsg::Write { .. }) {
            continue;
        }
        let wire = enc_t(&msg);
        for n in HEADER_SIZE..wire.len() {
            // (A Twstat cut inside its stat has an n[2] larger than what is left.)
            let cut = fix_size(wire[..n].to_vec());
            assert_eq!(t(&cut), Err(DecodeError::Truncated), "{msg:?} cut to {n}");
        }
    }
    for msg in sample_r() {
        if matches!(msg, Rmsg::Read { .. }) {
            continue;
        }
        let wire = enc_r(&msg);
        for n in HEADER_SIZE..wire.len() {
            let cut = fix_size(wire[..n].to_vec());
            assert_eq!(r(&cut), Err(DecodeError::Truncated), "{msg:?} cut to {n}");
        }
    }
}

#[test]
fn shorter_than_a_header() {
    assert_eq!(t(&[]), Err(DecodeError::Truncated));
    assert_eq!(r(&[]), Err(DecodeError::Truncated));
    assert_eq!(t(&[7, 0, 0, 0, 120, 0]), Err(DecodeError::Truncated));
    // A size field of 6 in a 6-byte frame is still too short for type and tag.
    assert_eq!(r(&[6, 0, 0, 0, 109, 0]), Err(DecodeError::Truncated));
}

#[test]
fn size_field_larger_than_frame() {
    let mut wire = vec![12, 0, 0, 0, 120, 1, 0, 2, 0, 0, 0]; // Tclunk claiming 12 bytes
    assert_eq!(t(&wire), Err(DecodeError::Truncated));
    wire[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(t(&wire), Err(DecodeError::Truncated));
    assert_eq!(r(&[8, 0, 0, 0, 109, 1, 0]), Err(DecodeError::Truncated));
}

#[test]
fn size_field_smaller_than_frame() {
    // Two bytes more than the size field admits, whatever they are.
    let wire = [11, 0, 0, 0, 120, 1, 0, 2, 0, 0, 0, 0xde, 0xad];
    assert_eq!(t(&wire), Err(DecodeError::TrailingBytes(2)));
    let wire = [7, 0, 0, 0, 109, 1, 0, 0];
    assert_eq!(r(&wire), Err(DecodeError::TrailingBytes(1)));
    // Size fields below a header, in a frame that is long enough for one.
    assert_eq!(
        r(&[0, 0, 0, 0, 109, 1, 0]),
        Err(DecodeError::TrailingBytes(7))
    );
    assert_eq!(
        r(&[6, 0, 0, 0, 109, 1, 0]),
        Err(DecodeError::TrailingBytes(1))
    );
}

#[test]
fn two_frames_in_one_buffer_is_trailing_bytes() {
    let mut wire = enc_t(&Tmsg::Clunk { fid: 1 });
    wire.extend(enc_t(&Tmsg::Clunk { fid: 2 }));
    assert_eq!(t(&wire), Err(DecodeError::TrailingBytes(11)));
}

#[test]
fn trailing_bytes_inside_a_consistent_frame() {
    // The size field covers the extra bytes, but the message ends before them.
    for msg in sample_t() {
        if matches!(msg, Tmsg::Write { .. }) {
            continue; // its payload runs to the end of the frame by definition
        }
        for extra in 1..=3 {
            let mut wire = enc_t(&msg);
            wire.extend(std::iter::repeat_n(0u8, extra));
            let wire = fix_size(wire);
            assert_eq!(
                t(&wire),
                Err(DecodeError::TrailingBytes(extra)),
                "{msg:?} + {extra}"
            );
        }
    }
    for msg in sample_r() {
        if matches!(msg, Rmsg::Read { .. }) {
            continue;
        }
        for extra in 1..=3 {
            let mut wire = enc_r(&msg);
            wire.extend(std::iter::repeat_n(0xffu8, extra));
            let wire = fix_size(wire);
            assert_eq!(
                r(&wire),
                Err(DecodeError::TrailingBytes(extra)),
                "{msg:?} + {extra}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Walk limits

#[test]
fn twalk_with_seventeen_names() {
    let mut body = vec![1, 0, 0, 0, 2, 0, 0, 0, 17, 0];
    for _ in 0..17 {
        body.extend(s(b"x"));
    }
    assert_eq!(
        t(&frame(110, &body)),
        Err(DecodeError::TooManyWalkElements(17))
    );

    // The count alone is enough to refuse it, before any name is read.
    let body = [1, 0, 0, 0, 2, 0, 0, 0, 17, 0];
    assert_eq!(
        t(&frame(110, &body)),
        Err(DecodeError::TooManyWalkElements(17))
    );
    let body = [1, 0, 0, 0, 2, 0, 0, 0, 0xff, 0xff];
    assert_eq!(
        t(&frame(110, &body)),
        Err(DecodeError::TooManyWalkElements(u16::MAX))
    );
}

#[test]
fn twalk_with_sixteen_names_is_fine() {
    let mut body = vec![1, 0, 0, 0, 2, 0, 0, 0, 16, 0];
    for _ in 0..MAXWELEM {
        body.extend(s(b"x"));
    }
    let (_, msg) = t(&frame(110, &body)).unwrap();
    assert_eq!(
        msg,
        Tmsg::Walk {
            fid: 1,
            newfid: 2,
            wnames: vec!["x".to_string(); MAXWELEM]
        }
    );
}

#[test]
fn twalk_with_fewer_names_than_counted() {
    let mut body = vec![1, 0, 0, 0, 2, 0, 0, 0, 3, 0];
    body.extend(s(b"a"));
    body.extend(s(b"b"));
    assert_eq!(t(&frame(110, &body)), Err(DecodeError::Truncated));
}

#[test]
fn twalk_with_more_names_than_counted() {
    let mut body = vec![1, 0, 0, 0, 2, 0, 0, 0, 1, 0];
    body.extend(s(b"a"));
    body.extend(s(b"b"));
    assert_eq!(t(&frame(110, &body)), Err(DecodeError::TrailingBytes(3)));
}

#[test]
fn rwalk_with_seventeen_qids() {
    let mut body = vec![17, 0];
    body.extend(std::iter::repeat_n(0u8, 17 * Qid::SIZE));
    assert_eq!(
        r(&frame(111, &body)),
        Err(DecodeError::TooManyWalkElements(17))
    );
    assert_eq!(
        r(&frame(111, &[17, 0])),
        Err(DecodeError::TooManyWalkElements(17))
    );

    let mut body = vec![16, 0];
    body.extend(std::iter::repeat_n(0u8, 16 * Qid::SIZE));
    assert_eq!(
        r(&frame(111, &body)),
        Ok((
            1,
            Rmsg::Walk {
                wqids: vec![Qid::default(); 16]
            }
        ))
    );
}

#[test]
fn rwalk_with_a_partial_qid() {
    let mut body = vec![1, 0];
    body.extend([0u8; Qid::SIZE - 1]);
    assert_eq!(r(&frame(111, &body)), Err(DecodeError::Truncated));
}

// ---------------------------------------------------------------------------------------
// Counted payloads

/// fid[4] offset[8] count[4] data
fn twrite_body(count: u32, data: &[u8]) -> Vec<u8> {
    let mut b = vec![1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend(count.to_le_bytes());
    b.extend_from_slice(data);
    b
}

fn rread_body(count: u32, data: &[u8]) -> Vec<u8> {
    let mut b = count.to_le_bytes().to_vec();
    b.extend_from_slice(data);
    b
}

#[test]
fn twrite_count_larger_than_data() {
    for (count, data) in [(4, &b"abc"[..]), (1, b""), (u32::MAX, b"abc")] {
        assert_eq!(
            t(&frame(118, &twrite_body(count, data))),
            Err(DecodeError::BadCount { count }),
            "count {count}, {} bytes",
            data.len()
        );
    }
}

#[test]
fn twrite_count_smaller_than_data() {
    for (count, data) in [(2, &b"abc"[..]), (0, b"a")] {
        assert_eq!(
            t(&frame(118, &twrite_body(count, data))),
            Err(DecodeError::BadCount { count })
        );
    }
    assert_eq!(
        t(&frame(118, &twrite_body(3, b"abc"))).unwrap().1,
        Tmsg::Write {
            fid: 1,
            offset: 0,
            data: Bytes::from_static(b"abc")
        }
    );
}

#[test]
fn rread_count_larger_than_data() {
    for (count, data) in [(6, &b"hello"[..]), (1, b""), (u32::MAX, b"x")] {
        assert_eq!(
            r(&frame(117, &rread_body(count, data))),
            Err(DecodeError::BadCount { count })
        );
    }
}

#[test]
fn rread_count_smaller_than_data() {
    for (count, data) in [(4, &b"hello"[..]), (0, b"x")] {
        assert_eq!(
            r(&frame(117, &rread_body(count, data))),
            Err(DecodeError::BadCount { count })
        );
    }
    assert_eq!(
        r(&frame(117, &rread_body(0, b""))).unwrap().1,
        Rmsg::Read { data: Bytes::new() }
    );
}

#[test]
fn payload_missing_its_count() {
    assert_eq!(r(&frame(117, &[5, 0, 0])), Err(DecodeError::Truncated));
    assert_eq!(
        t(&frame(118, &[1, 0, 0, 0, 0, 0, 0, 0])),
        Err(DecodeError::Truncated)
    );
}

// ---------------------------------------------------------------------------------------
// Strings

const BAD_UTF8: &[&[u8]] = &[
    b"\xff",             // never valid
    b"\x80",             // a lone continuation byte
    b"ab\xc3",           // a sequence cut short
    b"\xc0\x80",         // an overlong NUL
    b"\xed\xa0\x80",     // a UTF-16 surrogate
    b"\xf4\x90\x80\x80", // above U+10FFFF
    b"caf\xe9",          // Latin-1, not UTF-8
];

#[test]
fn bad_utf8_in_every_kind_of_string() {
    for bad in BAD_UTF8 {
        // Tversion version
        let mut body = vec![0, 0x20, 0, 0];
        body.extend(s(bad));
        assert_eq!(t(&frame(100, &body)), Err(DecodeError::BadUtf8), "{bad:?}");
        assert_eq!(r(&frame(101, &body)), Err(DecodeError::BadUtf8), "{bad:?}");
        // Tattach aname
        let mut body = vec![1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        body.extend(s(b"glenda"));
        body.extend(s(bad));
        assert_eq!(t(&frame(104, &body)), Err(DecodeError::BadUtf8), "{bad:?}");
        // Tauth uname
        let mut body = vec![1, 0, 0, 0];
        body.extend(s(bad));
        body.extend(s(b""));
        assert_eq!(t(&frame(102, &body)), Err(DecodeError::BadUtf8), "{bad:?}");
        // Twalk, the second name
        let mut body = vec![1, 0, 0, 0, 2, 0, 0, 0, 2, 0];
        body.extend(s(b"ok"));
        body.extend(s(bad));
        assert_eq!(t(&frame(110, &body)), Err(DecodeError::BadUtf8), "{bad:?}");
        // Tcreate name
        let mut body = vec![1, 0, 0, 0];
        body.extend(s(bad));
        body.extend([0xa4, 1, 0, 0, 0]);
        assert_eq!(t(&frame(114, &body)), Err(DecodeError::BadUtf8), "{bad:?}");
        // Rerror ename
        assert_eq!(
            r(&frame(107, &s(bad))),
            Err(DecodeError::BadUtf8),
            "{bad:?}"
        );
        // Each of the four strings of a stat entry, in Rstat and in Twstat.
        for which in 0..4 {
            let entry = stat_entry_with_strings(which, bad);
            let mut body = ((entry.len()) as u16).to_le_bytes().to_vec();
            body.extend(&entry);
            assert_eq!(
                r(&frame(125, &body)),
                Err(DecodeError::BadUtf8),
                "{bad:?} #{which}"
            );
            let mut tbody = vec![1, 0, 0, 0];
            tbody.extend(&body);
            assert_eq!(
                t(&frame(126, &tbody)),
                Err(DecodeError::BadUtf8),
                "{bad:?} #{which}"
            );
            assert_eq!(
                Stat::decode(Bytes::from(entry.clone())),
                Err(DecodeError::BadUtf8)
            );
            assert_eq!(
                read_dir_entries(Bytes::from(entry)),
                Err(DecodeError::BadUtf8)
            );
        }
    }
}

/// A stat entry with a correct size[2] whose string number `which` (name, uid, gid, muid)
/// is `bad` and the others "x".
fn stat_entry_with_strings(which: usize, bad: &[u8]) -> Vec<u8> {
    let mut rest = vec![0u8; 39];
    for i in 0..4 {
        rest.extend(s(if i == which { bad } else { b"x" }));
    }
    let mut e = (rest.len() as u16).to_le_bytes().to_vec();
    e.extend(rest);
    e
}

#[test]
fn string_longer_than_the_frame() {
    let mut body = vec![0, 0x20, 0, 0];
    body.extend([7, 0]);
    body.extend(b"9P2000"); // one byte short
    assert_eq!(t(&frame(100, &body)), Err(DecodeError::Truncated));
    assert_eq!(
        r(&frame(107, &[0xff, 0xff, b'a'])),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn nul_and_other_controls_are_valid_utf8() {
    // 9P forbids NUL in strings, but refusing it is the file server's business; the codec
    // passes it through unchanged.
    let wire = frame(107, &s(b"a\0b\x7f"));
    assert_eq!(
        r(&wire),
        Ok((
            1,
            Rmsg::Error {
                ename: "a\0b\x7f".into()
            }
        ))
    );
}

// ---------------------------------------------------------------------------------------
// Message types

#[test]
fn unknown_types() {
    // 106 is Terror, which does not exist; 0, 99, 128, 200 and 255 are not 9P2000.
    for ty in [0u8, 1, 99, 106, 128, 200, 255] {
        let wire = frame(ty, &[]);
        assert_eq!(t(&wire), Err(DecodeError::UnknownType(ty)), "type {ty}");
        assert_eq!(r(&wire), Err(DecodeError::UnknownType(ty)), "type {ty}");
        // Unknown with a body too: the type is judged before the body.
        let wire = frame(ty, &[1, 2, 3, 4, 5]);
        assert_eq!(t(&wire), Err(DecodeError::UnknownType(ty)));
        assert_eq!(r(&wire), Err(DecodeError::UnknownType(ty)));
    }
}

#[test]
fn t_and_r_types_are_not_interchangeable() {
    for ty in (100u8..=126).step_by(2) {
        assert_eq!(r(&frame(ty, &[0; 64])), Err(DecodeError::UnknownType(ty)));
    }
    for ty in (101u8..=127).step_by(2) {
        assert_eq!(t(&frame(ty, &[0; 64])), Err(DecodeError::UnknownType(ty)));
    }
    // Terror is refused by both sides, even though Rerror is 107.
    assert_eq!(
        t(&frame(106, &s(b"no"))),
        Err(DecodeError::UnknownType(106))
    );
}

// ---------------------------------------------------------------------------------------
// Stat entries

fn rstat_frame(n: u16, entry: &[u8]) -> Vec<u8> {
    let mut body = n.to_le_bytes().to_vec();
    body.extend_from_slice(entry);
    frame(125, &body)
}

fn twstat_frame(n: u16, entry: &[u8]) -> Vec<u8> {
    let mut body = vec![1, 0, 0, 0];
    body.extend(n.to_le_bytes());
    body.extend_from_slice(entry);
    frame(126, &body)
}

fn good_entry() -> Vec<u8> {
    let mut e = BytesMut::new();
    sample_stat().encode(&mut e);
    e.to_vec()
}

#[test]
fn stat_entry_sizes_that_agree() {
    let e = good_entry();
    let n = e.len() as u16;
    assert_eq!(
        r(&rstat_frame(n, &e)),
        Ok((
            1,
            Rmsg::Stat {
                stat: sample_stat()
            }
        ))
    );
    assert_eq!(
        t(&twstat_frame(n, &e)),
        Ok((
            1,
            Tmsg::Wstat {
                fid: 1,
                stat: sample_stat()
            }
        ))
    );
}

#[test]
fn stat_entry_inner_size_too_small() {
    let mut e = good_entry();
    let inner = e.len() - 2; // what size[2] should say
    let n = e.len() as u16;
    for less in [1usize, 2, inner] {
        let declared = inner - less;
        e[..2].copy_from_slice(&(declared as u16).to_le_bytes());
        let want = DecodeError::BadStatSize {
            declared,
            actual: inner,
        };
        assert_eq!(r(&rstat_frame(n, &e)), Err(want.clone()));
        assert_eq!(t(&twstat_frame(n, &e)), Err(want.clone()));
        assert_eq!(Stat::decode(Bytes::from(e.clone())), Err(want));
    }
}

#[test]
fn stat_entry_inner_size_too_large() {
    // A size[2] running past the end of the frame cannot be satisfied.
    let mut e = good_entry();
    let n = e.len() as u16;
    let inner = e.len() - 2;
    e[..2].copy_from_slice(&((inner + 1) as u16).to_le_bytes());
    assert_eq!(r(&rstat_frame(n, &e)), Err(DecodeError::Truncated));
    assert_eq!(t(&twstat_frame(n, &e)), Err(DecodeError::Truncated));
    assert_eq!(
        Stat::decode(Bytes::from(e.clone())),
        Err(DecodeError::Truncated)
    );

    // Inside a directory read, a larger size[2] followed by more entries is a size mismatch.
    let mut data = e.clone();
    data.extend(good_entry());
    assert_eq!(
        read_dir_entries(Bytes::from(data)),
        Err(DecodeError::BadStatSize {
            declared: inner + 1,
            actual: inner
        })
    );
}

#[test]
fn stat_count_disagrees_with_entry() {
    let e = good_entry();
    let len = e.len();
    // n[2] smaller than the entry: the entry is whole, but n does not describe it.
    for n in [len - 1, 0] {
        assert_eq!(
            r(&rstat_frame(n as u16, &e)),
            Err(DecodeError::BadStatSize {
                declared: n,
                actual: len
            }),
            "n = {n}"
        );
        assert_eq!(
            t(&twstat_frame(n as u16, &e)),
            Err(DecodeError::BadStatSize {
                declared: n,
                actual: len
            })
        );
    }
    // n[2] larger than what is left of the frame.
    assert_eq!(
        r(&rstat_frame(len as u16 + 1, &e)),
        Err(DecodeError::Truncated)
    );
    assert_eq!(t(&twstat_frame(u16::MAX, &e)), Err(DecodeError::Truncated));
    // n[2] counting the entry without its own size[2] (a classic off-by-two).
    assert_eq!(
        r(&rstat_frame(len as u16 - 2, &e)),
        Err(DecodeError::BadStatSize {
            declared: len - 2,
            actual: len
        })
    );
}

#[test]
fn stat_with_trailing_bytes() {
    let mut e = good_entry();
    e.push(0);
    // n and the entry agree, but a byte follows the stat in the frame.
    assert_eq!(
        r(&rstat_frame(e.len() as u16 - 1, &e)),
        Err(DecodeError::TrailingBytes(1))
    );
    assert_eq!(
        Stat::decode(Bytes::from(e)),
        Err(DecodeError::TrailingBytes(1))
    );
}

#[test]
fn stat_entry_cut_short() {
    let e = good_entry();
    for cut in 0..e.len() {
        assert_eq!(
            Stat::decode(Bytes::copy_from_slice(&e[..cut])),
            Err(DecodeError::Truncated),
            "cut to {cut}"
        );
        assert_eq!(
            read_dir_entries(Bytes::copy_from_slice(&e[..cut])).map(|v| v.len()),
            if cut == 0 {
                Ok(0)
            } else {
                Err(DecodeError::Truncated)
            },
            "cut to {cut}"
        );
    }
    // A whole entry followed by part of another.
    let mut data = e.clone();
    data.extend_from_slice(&e[..10]);
    assert_eq!(
        read_dir_entries(Bytes::from(data)),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn stat_entry_strings_overrunning_its_size() {
    // size[2] is right for a stat with empty strings, but the name is not empty: the strings
    // read past the end of what size[2] declared.
    let mut e = vec![0u8; 2 + 39];
    e.extend(s(b"abc"));
    e.extend([0; 6]);
    let actual = e.len() - 2;
    let declared = actual - 3;
    e[..2].copy_from_slice(&(declared as u16).to_le_bytes());
    assert_eq!(
        Stat::decode(Bytes::from(e)),
        Err(DecodeError::BadStatSize { declared, actual })
    );
}

// ---------------------------------------------------------------------------------------
// frame_len

#[test]
fn frame_len_needs_four_bytes() {
    for n in 0..4 {
        assert_eq!(
            frame_len(&[0x10, 0, 0, 0][..n], 8192),
            Ok(None),
            "{n} bytes"
        );
    }
    // Four bytes are enough to know the length, even though the frame has not all arrived.
    assert_eq!(frame_len(&[0x10, 0, 0, 0], 8192), Ok(Some(16)));
    assert_eq!(frame_len(&[0x10, 0, 0, 0, 117, 0], 8192), Ok(Some(16)));
    // Bytes after the first frame are not its business.
    assert_eq!(
        frame_len(&[7, 0, 0, 0, 109, 0, 0, 9, 9, 9, 9], 8192),
        Ok(Some(7))
    );
}

#[test]
fn frame_len_too_small() {
    for size in 0..HEADER_SIZE as u32 {
        assert_eq!(
            frame_len(&size.to_le_bytes(), 8192),
            Err(DecodeError::TooSmall(size))
        );
    }
    assert_eq!(frame_len(&[7, 0, 0, 0], 8192), Ok(Some(HEADER_SIZE)));
    // Too small is judged before too large, even with a silly max.
    assert_eq!(frame_len(&[3, 0, 0, 0], 0), Err(DecodeError::TooSmall(3)));
}

#[test]
fn frame_len_too_large() {
    let max: u32 = 8192;
    assert_eq!(frame_len(&max.to_le_bytes(), max), Ok(Some(8192)));
    assert_eq!(
        frame_len(&(max + 1).to_le_bytes(), max),
        Err(DecodeError::TooLarge {
            size: 8193,
            max: 8192
        })
    );
    assert_eq!(
        frame_len(&u32::MAX.to_le_bytes(), max),
        Err(DecodeError::TooLarge {
            size: u64::from(u32::MAX),
            max
        })
    );
    assert_eq!(
        frame_len(&u32::MAX.to_le_bytes(), u32::MAX),
        Ok(Some(u32::MAX as usize))
    );
    // Little-endian: 00 01 00 00 is 256, not 65536.
    assert_eq!(frame_len(&[0, 1, 0, 0], 256), Ok(Some(256)));
    assert_eq!(
        frame_len(&[0, 0, 1, 0], 65535),
        Err(DecodeError::TooLarge {
            size: 65536,
            max: 65535
        })
    );
}

#[test]
fn errors_display_something_useful() {
    let cases = [
        (DecodeError::Truncated, "short"),
        (DecodeError::TooLarge { size: 9, max: 8 }, "9"),
        (DecodeError::TooSmall(3), "3"),
        (DecodeError::UnknownType(106), "106"),
        (DecodeError::TrailingBytes(2), "2"),
        (DecodeError::BadUtf8, "UTF-8"),
        (DecodeError::TooManyWalkElements(17), "17"),
        (
            DecodeError::BadStatSize {
                declared: 5,
                actual: 6,
            },
            "5",
        ),
        (DecodeError::BadCount { count: 77 }, "77"),
    ];
    for (e, needle) in cases {
        let text = e.to_string();
        assert!(text.contains(needle), "{e:?} displays as {text:?}");
    }
}
