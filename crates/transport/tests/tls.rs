//! The TLS transport end to end on loopback: keys pinned both ways, refusals in words.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use ninefold_transport::tls::{AuthorizedKeys, Identity, KnownHosts, Server, connect_with};
use ninefold_transport::{Addr, Listener, listen_tls};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(20);

/// A server admitting `clients` (key, principal); it echoes one line per connection
/// after sending the principal it saw.
async fn server(
    server_key: &Identity,
    clients: &[(&Identity, &str)],
    dir: &Path,
) -> (Listener, u16) {
    let path = dir.join("authorized_keys");
    let text: String = clients
        .iter()
        .map(|(k, n)| format!("{} {n}\n", k.public()))
        .collect();
    std::fs::write(&path, text).unwrap();
    let keys = AuthorizedKeys::load(&path).unwrap();
    let addr: Addr = "tls!127.0.0.1!0".parse().unwrap();
    let l = listen_tls(&addr, Server::new(server_key, keys).unwrap())
        .await
        .unwrap();
    let Addr::Tls { port, .. } = l.local_addr().unwrap() else {
        panic!("not tls")
    };
    (l, port)
}

async fn serve_one(l: &Listener) -> std::io::Result<String> {
    let incoming = l.accept().await?;
    let (mut c, peer) = incoming.establish().await?;
    let principal = peer.principal.unwrap_or_default();
    c.writer
        .write_all(format!("{principal}\n").as_bytes())
        .await?;
    let mut buf = [0u8; 5];
    c.reader.read_exact(&mut buf).await?;
    c.writer.write_all(&buf).await?;
    c.writer.flush().await?;
    Ok(principal)
}

#[tokio::test]
async fn pinned_keys_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, ic, stranger) = (
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
        Identity::generate().unwrap(),
    );
    let (l, port) = server(&srv, &[(&ic, "ic")], dir.path()).await;
    let known = dir.path().join("known_hosts");
    let name = format!("127.0.0.1!{port}");

    // Unknown host: refused, with its fingerprint and what to do.
    let (served, r) = tokio::time::timeout(LIMIT, async {
        tokio::join!(
            serve_one(&l),
            connect_with("127.0.0.1", port, &[], &ic, &known)
        )
    })
    .await
    .unwrap();
    assert!(served.is_err());
    let e = r.unwrap_err();
    let fp = srv.public().fingerprint();
    assert!(
        e.to_string().contains(&fp) && e.to_string().contains("not a known host"),
        "{e}"
    );

    // Pinned by fingerprint in the address: admitted, the server names our principal.
    let client = async {
        let mut c = connect_with("127.0.0.1", port, std::slice::from_ref(&fp), &ic, &known)
            .await
            .unwrap();
        let mut line = [0u8; 3];
        c.reader.read_exact(&mut line).await.unwrap();
        c.writer.write_all(b"hello").await.unwrap();
        c.writer.flush().await.unwrap();
        let mut back = [0u8; 5];
        c.reader.read_exact(&mut back).await.unwrap();
        (line, back)
    };
    let (principal, (line, back)) =
        tokio::time::timeout(LIMIT, async { tokio::join!(serve_one(&l), client) })
            .await
            .unwrap();
    assert_eq!(principal.unwrap(), "ic");
    assert_eq!(&line, b"ic\n");
    assert_eq!(&back, b"hello");
    assert_eq!(
        KnownHosts::load(&known).unwrap().keys_of(&name).count(),
        0,
        "a pin is not recorded"
    );

    // Trust on first use records the key; later dials need no option.
    let tofu = ["tofu".to_string()];
    let (_, c) = tokio::time::timeout(LIMIT, async {
        tokio::join!(serve_one(&l), async {
            let mut c = connect_with("127.0.0.1", port, &tofu, &ic, &known)
                .await
                .unwrap();
            c.writer.write_all(b"again").await.unwrap();
            let mut b = [0u8; 8];
            c.reader.read_exact(&mut b).await.unwrap();
            b
        })
    })
    .await
    .unwrap();
    assert_eq!(&c, b"ic\nagain");
    let recorded: Vec<_> = KnownHosts::load(&known).unwrap().keys_of(&name).collect();
    assert_eq!(recorded, [srv.public()]);

    // A client the server does not know is refused before anything is served.
    let (served, refused) = tokio::time::timeout(LIMIT, async {
        tokio::join!(serve_one(&l), async {
            let mut c = connect_with("127.0.0.1", port, &[], &stranger, &known).await?;
            let mut b = [0u8; 1];
            c.reader.read_exact(&mut b).await.map(|_| ())
        })
    })
    .await
    .unwrap();
    assert!(
        served.is_err(),
        "the server must not establish an unknown client"
    );
    let e = refused.unwrap_err();
    assert!(
        e.to_string().contains("refused our key")
            && e.to_string().contains(&stranger.public().fingerprint()),
        "{e}"
    );
}

#[tokio::test]
async fn a_changed_host_key_is_refused_even_with_tofu() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, ic) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let (l, port) = server(&srv, &[(&ic, "ic")], dir.path()).await;
    let known = dir.path().join("known_hosts");
    let old = Identity::generate().unwrap().public();
    KnownHosts::record(&known, &format!("127.0.0.1!{port}"), &old).unwrap();
    let tofu = ["tofu".to_string()];
    let dial = connect_with("127.0.0.1", port, &tofu, &ic, &known);
    let (_, r) = tokio::time::timeout(LIMIT, async { tokio::join!(serve_one(&l), dial) })
        .await
        .unwrap();
    let e = r.unwrap_err();
    assert!(e.to_string().contains("CHANGED"), "{e}");
    assert!(e.to_string().contains(&srv.public().fingerprint()), "{e}");
}

#[test]
fn a_server_without_clients_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    Identity::generate().unwrap().save(&key).unwrap();
    let e = Server::from_files(&key, &dir.path().join("authorized_keys")).unwrap_err();
    assert!(e.to_string().contains("nobody could connect"), "{e}");
    let e = Server::from_files(&dir.path().join("nokey"), &key).unwrap_err();
    assert!(e.to_string().contains("ninefold key"), "{e}");
}

/// Strangers holding connections open without a handshake take at most the handshakes
/// allowed at once: the connections beyond are closed at once, and once theirs go, a
/// real client gets in.
#[tokio::test]
async fn silent_connections_cannot_pile_up() {
    let dir = tempfile::tempdir().unwrap();
    let (srv, ic) = (Identity::generate().unwrap(), Identity::generate().unwrap());
    let path = dir.path().join("authorized_keys");
    std::fs::write(&path, format!("{} ic\n", ic.public())).unwrap();
    let server = Server::new(&srv, AuthorizedKeys::load(&path).unwrap())
        .unwrap()
        .with_max_handshakes(3);
    let addr: Addr = "tls!127.0.0.1!0".parse().unwrap();
    let l = listen_tls(&addr, server).await.unwrap();
    let Addr::Tls { port, .. } = l.local_addr().unwrap() else {
        panic!("not tls")
    };
    tokio::spawn(async move {
        while let Ok(incoming) = l.accept().await {
            tokio::spawn(async move {
                if let Ok((mut c, _)) = incoming.establish().await {
                    let _ = c.writer.write_all(b"welcome").await;
                    let _ = c.writer.flush().await;
                    let mut b = [0u8; 1];
                    let _ = c.reader.read(&mut b).await;
                }
            });
        }
    });
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    // Give the server time to take them in.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut b = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut b)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the fourth silent connection was kept: {closed:?}"
    );
    // The first three are still held.
    let held = tokio::time::timeout(Duration::from_millis(300), silent[0].read(&mut b)).await;
    assert!(
        held.is_err(),
        "a silent connection within the limit was closed: {held:?}"
    );
    drop(silent);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let known = dir.path().join("known_hosts");
    let pin = [srv.public().fingerprint()];
    let mut c = tokio::time::timeout(LIMIT, connect_with("127.0.0.1", port, &pin, &ic, &known))
        .await
        .unwrap()
        .unwrap();
    let mut w = [0u8; 7];
    tokio::time::timeout(LIMIT, c.reader.read_exact(&mut w))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&w, b"welcome");
}
