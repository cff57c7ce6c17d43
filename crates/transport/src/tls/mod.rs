//! The TLS transport: TLS 1.3 over TCP, both sides proving themselves with Ed25519 raw
//! public keys (RFC 7250) checked against lists, in the style of ssh and WireGuard — no
//! certificates and no authorities.
//!
//! Files, in [`home`] (`~/.config/ninefold`, or `$NINEFOLD_HOME`):
//!
//! - `key`: our private key (made by `ninefold key`), used by both sides.
//! - `known_hosts`: servers' keys we trust, by `host!port` as the address names them.
//! - `authorized_keys`: clients a server admits, each with the principal name it speaks
//!   for (the name logs and the /net policy use; the uname in Tattach is ignored).
//!
//! A client refuses a server whose key it does not know, saying the key's fingerprint and
//! how to trust it: add it to `known_hosts`, or name it in the address
//! (`tls!host!port!SHA256:…`), or ask for trust on first use (`tls!host!port!tofu`, which
//! records the key). A changed key is refused whatever the address says. A server refuses
//! a client whose key is not authorized during the handshake, before any 9P; the client
//! sees "the server refused our key".

mod key;
mod trust;
mod verify;

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::AlwaysResolvesClientRawPublicKeys;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer, ServerName};
use rustls::server::AlwaysResolvesServerRawPublicKeys;
use rustls::sign::CertifiedKey;
use rustls::{AlertDescription, ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

pub use key::{Identity, KEY_TYPE, PublicKey};
pub use trust::{AuthorizedKeys, KnownHosts, home};

use crate::Conn;
use verify::{AuthorizedClients, PinnedServer};

/// File names in [`home`].
pub const KEY_FILE: &str = "key";
pub const KNOWN_HOSTS: &str = "known_hosts";
pub const AUTHORIZED_KEYS: &str = "authorized_keys";

/// How long a handshake may take before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a server waits for a client's handshake: anyone can open a TCP connection and
/// say nothing.
const SERVER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes a server runs at once; connections beyond are closed at once, so that
/// strangers holding connections open cannot use up its descriptors.
pub const MAX_HANDSHAKES: usize = 64;

/// ring's suites, AES-128-GCM first: ring lists AES-256 first, whose fourteen rounds
/// against ten cost throughput (the CPU is what limits a TLS stream here) and no
/// security that matters for a 128-bit-key X25519 exchange.
fn provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::ring::default_provider();
    p.cipher_suites.sort_by_key(|s| match s.suite() {
        rustls::CipherSuite::TLS13_AES_128_GCM_SHA256 => 0,
        rustls::CipherSuite::TLS13_AES_256_GCM_SHA384 => 1,
        _ => 2,
    });
    Arc::new(p)
}

fn certified(identity: &Identity) -> io::Result<Arc<CertifiedKey>> {
    let der = PrivatePkcs8KeyDer::from(identity.pkcs8().to_vec());
    let signer = rustls::crypto::ring::sign::any_eddsa_type(&der).map_err(io::Error::other)?;
    let spki = CertificateDer::from(identity.public().spki());
    Ok(Arc::new(CertifiedKey::new(vec![spki], signer)))
}

/// Our key, from `home/key`; a missing one is an error saying how to make it.
pub fn load_identity(path: &Path) -> io::Result<Identity> {
    Identity::load(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            io::Error::new(
                e.kind(),
                format!("no key at {}: make one with `ninefold key`", path.display()),
            )
        } else {
            e
        }
    })
}

/// Connects to `host!port` with TLS. `options` come from the address: `tofu`, or a
/// fingerprint `SHA256:…` to pin.
pub async fn connect(host: &str, port: u16, options: &[String]) -> io::Result<Conn> {
    let home = home()?;
    let identity = load_identity(&home.join(KEY_FILE))?;
    let known_path = home.join(KNOWN_HOSTS);
    connect_with(host, port, options, &identity, &known_path).await
}

/// [`connect`] with a given key and known_hosts file.
pub async fn connect_with(
    host: &str,
    port: u16,
    options: &[String],
    identity: &Identity,
    known_path: &Path,
) -> io::Result<Conn> {
    let name = format!("{host}!{port}");
    let mut tofu = false;
    let mut fingerprints = Vec::new();
    for o in options {
        match o.as_str() {
            "tofu" => tofu = true,
            fp if fp.starts_with("SHA256:") => fingerprints.push(fp.to_owned()),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("tls!{name}: unknown option {other:?} (want tofu or SHA256:…)"),
                ));
            }
        }
    }
    let known = KnownHosts::load(known_path)?;
    let verifier = Arc::new(PinnedServer {
        pinned: known.keys_of(&name).collect(),
        fingerprints,
        tofu,
        seen: Mutex::new(None),
    });
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_client_cert_resolver(Arc::new(AlwaysResolvesClientRawPublicKeys::new(certified(
            identity,
        )?)));
    // The key is what is checked, not the name; a host that is no DNS name or address
    // still needs one for the handshake.
    let server_name = ServerName::try_from(host.to_owned())
        .or_else(|_| ServerName::try_from("ninefold.invalid"))
        .map_err(io::Error::other)?;
    let tcp = TcpStream::connect((host, port)).await?;
    tcp.set_nodelay(true)?;
    let handshake = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server_name, tcp);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ));
        }
        Ok(Err(e)) => return Err(explain_client_failure(e, &name, &verifier, known_path)),
        Ok(Ok(s)) => s,
    };
    if let Some(key) = verifier.seen()
        && !verifier.pinned.contains(&key)
        && verifier.fingerprints.is_empty()
    {
        KnownHosts::record(known_path, &name, &key)?;
        tracing::info!(host = %name, key = %key.fingerprint(), file = %known_path.display(), "trusted on first use");
    }
    let ours = identity.public();
    let (r, w) = tokio::io::split(stream);
    Ok(Conn {
        reader: Box::new(RefusalReader { inner: r, ours }),
        writer: Box::new(w),
        child: None,
    })
}

/// Why our handshake failed, in words that say what to do.
fn explain_client_failure(
    e: io::Error,
    name: &str,
    verifier: &PinnedServer,
    known_path: &Path,
) -> io::Error {
    let Some(key) = verifier.seen() else {
        return e;
    };
    if verifier.admits(&key) {
        return e;
    }
    let fp = key.fingerprint();
    let msg = if !verifier.pinned.is_empty() {
        format!(
            "the key of {name} has CHANGED: it is now {fp}, not the one in {}. If the change \
             is expected, remove that line and connect again",
            known_path.display()
        )
    } else if !verifier.fingerprints.is_empty() {
        format!(
            "{name} shows key {fp}, not the one the address pins ({})",
            verifier.fingerprints.join(", ")
        )
    } else {
        format!(
            "{name} is not a known host; its key is {fp}. To trust it, add the line `{name} \
             {key}` to {}, or dial tls!{name}!{fp} (or tls!{name}!tofu to trust whatever key \
             it shows the first time)",
            known_path.display()
        )
    };
    io::Error::new(io::ErrorKind::PermissionDenied, msg)
}

/// TLS 1.3 clients finish the handshake before the server has judged their key; a refusal
/// comes as an alert on the first read. Say it in words.
struct RefusalReader<R> {
    inner: R,
    ours: PublicKey,
}

impl<R: AsyncRead + Unpin> AsyncRead for RefusalReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let ours = self.ours;
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) if is_refusal(&e) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "the server refused our key {} (it is not in the server's {AUTHORIZED_KEYS}; \
                     its owner can add `{ours} NAME`)",
                    ours.fingerprint()
                ),
            ))),
            other => other,
        }
    }
}

fn is_refusal(e: &io::Error) -> bool {
    matches!(
        e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::AlertReceived(
            AlertDescription::AccessDenied
                | AlertDescription::BadCertificate
                | AlertDescription::CertificateUnknown
                | AlertDescription::CertificateRequired
        ))
    )
}

/// The server side: our key, and the clients we admit.
pub struct Server {
    acceptor: tokio_rustls::TlsAcceptor,
    keys: Arc<AuthorizedKeys>,
    public: PublicKey,
    handshakes: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tls::Server({:?})", self.public)
    }
}

impl Server {
    /// With the key and authorized_keys in [`home`].
    pub fn from_home() -> io::Result<Server> {
        let home = home()?;
        Server::from_files(&home.join(KEY_FILE), &home.join(AUTHORIZED_KEYS))
    }

    pub fn from_files(key: &Path, authorized: &Path) -> io::Result<Server> {
        let identity = load_identity(key)?;
        let keys = AuthorizedKeys::load(authorized)?;
        if keys.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no client keys in {}: nobody could connect. Add a line `ed25519 KEY NAME` \
                     per client (`ninefold key` prints a machine's key)",
                    authorized.display()
                ),
            ));
        }
        Server::new(&identity, keys)
    }

    pub fn new(identity: &Identity, keys: AuthorizedKeys) -> io::Result<Server> {
        let keys = Arc::new(keys);
        let config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(io::Error::other)?
            .with_client_cert_verifier(Arc::new(AuthorizedClients { keys: keys.clone() }))
            .with_cert_resolver(Arc::new(AlwaysResolvesServerRawPublicKeys::new(certified(
                identity,
            )?)));
        Ok(Server {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            keys,
            public: identity.public(),
            handshakes: Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES)),
        })
    }

    /// At most `n` handshakes at once (default [`MAX_HANDSHAKES`]).
    pub fn with_max_handshakes(mut self, n: usize) -> Server {
        self.handshakes = Arc::new(tokio::sync::Semaphore::new(n));
        self
    }

    /// Our public key, for messages.
    pub fn public(&self) -> PublicKey {
        self.public
    }

    /// The handshake on an accepted connection; the principal the client's key speaks for.
    /// Beyond the handshakes allowed at once, the connection is dropped with an error of
    /// kind `WouldBlock`.
    pub async fn accept(&self, tcp: TcpStream) -> io::Result<(Conn, String)> {
        let Ok(_running) = self.handshakes.try_acquire() else {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "too many TLS handshakes at once: connection dropped",
            ));
        };
        let handshake = self.acceptor.accept(tcp);
        let stream = tokio::time::timeout(SERVER_HANDSHAKE_TIMEOUT, handshake)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        let principal = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .and_then(|c| PublicKey::from_spki(c.as_ref()))
            .and_then(|k| self.keys.principal(&k))
            .ok_or_else(|| io::Error::other("TLS client without an authorized key"))?
            .to_owned();
        Ok((Conn::from_stream(stream), principal))
    }
}

/// Where `ninefold key` keeps ours.
pub fn key_path() -> io::Result<PathBuf> {
    Ok(home()?.join(KEY_FILE))
}

#[cfg(test)]
mod tests {
    #[test]
    fn aes_128_gcm_is_offered_first() {
        let p = super::provider();
        assert_eq!(
            p.cipher_suites[0].suite(),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
    }
}
