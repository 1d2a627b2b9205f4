//! A TCP proxy that breaks connections, for the network faults a source's link goes through.

/// A TCP proxy in front of `upstream` that breaks its first connection: after forwarding
/// `break_after` bytes to the client it resets both sides. Later connections pass untouched.
/// Returns the proxy's address.
pub async fn breaking_proxy(upstream: String, break_after: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((mut client, _)) = listener.accept().await {
            let mut server = TcpStream::connect(&upstream).await.expect("upstream");
            let limit = if first { Some(break_after) } else { None };
            first = false;
            tokio::spawn(async move {
                let mut forwarded = 0;
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match server.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let n = limit.map_or(n, |limit| n.min(limit - forwarded));
                    if client.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    forwarded += n;
                    if limit == Some(forwarded) {
                        // A reset, not a clean close: the connection broke.
                        let _ = client.set_zero_linger();
                        return;
                    }
                }
                let _ = client.shutdown().await;
            });
        }
    });
    address
}
