//! Feeds arbitrary bytes to every decoder of ninefold-proto. Nothing may panic, and whatever
//! decodes must be canonical: encoding it again (with or without the payload split) gives back
//! exactly the input, which decodes to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use ninefold_proto::{
    HEADER_SIZE, Stat, decode_r, decode_t, encode_r, encode_t, frame_len, read_dir_entries,
};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);

    match frame_len(data, u32::MAX) {
        Ok(None) => assert!(data.len() < 4),
        Ok(Some(n)) => assert!(n >= HEADER_SIZE),
        Err(_) => {}
    }
    let _ = frame_len(data, 8192);

    if let Ok((tag, msg)) = decode_t(frame.clone()) {
        assert_eq!(frame_len(data, u32::MAX), Ok(Some(data.len())));
        for split in [false, true] {
            let mut buf = BytesMut::new();
            if let Some(payload) = encode_t(tag, &msg, &mut buf, split) {
                buf.extend_from_slice(&payload);
            }
            assert_eq!(&buf[..], data, "re-encoding {msg:?} (split {split})");
            assert_eq!(decode_t(buf.freeze()), Ok((tag, msg.clone())));
        }
    }

    if let Ok((tag, msg)) = decode_r(frame.clone()) {
        assert_eq!(frame_len(data, u32::MAX), Ok(Some(data.len())));
        for split in [false, true] {
            let mut buf = BytesMut::new();
            if let Some(payload) = encode_r(tag, &msg, &mut buf, split) {
                buf.extend_from_slice(&payload);
            }
            assert_eq!(&buf[..], data, "re-encoding {msg:?} (split {split})");
            assert_eq!(decode_r(buf.freeze()), Ok((tag, msg.clone())));
        }
    }

    // Stat entries and directory-read data, straight from the input.
    if let Ok(st) = Stat::decode(frame.clone()) {
        let mut buf = BytesMut::new();
        st.encode(&mut buf);
        assert_eq!(&buf[..], data);
        assert_eq!(Stat::decode(buf.freeze()), Ok(st));
    }
    if let Ok(entries) = read_dir_entries(frame) {
        let mut buf = BytesMut::new();
        for st in &entries {
            st.encode(&mut buf);
        }
        assert_eq!(&buf[..], data);
        assert_eq!(read_dir_entries(buf.freeze()), Ok(entries));
    }
});
