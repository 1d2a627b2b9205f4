//! HTTPS with `--tls-cert`/`--tls-key`: a certificate made here, checked by a TLS client that
//! trusts only it.

use crate::common;

use std::sync::Arc;

use common::app::TestApp;
use common::{service_config, temp_db};
use loggerator::service::{Service, TlsFiles};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// A self-signed certificate for localhost, its PEM files written into `dir`.
fn certificate(dir: &std::path::Path) -> (TlsFiles, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let files = TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    std::fs::write(&files.cert, made.cert.pem()).unwrap();
    std::fs::write(&files.key, made.key_pair.serialize_pem()).unwrap();
    (files, made.cert.der().clone())
}

/// `GET path` over TLS, trusting only `trusted`: the whole response as text.
async fn get_tls(
    address: std::net::SocketAddr,
    trusted: CertificateDer<'static>,
    path: &str,
) -> std::io::Result<String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(address).await?;
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await?;
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut response = String::new();
    tls.read_to_string(&mut response).await?;
    Ok(response)
}

#[actix_rt::test]
async fn the_api_is_served_over_https_with_the_given_certificate() {
    let db = temp_db();
    let (files, der) = certificate(db.dir.path());
    let mut config = service_config(&db, vec![]);
    config.tls = Some(files);
    let app = TestApp::spawn_with(db, config).await;
    let address = app.service.http_addr;
    let response = get_tls(address, der.clone(), "/healthz").await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#"{"status":"ok"}"#), "{response}");
    let response = get_tls(address, der, "/logs/count").await.unwrap();
    assert!(response.contains(r#"{"count":0}"#), "{response}");

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!answer.starts_with(b"HTTP/1.1 200"));
    app.stop().await;
}

#[actix_rt::test]
async fn a_missing_or_unusable_certificate_is_a_start_up_error_naming_it() {
    let db = temp_db();
    let (files, _) = certificate(db.dir.path());
    for (cert, key, wanted) in [
        (
            db.dir.path().join("none.pem"),
            files.key.clone(),
            "none.pem",
        ),
        (files.key.clone(), files.key.clone(), "no certificate"),
        (files.cert.clone(), files.cert.clone(), "private key"),
    ] {
        let mut config = service_config(&db, vec![]);
        config.tls = Some(TlsFiles { cert, key });
        let error = Service::start(config).await.err().expect("refused");
        assert!(error.to_string().contains(wanted), "{error}");
    }
}
