//! Property tests: every message survives encode then decode, split or not; the decoders and
//! `frame_len` never panic on anything a peer could send; and what decodes is canonical, so
//! encoding it again gives back exactly the bytes that were received.
#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use ninefold_proto::{
    DecodeError, HEADER_SIZE, MAXWELEM, Qid, QidType, Rmsg, Stat, Tmsg, decode_r, decode_t,
    encode_r, encode_t, frame_len, read_dir_entries,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------
// Strategies

/// Strings of up to a few hundred bytes: printable ASCII, or any Unicode scalar values.
fn arb_string() -> BoxedStrategy<String> {
    prop_oneof![
        vec(prop::char::range(' ', '~'), 0..=300).prop_map(String::from_iter),
        vec(any::<char>(), 0..=80).prop_map(String::from_iter),
        Just(String::new()),
    ]
    .boxed()
}

fn arb_bytes() -> BoxedStrategy<Bytes> {
    prop_oneof![
        vec(any::<u8>(), 0..=64).prop_map(Bytes::from),
        vec(any::<u8>(), 0..=4096).prop_map(Bytes::from),
    ]
    .boxed()
}

fn arb_qid() -> impl Strategy<Value = Qid> {
    (any::<u8>(), any::<u32>(), any::<u64>()).prop_map(|(ty, version, path)| Qid {
        ty: QidType(ty),
        version,
        path,
    })
}

fn arb_stat() -> impl Strategy<Value = Stat> {
    (
        any::<u16>(),
        any::<u32>(),
        arb_qid(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        arb_string(),
        arb_string(),
        arb_string(),
        arb_string(),
    )
        .prop_map(
            |(ty, dev, qid, mode, atime, mtime, length, name, uid, gid, muid)| Stat {
                ty,
                dev,
                qid,
                mode,
                atime,
                mtime,
                length,
                name,
                uid,
                gid,
                muid,
            },
        )
}

fn arb_tmsg() -> BoxedStrategy<Tmsg> {
    prop_oneof![
        (any::<u32>(), arb_string())
            .prop_map(|(msize, version)| Tmsg::Version { msize, version })
            .boxed(),
        (any::<u32>(), arb_string(), arb_string())
            .prop_map(|(afid, uname, aname)| Tmsg::Auth { afid, uname, aname })
            .boxed(),
        (any::<u32>(), any::<u32>(), arb_string(), arb_string())
            .prop_map(|(fid, afid, uname, aname)| Tmsg::Attach {
                fid,
                afid,
                uname,
                aname
            })
            .boxed(),
        any::<u16>()
            .prop_map(|oldtag| Tmsg::Flush { oldtag })
            .boxed(),
        (any::<u32>(), any::<u32>(), vec(arb_string(), 0..=MAXWELEM))
            .prop_map(|(fid, newfid, wnames)| Tmsg::Walk {
                fid,
                newfid,
                wnames
            })
            .boxed(),
        (any::<u32>(), any::<u8>())
            .prop_map(|(fid, mode)| Tmsg::Open { fid, mode })
            .boxed(),
        (any::<u32>(), arb_string(), any::<u32>(), any::<u8>())
            .prop_map(|(fid, name, perm, mode)| Tmsg::Create {
                fid,
                name,
                perm,
                mode
            })
            .boxed(),
        (any::<u32>(), any::<u64>(), any::<u32>())
            .prop_map(|(fid, offset, count)| Tmsg::Read { fid, offset, count })
            .boxed(),
        (any::<u32>(), any::<u64>(), arb_bytes())
            .prop_map(|(fid, offset, data)| Tmsg::Write { fid, offset, data })
            .boxed(),
        any::<u32>().prop_map(|fid| Tmsg::Clunk { fid }).boxed(),
        any::<u32>().prop_map(|fid| Tmsg::Remove { fid }).boxed(),
        any::<u32>().prop_map(|fid| Tmsg::Stat { fid }).boxed(),
        (any::<u32>(), arb_stat())
            .prop_map(|(fid, stat)| Tmsg::Wstat { fid, stat })
            .boxed(),
    ]
    .boxed()
}

fn arb_rmsg() -> BoxedStrategy<Rmsg> {
    prop_oneof![
        (any::<u32>(), arb_string())
            .prop_map(|(msize, version)| Rmsg::Version { msize, version })
            .boxed(),
        arb_qid().prop_map(|aqid| Rmsg::Auth { aqid }).boxed(),
        arb_qid().prop_map(|qid| Rmsg::Attach { qid }).boxed(),
        arb_string().prop_map(|ename| Rmsg::Error { ename }).boxed(),
        Just(Rmsg::Flush).boxed(),
        vec(arb_qid(), 0..=MAXWELEM)
            .prop_map(|wqids| Rmsg::Walk { wqids })
            .boxed(),
        (arb_qid(), any::<u32>())
            .prop_map(|(qid, iounit)| Rmsg::Open { qid, iounit })
            .boxed(),
        (arb_qid(), any::<u32>())
            .prop_map(|(qid, iounit)| Rmsg::Create { qid, iounit })
            .boxed(),
        arb_bytes().prop_map(|data| Rmsg::Read { data }).boxed(),
        any::<u32>().prop_map(|count| Rmsg::Write { count }).boxed(),
        Just(Rmsg::Clunk).boxed(),
        Just(Rmsg::Remove).boxed(),
        arb_stat().prop_map(|stat| Rmsg::Stat { stat }).boxed(),
        Just(Rmsg::Wstat).boxed(),
    ]
    .boxed()
}

/// A valid frame, either direction, as bytes.
fn arb_valid_frame() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        (any::<u16>(), arb_tmsg()).prop_map(|(tag, m)| enc_t(tag, &m, false)),
        (any::<u16>(), arb_rmsg()).prop_map(|(tag, m)| enc_r(tag, &m, false)),
    ]
    .boxed()
}

/// One way of damaging a frame.
#[derive(Debug, Clone)]
enum Damage {
    /// Overwrite one byte.
    Set(Index, u8),
    /// Flip one bit.
    Flip(Index, u8),
    /// Insert a byte.
    Insert(Index, u8),
    /// Delete a byte.
    Delete(Index),
    /// Cut the frame at some point.
    Truncate(Index),
    /// Append some bytes.
    Extend(Vec<u8>),
}

fn arb_damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Set(i, b)),
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Damage::Flip(i, b)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Damage::Insert(i, b)),
        1 => any::<Index>().prop_map(Damage::Delete),
        1 => any::<Index>().prop_map(Damage::Truncate),
        1 => vec(any::<u8>(), 1..8).prop_map(Damage::Extend),
    ]
}

fn apply(frame: &mut Vec<u8>, d: &Damage) {
    let len = frame.len();
    match d {
        Damage::Set(i, b) if len > 0 => frame[i.index(len)] = *b,
        Damage::Flip(i, bit) if len > 0 => frame[i.index(len)] ^= 1 << bit,
        Damage::Insert(i, b) => frame.insert(i.index(len + 1), *b),
        Damage::Delete(i) if len > 0 => {
            frame.remove(i.index(len));
        }
        Damage::Truncate(i) => frame.truncate(i.index(len + 1)),
        Damage::Extend(more) => frame.extend_from_slice(more),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

fn enc_t(tag: u16, msg: &Tmsg, split: bool) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let payload = encode_t(tag, msg, &mut buf, split);
    if let Some(p) = payload {
        buf.extend_from_slice(&p);
    }
    buf.to_vec()
}

fn enc_r(tag: u16, msg: &Rmsg, split: bool) -> Vec<u8> {
    let mut buf = BytesMut::new();
    let payload = encode_r(tag, msg, &mut buf, split);
    if let Some(p) = payload {
        buf.extend_from_slice(&p);
    }
    buf.to_vec()
}

fn size_field(frame: &[u8]) -> usize {
    u32::from_le_bytes(frame[..4].try_into().unwrap()) as usize
}

/// Decodes `bytes` both ways without panicking; whatever decodes must re-encode to exactly
/// `bytes` and decode again to the same value.
fn decode_everything(bytes: &[u8]) -> Result<(), TestCaseError> {
    let _ = frame_len(bytes, u32::MAX);
    let _ = frame_len(bytes, 8192);
    let _ = frame_len(bytes, 0);
    if let Ok((tag, msg)) = decode_t(Bytes::copy_from_slice(bytes)) {
        prop_assert_eq!(&enc_t(tag, &msg, false), bytes);
        prop_assert_eq!(&enc_t(tag, &msg, true), bytes);
        prop_assert_eq!(frame_len(bytes, u32::MAX), Ok(Some(bytes.len())));
        prop_assert_eq!(decode_t(Bytes::copy_from_slice(bytes)), Ok((tag, msg)));
    }
    if let Ok((tag, msg)) = decode_r(Bytes::copy_from_slice(bytes)) {
        prop_assert_eq!(&enc_r(tag, &msg, false), bytes);
        prop_assert_eq!(&enc_r(tag, &msg, true), bytes);
        prop_assert_eq!(frame_len(bytes, u32::MAX), Ok(Some(bytes.len())));
        prop_assert_eq!(decode_r(Bytes::copy_from_slice(bytes)), Ok((tag, msg)));
    }
    // The body of a frame is also fair game for the stat parsers.
    let body = Bytes::copy_from_slice(bytes.get(HEADER_SIZE..).unwrap_or_default());
    if let Ok(st) = Stat::decode(body.clone()) {
        let mut buf = BytesMut::new();
        st.encode(&mut buf);
        prop_assert_eq!(&buf[..], &body[..]);
    }
    if let Ok(entries) = read_dir_entries(body.clone()) {
        let mut buf = BytesMut::new();
        for st in &entries {
            st.encode(&mut buf);
        }
        prop_assert_eq!(&buf[..], &body[..]);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tmsg_roundtrip(tag in any::<u16>(), msg in arb_tmsg()) {
        let whole = enc_t(tag, &msg, false);
        prop_assert_eq!(size_field(&whole), whole.len());
        prop_assert_eq!(whole[4], msg.msg_type() as u8);
        prop_assert_eq!(frame_len(&whole, u32::MAX), Ok(Some(whole.len())));
        prop_assert_eq!(decode_t(Bytes::from(whole.clone())), Ok((tag, msg.clone())));

        // Split: the header written, the payload handed back, the size counting both.
        let mut header = BytesMut::new();
        let payload = encode_t(tag, &msg, &mut header, true);
        match (&msg, &payload) {
            (Tmsg::Write { data, .. }, Some(p)) => {
                prop_assert_eq!(p, data);
                prop_assert_eq!(header.len(), HEADER_SIZE + 4 + 8 + 4);
            }
            (Tmsg::Write { .. }, None) => prop_assert!(false, "Twrite payload not split"),
            (_, Some(_)) => prop_assert!(false, "payload split from {:?}", msg),
            (_, None) => {}
        }
        let payload = payload.unwrap_or_default();
        prop_assert_eq!(size_field(&header), header.len() + payload.len());
        let mut joined = header.to_vec();
        joined.extend_from_slice(&payload);
        prop_assert_eq!(&joined, &whole);
        prop_assert_eq!(decode_t(Bytes::from(joined)), Ok((tag, msg)));
    }

    #[test]
    fn rmsg_roundtrip(tag in any::<u16>(), msg in arb_rmsg()) {
        let whole = enc_r(tag, &msg, false);
        prop_assert_eq!(size_field(&whole), whole.len());
        prop_assert_eq!(whole[4], msg.msg_type() as u8);
        prop_assert_eq!(frame_len(&whole, u32::MAX), Ok(Some(whole.len())));
        prop_assert_eq!(decode_r(Bytes::from(whole.clone())), Ok((tag, msg.clone())));

        let mut header = BytesMut::new();
        let payload = encode_r(tag, &msg, &mut header, true);
        match (&msg, &payload) {
            (Rmsg::Read { data }, Some(p)) => {
                prop_assert_eq!(p, data);
                prop_assert_eq!(header.len(), HEADER_SIZE + 4);
            }
            (Rmsg::Read { .. }, None) => prop_assert!(false, "Rread payload not split"),
            (_, Some(_)) => prop_assert!(false, "payload split from {:?}", msg),
            (_, None) => {}
        }
        let payload = payload.unwrap_or_default();
        prop_assert_eq!(size_field(&header), header.len() + payload.len());
        let mut joined = header.to_vec();
        joined.extend_from_slice(&payload);
        prop_assert_eq!(&joined, &whole);
        prop_assert_eq!(decode_r(Bytes::from(joined)), Ok((tag, msg)));
    }

    /// Several frames, some split, written back to back into one buffer that already holds
    /// other bytes: frame_len cuts the stream into frames that decode to the same messages.
    #[test]
    fn stream_of_frames(
        junk in vec(any::<u8>(), 0..16),
        msgs in vec((any::<u16>(), arb_tmsg(), any::<bool>()), 0..6),
    ) {
        let mut buf = BytesMut::from(&junk[..]);
        for (tag, msg, split) in &msgs {
            if let Some(p) = encode_t(*tag, msg, &mut buf, *split) {
                buf.extend_from_slice(&p);
            }
        }
        let mut stream = buf.freeze().slice(junk.len()..);
        let mut got = Vec::new();
        while let Some(n) = frame_len(&stream, 1 << 20).unwrap() {
            prop_assert!(n <= stream.len());
            got.push(decode_t(stream.split_to(n)).unwrap());
        }
        prop_assert!(stream.is_empty());
        let want: Vec<_> = msgs.into_iter().map(|(tag, msg, _)| (tag, msg)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn stat_roundtrip(stats in vec(arb_stat(), 0..4)) {
        let mut buf = BytesMut::new();
        for st in &stats {
            let before = buf.len();
            st.encode(&mut buf);
            prop_assert_eq!(buf.len() - before, st.size());
            prop_assert_eq!(size_field_u16(&buf[before..]), st.size() - 2);
            prop_assert_eq!(Stat::decode(Bytes::copy_from_slice(&buf[before..])), Ok(st.clone()));
        }
        prop_assert_eq!(read_dir_entries(buf.freeze()), Ok(stats));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes)?;
    }

    /// Random bodies behind a correct header, so decoding gets past the size check and into
    /// each message's fields. Bodies are biased towards small numbers, which make plausible
    /// counts and lengths.
    #[test]
    fn random_bodies_never_panic(
        ty in prop_oneof![4 => 100u8..=127, 1 => any::<u8>()],
        tag in any::<u16>(),
        body in vec(prop_oneof![3 => 0u8..20, 1 => any::<u8>()], 0..200),
    ) {
        let mut frame = ((HEADER_SIZE + body.len()) as u32).to_le_bytes().to_vec();
        frame.push(ty);
        frame.extend(tag.to_le_bytes());
        frame.extend(&body);
        decode_everything(&frame)?;
    }

    /// Valid frames, damaged: bytes changed, bits flipped, bytes inserted and removed, the
    /// frame cut or lengthened, optionally with the size field then made to agree again.
    #[test]
    fn damaged_frames_never_panic(
        frame in arb_valid_frame(),
        damage in vec(arb_damage(), 1..4),
        fix in any::<bool>(),
    ) {
        let mut bytes = frame;
        for d in &damage {
            apply(&mut bytes, d);
        }
        if fix && bytes.len() >= 4 {
            let n = bytes.len() as u32;
            bytes[..4].copy_from_slice(&n.to_le_bytes());
        }
        decode_everything(&bytes)?;
    }

    #[test]
    fn truncated_frames_are_truncated(frame in arb_valid_frame(), cut in any::<Index>()) {
        let cut = cut.index(frame.len());
        let bytes = Bytes::copy_from_slice(&frame[..cut]);
        prop_assert_eq!(decode_t(bytes.clone()).err(), Some(DecodeError::Truncated));
        prop_assert_eq!(decode_r(bytes).err(), Some(DecodeError::Truncated));
    }

    #[test]
    fn frame_len_never_panics(bytes in vec(any::<u8>(), 0..12), max in any::<u32>()) {
        let got = frame_len(&bytes, max);
        if bytes.len() < 4 {
            prop_assert_eq!(got, Ok(None));
        } else {
            let size = size_field(&bytes);
            let want = if size < HEADER_SIZE {
                Err(DecodeError::TooSmall(size as u32))
            } else if size > max as usize {
                Err(DecodeError::TooLarge { size: size as u64, max })
            } else {
                Ok(Some(size))
            };
            prop_assert_eq!(got, want);
        }
    }
}

fn size_field_u16(entry: &[u8]) -> usize {
    u16::from_le_bytes([entry[0], entry[1]]) as usize
}
