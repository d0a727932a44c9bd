//! The stream's bounds, against a real loopback connection.

use std::future::poll_fn;

use super::*;

/// A wrapped server side of a loopback connection, its client side, and their counts.
fn pair() -> (Conn, std::net::TcpStream, Arc<Connections>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    let connections = Connections::new(0);
    let slot = connections.admit(None).unwrap();
    let deadlines = Deadlines {
        head: Duration::from_secs(1),
        write: Duration::from_secs(1),
    };
    let state = ConnState::new(deadlines, connections.clone());
    let tcp = TcpStream::from_std(server).unwrap();
    (
        Conn::new(Transport::Plain(tcp), state, slot),
        client,
        connections,
    )
}

async fn write(conn: &mut Conn, bytes: &[u8]) -> io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *conn).poll_write(cx, bytes)).await
}

#[actix_web::test]
async fn more_unsent_bytes_than_the_bound_close_the_connection_for_good() {
    let (mut conn, _client, connections) = pair();
    assert!(write(&mut conn, &[b'a'; MAX_UNSENT_BYTES]).await.is_ok());
    let refused = write(&mut conn, &[b'a'; MAX_UNSENT_BYTES + 1]).await;
    assert_eq!(
        refused.unwrap_err().kind(),
        io::ErrorKind::ConnectionAborted
    );
    assert!(write(&mut conn, b"x").await.is_err(), "closed for good");
    assert_eq!(connections.closed(Closed::UnsentBound), 1);
    drop(conn);
    assert_eq!(connections.open(), 0, "its place is given back");
}

#[actix_web::test]
async fn the_close_switch_fails_a_read_already_waiting() {
    let (mut conn, _client, connections) = pair();
    let state = conn.state().clone();
    let mut buf = [0u8; 16];
    let read = poll_fn(|cx| {
        let mut buf = ReadBuf::new(&mut buf);
        Pin::new(&mut conn).poll_read(cx, &mut buf)
    });
    let closer = async {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        state.close(Closed::SlowReader);
    };
    let (read, ()) = tokio::join!(read, closer);
    assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut);
    assert_eq!(connections.closed(Closed::SlowReader), 1);
}
