//! Golden-byte tests: every 9P2000 message, written out by hand in the wire format of
//! intro(5), must decode to the expected value, and that value must encode to exactly the
//! same bytes.
//!
//! Every frame is size[4] type[1] tag[2] body, all integers little-endian; strings are s[2]
//! (a byte count, then UTF-8 with no NUL); a qid is type[1] vers[4] path[8]; stat[n] in Rstat
//! and Twstat is n[2] followed by a stat entry, which begins with its own size[2] (= n - 2).
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use ninefold_proto::{
    DecodeError, HEADER_SIZE, MsgType, NOFID, NOTAG, Qid, QidType, Rmsg, Stat, Tmsg, decode_r,
    decode_t, dm, encode_r, encode_t, frame_len, om, read_dir_entries,
};

/// Concatenates hand-written pieces: numbers as byte arrays, strings as byte literals.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn encode_t_vec(tag: u16, msg: &Tmsg, split: bool) -> (Vec<u8>, Option<Bytes>) {
    let mut buf = BytesMut::new();
    let payload = encode_t(tag, msg, &mut buf, split);
    (buf.to_vec(), payload)
}

fn encode_r_vec(tag: u16, msg: &Rmsg, split: bool) -> (Vec<u8>, Option<Bytes>) {
    let mut buf = BytesMut::new();
    let payload = encode_r(tag, msg, &mut buf, split);
    (buf.to_vec(), payload)
}

/// `wire` decodes to `(tag, msg)`, and `(tag, msg)` encodes to `wire` (with and without the
/// payload split, which only differs for Twrite); the frame is also self-delimiting.
#[track_caller]
fn golden_t(wire: &[u8], tag: u16, msg: Tmsg) {
    assert_eq!(
        u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize,
        wire.len(),
        "test bug: size field of the golden frame is wrong"
    );
    assert_eq!(wire[4], msg.msg_type() as u8, "test bug: wrong type byte");
    assert_eq!(frame_len(wire, u32::MAX), Ok(Some(wire.len())));
    assert_eq!(
        decode_t(Bytes::copy_from_slice(wire)),
        Ok((tag, msg.clone()))
    );
    let (bytes, payload) = encode_t_vec(tag, &msg, false);
    assert_eq!(bytes, wire, "encode_t({msg:?})");
    assert_eq!(payload, None);
    if !matches!(msg, Tmsg::Write { .. }) {
        let (bytes, payload) = encode_t_vec(tag, &msg, true);
        assert_eq!(bytes, wire, "encode_t({msg:?}, split)");
        assert_eq!(payload, None, "only Twrite has a payload to split");
    }
    // An R-decoder must refuse a T-message.
    assert_eq!(
        decode_r(Bytes::copy_from_slice(wire)),
        Err(DecodeError::UnknownType(wire[4]))
    );
}

#[track_caller]
fn golden_r(wire: &[u8], tag: u16, msg: Rmsg) {
    assert_eq!(
        u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize,
        wire.len(),
        "test bug: size field of the golden frame is wrong"
    );
    assert_eq!(wire[4], msg.msg_type() as u8, "test bug: wrong type byte");
    assert_eq!(frame_len(wire, u32::MAX), Ok(Some(wire.len())));
    assert_eq!(
        decode_r(Bytes::copy_from_slice(wire)),
        Ok((tag, msg.clone()))
    );
    let (bytes, payload) = encode_r_vec(tag, &msg, false);
    assert_eq!(bytes, wire, "encode_r({msg:?})");
    assert_eq!(payload, None);
    if !matches!(msg, Rmsg::Read { .. }) {
        let (bytes, payload) = encode_r_vec(tag, &msg, true);
        assert_eq!(bytes, wire, "encode_r({msg:?}, split)");
        assert_eq!(payload, None, "only Rread has a payload to split");
    }
    // A T-decoder must refuse an R-message.
    assert_eq!(
        decode_t(Bytes::copy_from_slice(wire)),
        Err(DecodeError::UnknownType(wire[4]))
    );
}

// ---------------------------------------------------------------------------------------
// The stat entries used below, with their wire forms.

/// A regular append-only file with every numeric field distinct, so byte order shows.
fn file_stat() -> Stat {
    Stat {
        ty: 0x0102,
        dev: 0x0304_0506,
        qid: Qid {
            ty: QidType::APPEND,
            version: 0x0708_090a,
            path: 0x1112_1314_1516_1718,
        },
        mode: dm::DMAPPEND | 0o664,
        atime: 0x2122_2324,
        mtime: 0x3132_3334,
        length: 0x4142_4344_4546_4748,
        name: "glenda".into(),
        uid: "glenda".into(),
        gid: "sys".into(),
        muid: "bootes".into(),
    }
}

/// The stat entry of [`file_stat`]: size[2] = 68, then 68 bytes.
fn file_stat_wire() -> Vec<u8> {
    cat(&[
        &[68, 0],                                          // size[2]: 2+4+13+4+4+4+8 + 8+8+5+8
        &[0x02, 0x01],                                     // type[2]
        &[0x06, 0x05, 0x04, 0x03],                         // dev[4]
        &[0x40],                                           // qid.type[1]: QTAPPEND
        &[0x0a, 0x09, 0x08, 0x07],                         // qid.vers[4]
        &[0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11], // qid.path[8]
        &[0xb4, 0x01, 0x00, 0x40],                         // mode[4]: DMAPPEND|0664
        &[0x24, 0x23, 0x22, 0x21],                         // atime[4]
        &[0x34, 0x33, 0x32, 0x31],                         // mtime[4]
        &[0x48, 0x47, 0x46, 0x45, 0x44, 0x43, 0x42, 0x41], // length[8]
        &[6, 0],
        b"glenda", // name[s]
        &[6, 0],
        b"glenda", // uid[s]
        &[3, 0],
        b"sys", // gid[s]
        &[6, 0],
        b"bootes", // muid[s]
    ])
}

/// A directory with a non-ASCII name.
fn dir_stat() -> Stat {
    Stat {
        ty: 0,
        dev: 0,
        qid: Qid {
            ty: QidType::DIR,
            version: 1,
            path: 2,
        },
        mode: dm::DMDIR | 0o755,
        atime: 3,
        mtime: 4,
        length: 0,
        name: "café".into(),
        uid: "u".into(),
        gid: "g".into(),
        muid: String::new(),
    }
}

fn dir_stat_wire() -> Vec<u8> {
    cat(&[
        &[54, 0],      // size[2]: 39 + (2+5) + (2+1) + (2+1) + 2
        &[0, 0],       // type[2]
        &[0, 0, 0, 0], // dev[4]
        &[0x80],       // qid.type: QTDIR
        &[1, 0, 0, 0],
        &[2, 0, 0, 0, 0, 0, 0, 0],
        &[0xed, 0x01, 0x00, 0x80], // mode: DMDIR|0755
        &[3, 0, 0, 0],
        &[4, 0, 0, 0],
        &[0, 0, 0, 0, 0, 0, 0, 0],
        &[5, 0],
        b"caf\xc3\xa9", // "café": five bytes of UTF-8
        &[1, 0],
        b"u",
        &[1, 0],
        b"g",
        &[0, 0], // muid: empty
    ])
}

#[test]
fn stat_entries_alone() {
    for (st, wire) in [
        (file_stat(), file_stat_wire()),
        (dir_stat(), dir_stat_wire()),
    ] {
        assert_eq!(st.size(), wire.len());
        let mut buf = BytesMut::new();
        st.encode(&mut buf);
        assert_eq!(&buf[..], &wire[..]);
        assert_eq!(Stat::decode(Bytes::from(wire)), Ok(st));
    }
    assert!(dir_stat().is_dir());
    assert!(!file_stat().is_dir());
}

#[test]
fn directory_read_data_is_concatenated_stat_entries() {
    let data = cat(&[&dir_stat_wire(), &file_stat_wire()]);
    assert_eq!(
        read_dir_entries(Bytes::from(data)),
        Ok(vec![dir_stat(), file_stat()])
    );
    assert_eq!(read_dir_entries(Bytes::new()), Ok(vec![]));
}

// ---------------------------------------------------------------------------------------
// version, auth, attach, error, flush

#[test]
fn tversion() {
    let wire = cat(&[
        &[19, 0, 0, 0],
        &[100],
        &[0xff, 0xff],             // NOTAG
        &[0x00, 0x20, 0x00, 0x00], // msize 8192
        &[6, 0],
        b"9P2000",
    ]);
    let msg = Tmsg::Version {
        msize: 8192,
        version: "9P2000".into(),
    };
    golden_t(&wire, NOTAG, msg);
}

#[test]
fn rversion() {
    let wire = cat(&[
        &[19, 0, 0, 0],
        &[101],
        &[0xff, 0xff],
        &[0x00, 0x00, 0x80, 0x00], // msize 8 MiB
        &[6, 0],
        b"9P2000",
    ]);
    let msg = Rmsg::Version {
        msize: 8 * 1024 * 1024,
        version: "9P2000".into(),
    };
    golden_r(&wire, NOTAG, msg);
}

#[test]
fn rversion_unknown() {
    let wire = cat(&[
        &[20, 0, 0, 0],
        &[101],
        &[0xff, 0xff],
        &[0, 0x20, 0, 0],
        &[7, 0],
        b"unknown",
    ]);
    let msg = Rmsg::Version {
        msize: 8192,
        version: "unknown".into(),
    };
    golden_r(&wire, NOTAG, msg);
}

#[test]
fn tauth() {
    let wire = cat(&[
        &[21, 0, 0, 0],
        &[102],
        &[1, 0],
        &[5, 0, 0, 0], // afid
        &[6, 0],
        b"glenda",
        &[0, 0], // aname: empty
    ]);
    let msg = Tmsg::Auth {
        afid: 5,
        uname: "glenda".into(),
        aname: String::new(),
    };
    golden_t(&wire, 1, msg);
}

#[test]
fn rauth() {
    let wire = cat(&[
        &[20, 0, 0, 0],
        &[103],
        &[1, 0],
        &[0x08], // QTAUTH
        &[0, 0, 0, 0],
        &[0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01],
    ]);
    let msg = Rmsg::Auth {
        aqid: Qid {
            ty: QidType::AUTH,
            version: 0,
            path: 0x0102_0304_0506_0708,
        },
    };
    golden_r(&wire, 1, msg);
}

#[test]
fn tattach() {
    let wire = cat(&[
        &[26, 0, 0, 0],
        &[104],
        &[2, 0],
        &[1, 0, 0, 0],             // fid
        &[0xff, 0xff, 0xff, 0xff], // afid: NOFID
        &[6, 0],
        b"glenda",
        &[1, 0],
        b"/",
    ]);
    let msg = Tmsg::Attach {
        fid: 1,
        afid: NOFID,
        uname: "glenda".into(),
        aname: "/".into(),
    };
    golden_t(&wire, 2, msg);
}

#[test]
fn rattach() {
    let wire = cat(&[
        &[20, 0, 0, 0],
        &[105],
        &[2, 0],
        &[0x80],
        &[7, 0, 0, 0],
        &[1, 0, 0, 0, 0, 0, 0, 0],
    ]);
    let msg = Rmsg::Attach {
        qid: Qid {
            ty: QidType::DIR,
            version: 7,
            path: 1,
        },
    };
    golden_r(&wire, 2, msg);
}

#[test]
fn rerror() {
    let wire = cat(&[
        &[28, 0, 0, 0],
        &[107],
        &[3, 0],
        &[19, 0],
        b"file does not exist",
    ]);
    let msg = Rmsg::Error {
        ename: "file does not exist".into(),
    };
    golden_r(&wire, 3, msg);
}

#[test]
fn rerror_non_ascii_and_empty() {
    // "ñ" is c3 b1, "✓" is e2 9c 93: seven bytes for four characters.
    let wire = cat(&[
        &[16, 0, 0, 0],
        &[107],
        &[0x34, 0x12],
        &[7, 0],
        b"\xc3\xb1o \xe2\x9c\x93",
    ]);
    let msg = Rmsg::Error {
        ename: "ño ✓".into(),
    };
    golden_r(&wire, 0x1234, msg);

    let wire = [9, 0, 0, 0, 107, 0, 0, 0, 0];
    golden_r(
        &wire,
        0,
        Rmsg::Error {
            ename: String::new(),
        },
    );
}

#[test]
fn tflush() {
    let wire = [9, 0, 0, 0, 108, 4, 0, 3, 0];
    golden_t(&wire, 4, Tmsg::Flush { oldtag: 3 });
}

#[test]
fn rflush() {
    let wire = [7, 0, 0, 0, 109, 4, 0];
    golden_r(&wire, 4, Rmsg::Flush);
}

// ---------------------------------------------------------------------------------------
// walk

#[test]
fn twalk() {
    let wire = cat(&[
        &[30, 0, 0, 0],
        &[110],
        &[5, 0],
        &[1, 0, 0, 0], // fid
        &[2, 0, 0, 0], // newfid
        &[2, 0],       // nwname
        &[3, 0],
        b"usr",
        &[6, 0],
        b"glenda",
    ]);
    let msg = Tmsg::Walk {
        fid: 1,
        newfid: 2,
        wnames: vec!["usr".into(), "glenda".into()],
    };
    golden_t(&wire, 5, msg);
}

#[test]
fn twalk_clone_has_no_names() {
    let wire = [17, 0, 0, 0, 110, 5, 0, 1, 0, 0, 0, 9, 0, 0, 0, 0, 0];
    let msg = Tmsg::Walk {
        fid: 1,
        newfid: 9,
        wnames: vec![],
    };
    golden_t(&wire, 5, msg);
}

#[test]
fn twalk_maxwelem_names() {
    // Sixteen one-letter names "a".."p": the most one walk may carry.
    let mut wire = vec![0, 0, 0, 0, 110, 6, 0, 1, 0, 0, 0, 2, 0, 0, 0, 16, 0];
    let mut wnames = Vec::new();
    for c in b'a'..=b'p' {
        wire.extend_from_slice(&[1, 0, c]);
        wnames.push(char::from(c).to_string());
    }
    assert_eq!(wire.len(), 17 + 16 * 3);
    wire[0] = 65;
    let msg = Tmsg::Walk {
        fid: 1,
        newfid: 2,
        wnames,
    };
    golden_t(&wire, 6, msg);
}

#[test]
fn rwalk() {
    let wire = cat(&[
        &[35, 0, 0, 0],
        &[111],
        &[5, 0],
        &[2, 0], // nwqid
        &[0x80],
        &[0, 0, 0, 0],
        &[0x10, 0, 0, 0, 0, 0, 0, 0],
        &[0x00],
        &[3, 0, 0, 0],
        &[0x11, 0, 0, 0, 0, 0, 0, 0],
    ]);
    let msg = Rmsg::Walk {
        wqids: vec![
            Qid {
                ty: QidType::DIR,
                version: 0,
                path: 0x10,
            },
            Qid {
                ty: QidType::FILE,
                version: 3,
                path: 0x11,
            },
        ],
    };
    golden_r(&wire, 5, msg);
}

#[test]
fn rwalk_empty() {
    let wire = [9, 0, 0, 0, 111, 5, 0, 0, 0];
    golden_r(&wire, 5, Rmsg::Walk { wqids: vec![] });
}

// ---------------------------------------------------------------------------------------
// open, create

#[test]
fn topen() {
    let wire = [12, 0, 0, 0, 112, 6, 0, 2, 0, 0, 0, 0x12];
    let msg = Tmsg::Open {
        fid: 2,
        mode: om::ORDWR | om::OTRUNC,
    };
    golden_t(&wire, 6, msg);
}

#[test]
fn ropen() {
    let wire = cat(&[
        &[24, 0, 0, 0],
        &[113],
        &[6, 0],
        &[0x00],
        &[3, 0, 0, 0],
        &[0x11, 0, 0, 0, 0, 0, 0, 0],
        &[0xe8, 0x1f, 0, 0], // iounit 8168
    ]);
    let msg = Rmsg::Open {
        qid: Qid {
            ty: QidType::FILE,
            version: 3,
            path: 0x11,
        },
        iounit: 8168,
    };
    golden_r(&wire, 6, msg);
}

#[test]
fn tcreate() {
    let wire = cat(&[
        &[25, 0, 0, 0],
        &[114],
        &[7, 0],
        &[2, 0, 0, 0],
        &[7, 0],
        b"new.txt",
        &[0xa4, 0x01, 0, 0], // perm 0644
        &[0x01],             // OWRITE
    ]);
    let msg = Tmsg::Create {
        fid: 2,
        name: "new.txt".into(),
        perm: 0o644,
        mode: om::OWRITE,
    };
    golden_t(&wire, 7, msg);
}

#[test]
fn tcreate_directory() {
    let wire = cat(&[
        &[21, 0, 0, 0],
        &[114],
        &[8, 0],
        &[2, 0, 0, 0],
        &[3, 0],
        b"dir",
        &[0xed, 0x01, 0x00, 0x80], // DMDIR|0755
        &[0x00],                   // OREAD
    ]);
    let msg = Tmsg::Create {
        fid: 2,
        name: "dir".into(),
        perm: dm::DMDIR | 0o755,
        mode: om::OREAD,
    };
    golden_t(&wire, 8, msg);
}

#[test]
fn rcreate() {
    let wire = cat(&[
        &[24, 0, 0, 0],
        &[115],
        &[7, 0],
        &[0x00],
        &[0, 0, 0, 0],
        &[0x12, 0, 0, 0, 0, 0, 0, 0],
        &[0, 0, 0, 0], // iounit 0: no limit beyond msize
    ]);
    let msg = Rmsg::Create {
        qid: Qid {
            ty: QidType::FILE,
            version: 0,
            path: 0x12,
        },
        iounit: 0,
    };
    golden_r(&wire, 7, msg);
}

// ---------------------------------------------------------------------------------------
// read, write

#[test]
fn tread() {
    let wire = cat(&[
        &[23, 0, 0, 0],
        &[116],
        &[8, 0],
        &[2, 0, 0, 0],
        &[0, 0, 0, 0, 1, 0, 0, 0], // offset 4 GiB
        &[0x00, 0x10, 0, 0],       // count 4096
    ]);
    let msg = Tmsg::Read {
        fid: 2,
        offset: 1 << 32,
        count: 4096,
    };
    golden_t(&wire, 8, msg);
}

fn rread_wire() -> Vec<u8> {
    cat(&[&[16, 0, 0, 0], &[117], &[8, 0], &[5, 0, 0, 0], b"hello"])
}

#[test]
fn rread() {
    let msg = Rmsg::Read {
        data: Bytes::from_static(b"hello"),
    };
    golden_r(&rread_wire(), 8, msg);
}

#[test]
fn rread_empty_is_end_of_file() {
    let wire = [11, 0, 0, 0, 117, 8, 0, 0, 0, 0, 0];
    golden_r(&wire, 8, Rmsg::Read { data: Bytes::new() });
}

#[test]
fn rread_split_payload() {
    let wire = rread_wire();
    let msg = Rmsg::Read {
        data: Bytes::from_static(b"hello"),
    };
    let mut buf = BytesMut::new();
    let payload = encode_r(8, &msg, &mut buf, true).unwrap();
    // The header alone is written, but its size counts the payload that follows it.
    assert_eq!(&buf[..], &wire[..11]);
    assert_eq!(&buf[..4], &[16, 0, 0, 0]);
    assert_eq!(&payload[..], b"hello");
    assert_eq!(buf.len() + payload.len(), 16);
    // Not copied: the payload is the caller's own buffer.
    let Rmsg::Read { data } = &msg else {
        unreachable!()
    };
    assert_eq!(payload.as_ptr(), data.as_ptr());
}

#[test]
fn rread_split_payload_empty() {
    let msg = Rmsg::Read { data: Bytes::new() };
    let mut buf = BytesMut::new();
    let payload = encode_r(8, &msg, &mut buf, true);
    assert_eq!(payload, Some(Bytes::new()));
    assert_eq!(&buf[..], &[11, 0, 0, 0, 117, 8, 0, 0, 0, 0, 0]);
}

fn twrite_wire() -> Vec<u8> {
    cat(&[
        &[26, 0, 0, 0],
        &[118],
        &[9, 0],
        &[2, 0, 0, 0],
        &[10, 0, 0, 0, 0, 0, 0, 0],
        &[3, 0, 0, 0],
        b"abc",
    ])
}

#[test]
fn twrite() {
    let msg = Tmsg::Write {
        fid: 2,
        offset: 10,
        data: Bytes::from_static(b"abc"),
    };
    golden_t(&twrite_wire(), 9, msg);
}

#[test]
fn twrite_split_payload() {
    let wire = twrite_wire();
    let data = Bytes::from(b"abc".to_vec());
    let msg = Tmsg::Write {
        fid: 2,
        offset: 10,
        data: data.clone(),
    };
    let mut buf = BytesMut::new();
    let payload = encode_t(9, &msg, &mut buf, true).unwrap();
    assert_eq!(&buf[..], &wire[..23]);
    assert_eq!(&buf[..4], &[26, 0, 0, 0]);
    assert_eq!(payload, data);
    assert_eq!(payload.as_ptr(), data.as_ptr());
}

#[test]
fn decoded_payloads_are_slices_of_the_frame() {
    let frame = Bytes::from(rread_wire());
    let range = frame.as_ptr_range();
    let (_, msg) = decode_r(frame.clone()).unwrap();
    let Rmsg::Read { data } = msg else {
        panic!("not an Rread")
    };
    assert_eq!(data.as_ptr(), range.start.wrapping_add(11));
    assert!(range.contains(&data.as_ptr()));

    let frame = Bytes::from(twrite_wire());
    let start = frame.as_ptr();
    let (_, msg) = decode_t(frame.clone()).unwrap();
    let Tmsg::Write { data, .. } = msg else {
        panic!("not a Twrite")
    };
    assert_eq!(data.as_ptr(), start.wrapping_add(23));
}

#[test]
fn rwrite() {
    let wire = [11, 0, 0, 0, 119, 9, 0, 3, 0, 0, 0];
    golden_r(&wire, 9, Rmsg::Write { count: 3 });
}

// ---------------------------------------------------------------------------------------
// clunk, remove, stat, wstat

#[test]
fn tclunk() {
    let wire = [11, 0, 0, 0, 120, 10, 0, 2, 0, 0, 0];
    golden_t(&wire, 10, Tmsg::Clunk { fid: 2 });
}

#[test]
fn rclunk() {
    golden_r(&[7, 0, 0, 0, 121, 10, 0], 10, Rmsg::Clunk);
}

#[test]
fn tremove() {
    let wire = [11, 0, 0, 0, 122, 11, 0, 3, 0, 0, 0];
    golden_t(&wire, 11, Tmsg::Remove { fid: 3 });
}

#[test]
fn rremove() {
    golden_r(&[7, 0, 0, 0, 123, 11, 0], 11, Rmsg::Remove);
}

#[test]
fn tstat() {
    let wire = [11, 0, 0, 0, 124, 12, 0, 1, 0, 0, 0];
    golden_t(&wire, 12, Tmsg::Stat { fid: 1 });
}

#[test]
fn rstat() {
    let wire = cat(&[
        &[79, 0, 0, 0], // 7 + 2 + 70
        &[125],
        &[12, 0],
        &[70, 0], // n[2]: the entry, including its own size[2]
        &file_stat_wire(),
    ]);
    golden_r(&wire, 12, Rmsg::Stat { stat: file_stat() });
}

#[test]
fn rstat_directory() {
    let wire = cat(&[&[65, 0, 0, 0], &[125], &[12, 0], &[56, 0], &dir_stat_wire()]);
    golden_r(&wire, 12, Rmsg::Stat { stat: dir_stat() });
}

#[test]
fn twstat_full_stat() {
    let wire = cat(&[
        &[83, 0, 0, 0], // 7 + 4 + 2 + 70
        &[126],
        &[13, 0],
        &[4, 0, 0, 0], // fid
        &[70, 0],
        &file_stat_wire(),
    ]);
    let msg = Tmsg::Wstat {
        fid: 4,
        stat: file_stat(),
    };
    golden_t(&wire, 13, msg);
}

#[test]
fn twstat_rename_only() {
    // "Don't touch" everywhere but the name: all-ones numbers, empty strings.
    let wire = cat(&[
        &[69, 0, 0, 0], // 7 + 4 + 2 + 56
        &[126],
        &[13, 0],
        &[4, 0, 0, 0],
        &[56, 0], // n[2]
        &[54, 0], // size[2]
        &[0xff; 2],
        &[0xff; 4],
        &[0xff; 13],
        &[0xff; 4],
        &[0xff; 4],
        &[0xff; 4],
        &[0xff; 8],
        &[7, 0],
        b"renamed",
        &[0, 0],
        &[0, 0],
        &[0, 0],
    ]);
    let stat = Stat {
        name: "renamed".into(),
        ..Stat::dont_touch()
    };
    golden_t(&wire, 13, Tmsg::Wstat { fid: 4, stat });
}

#[test]
fn rwstat() {
    golden_r(&[7, 0, 0, 0, 127, 13, 0], 13, Rmsg::Wstat);
}

// ---------------------------------------------------------------------------------------
// Framing around the messages.

#[test]
fn every_message_type_number() {
    let t = [
        (Tmsg::Flush { oldtag: 0 }.msg_type(), MsgType::Tflush, 108),
        (Tmsg::Clunk { fid: 0 }.msg_type(), MsgType::Tclunk, 120),
        (Tmsg::Remove { fid: 0 }.msg_type(), MsgType::Tremove, 122),
        (Tmsg::Stat { fid: 0 }.msg_type(), MsgType::Tstat, 124),
    ];
    for (got, want, n) in t {
        assert_eq!(got, want);
        assert_eq!(got as u8, n);
    }
    let r = [
        (Rmsg::Flush.msg_type(), MsgType::Rflush, 109),
        (Rmsg::Clunk.msg_type(), MsgType::Rclunk, 121),
        (Rmsg::Remove.msg_type(), MsgType::Rremove, 123),
        (Rmsg::Wstat.msg_type(), MsgType::Rwstat, 127),
    ];
    for (got, want, n) in r {
        assert_eq!(got, want);
        assert_eq!(got as u8, n);
    }
    assert_eq!(MsgType::Tversion as u8, 100);
    assert_eq!(MsgType::Rerror as u8, 107);
    assert_eq!(MsgType::Rwstat as u8, 127);
}

#[test]
fn encoding_appends_after_existing_bytes() {
    // Two frames back to back in one buffer, the second after a Twrite whose payload was
    // split off: each size field is patched at its own frame's start.
    let mut buf = BytesMut::new();
    encode_t(10, &Tmsg::Clunk { fid: 2 }, &mut buf, false);
    let write = Tmsg::Write {
        fid: 2,
        offset: 10,
        data: Bytes::from_static(b"abc"),
    };
    let payload = encode_t(9, &write, &mut buf, true).unwrap();
    buf.extend_from_slice(&payload);
    encode_t(12, &Tmsg::Stat { fid: 1 }, &mut buf, false);
    let want = cat(&[
        &[11, 0, 0, 0, 120, 10, 0, 2, 0, 0, 0],
        &twrite_wire(),
        &[11, 0, 0, 0, 124, 12, 0, 1, 0, 0, 0],
    ]);
    assert_eq!(&buf[..], &want[..]);

    // And frame_len splits the stream back into the same frames.
    let mut stream = buf.freeze();
    let mut got = Vec::new();
    while let Some(n) = frame_len(&stream, 8192).unwrap() {
        assert!(n >= HEADER_SIZE && n <= stream.len());
        got.push(decode_t(stream.split_to(n)).unwrap());
    }
    assert!(stream.is_empty());
    assert_eq!(
        got,
        vec![
            (10, Tmsg::Clunk { fid: 2 }),
            (9, write),
            (12, Tmsg::Stat { fid: 1 })
        ]
    );
}
