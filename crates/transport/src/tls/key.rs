//! Ed25519 keys: ours (a PKCS#8 file) and others' (one line of text).
//!
//! A public key is written `ed25519 BASE64` (the 32 raw bytes), optionally followed by a
//! comment; its fingerprint is `SHA256:BASE64` of those bytes without padding, the form
//! ssh prints. The private key file is PEM `PRIVATE KEY` (PKCS#8), mode 0600.

use std::fmt;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ring::signature::{Ed25519KeyPair, KeyPair};

/// The word that starts a public key line.
pub const KEY_TYPE: &str = "ed25519";

/// DER of an Ed25519 SubjectPublicKeyInfo up to the key (RFC 8410): what TLS raw public
/// keys (RFC 7250) carry.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// Someone's public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// `SHA256:…`, as ssh-keygen -l prints fingerprints.
    pub fn fingerprint(&self) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, &self.0);
        format!("SHA256:{}", STANDARD_NO_PAD.encode(d.as_ref()))
    }

    /// The key as a DER SubjectPublicKeyInfo.
    pub fn spki(&self) -> Vec<u8> {
        let mut v = SPKI_PREFIX.to_vec();
        v.extend_from_slice(&self.0);
        v
    }

    /// The key in a DER SubjectPublicKeyInfo, if that is an Ed25519 one.
    pub fn from_spki(der: &[u8]) -> Option<PublicKey> {
        let key = der.strip_prefix(&SPKI_PREFIX[..])?;
        Some(PublicKey(key.try_into().ok()?))
    }

    /// `ed25519 BASE64` (anything after is the caller's).
    pub fn parse_words(kind: &str, base64: &str) -> Result<PublicKey, String> {
        if kind != KEY_TYPE {
            return Err(format!("unknown key type {kind:?} (want {KEY_TYPE})"));
        }
        let bytes = STANDARD
            .decode(base64)
            .map_err(|_| format!("bad key {base64:?}: not base64"))?;
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("bad key {base64:?}: not 32 bytes"))?;
        Ok(PublicKey(raw))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{KEY_TYPE} {}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.fingerprint())
    }
}

/// Our own key pair.
pub struct Identity {
    pkcs8: Vec<u8>,
    public: PublicKey,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?})", self.public)
    }
}

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

impl Identity {
    /// A new random key.
    pub fn generate() -> io::Result<Identity> {
        let rng = ring::rand::SystemRandom::new();
        let doc = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| io::Error::other("cannot generate an Ed25519 key"))?;
        Identity::from_pkcs8(doc.as_ref().to_vec())
    }

    fn from_pkcs8(pkcs8: Vec<u8>) -> io::Result<Identity> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an Ed25519 key: {e}"),
            )
        })?;
        let public: [u8; 32] =
            pair.public_key().as_ref().try_into().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, "bad Ed25519 public key")
            })?;
        Ok(Identity {
            pkcs8,
            public: PublicKey(public),
        })
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub(crate) fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Reads a key file. Errors name the file.
    pub fn load(path: &Path) -> io::Result<Identity> {
        let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(named)?;
        let body = text
            .trim()
            .strip_prefix(PEM_BEGIN)
            .and_then(|t| t.strip_suffix(PEM_END))
            .ok_or_else(|| {
                named(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not a PEM private key",
                ))
            })?;
        let b64: String = body.split_whitespace().collect();
        let der = STANDARD.decode(b64).map_err(|_| {
            named(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad base64 in the key",
            ))
        })?;
        Identity::from_pkcs8(der).map_err(named)
    }

    /// Writes the key to a new file readable only by us; an existing file is never
    /// overwritten.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let mut text = format!("{PEM_BEGIN}\n");
        let b64 = STANDARD.encode(&self.pkcs8);
        for chunk in b64.as_bytes().chunks(64) {
            text.push_str(&String::from_utf8_lossy(chunk));
            text.push('\n');
        }
        text.push_str(PEM_END);
        text.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_files_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let id = Identity::generate().unwrap();
        id.save(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = Identity::load(&path).unwrap();
        assert_eq!(back.public(), id.public());
        assert_eq!(
            id.save(&path).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );

        let line = id.public().to_string();
        let (kind, b64) = line.split_once(' ').unwrap();
        assert_eq!(PublicKey::parse_words(kind, b64).unwrap(), id.public());
        assert_eq!(PublicKey::from_spki(&id.public().spki()), Some(id.public()));
        let fp = id.public().fingerprint();
        assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 43, "{fp}");
        assert_ne!(fp, Identity::generate().unwrap().public().fingerprint());
    }

    #[test]
    fn bad_keys_are_errors() {
        assert!(PublicKey::parse_words("rsa", "AAAA").is_err());
        assert!(PublicKey::parse_words(KEY_TYPE, "!!").is_err());
        assert!(PublicKey::parse_words(KEY_TYPE, "AAAA").is_err());
        assert!(PublicKey::from_spki(b"\x30\x2a").is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk");
        std::fs::write(&path, "hello").unwrap();
        let e = Identity::load(&path).unwrap_err();
        assert!(e.to_string().contains("junk"), "{e}");
        std::fs::write(&path, format!("{PEM_BEGIN}\nAAAA\n{PEM_END}\n")).unwrap();
        assert!(Identity::load(&path).is_err());
    }
}
