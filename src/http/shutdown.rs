//! Stopping on SIGTERM without losing a request that was already sent.
//!
//! actix-web's own signal handling stops accepting and closes idle connections at once. A
//! connection whose request has arrived but is not read yet counts as idle, and connections
//! the kernel accepted but the server has not picked up are reset with the listener: their
//! clients sent a request before the signal and get no answer. Here the server first takes
//! in everything already queued, gives those connections a moment to read their requests,
//! and only then closes the listener and drains.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;

/// How long the server keeps taking in connections the kernel queued before the signal.
const ACCEPT_DRAIN: Duration = Duration::from_secs(2);

/// Time for connections just taken in to read their first request, so the graceful stop
/// does not mistake them for idle ones.
const SETTLE: Duration = Duration::from_millis(100);

/// Waits for SIGTERM or SIGINT, then stops `server` as described above.
pub async fn on_signal(server: ServerHandle, listener: TcpListener) {
    wait_for_signal().await;
    tracing::info!("stopping: taking in queued connections, then draining");
    let inode = std::fs::metadata(format!("/proc/self/fd/{}", fd_number(&listener)))
        .map(|m| m.ino())
        .ok();
    let started = Instant::now();
    while started.elapsed() < ACCEPT_DRAIN && inode.and_then(accept_queue).unwrap_or(0) > 0 {
        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
    }
    server.pause().await;
    actix_web::rt::time::sleep(SETTLE).await;
    drop(listener);
    server.stop(true).await;
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handling the process stops the default way.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

fn fd_number(listener: &TcpListener) -> i32 {
    use std::os::fd::AsRawFd;
    listener.as_raw_fd()
}

/// Connections waiting in the accept queue of the listening socket with `inode`: for a
/// listener, the kernel reports that count as its receive queue in /proc/net/tcp.
fn accept_queue(inode: u64) -> Option<u64> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .find_map(|table| {
            let text = std::fs::read_to_string(table).ok()?;
            queue_in_table(&text, inode)
        })
}

fn queue_in_table(text: &str, inode: u64) -> Option<u64> {
    text.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let listening = fields.get(3) == Some(&"0A");
        let ours = fields.get(9).and_then(|f| f.parse::<u64>().ok()) == Some(inode);
        if !(listening && ours) {
            return None;
        }
        let (_, rx) = fields.get(4)?.split_once(':')?;
        u64::from_str_radix(rx, 16).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_queue_is_read_from_the_listeners_line() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
            0: 0100007F:1F90 00000000:0000 0A 00000080:00000003 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n   \
            1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0 20 4 30 10 -1\n";
        assert_eq!(queue_in_table(table, 4242), Some(3));
        assert_eq!(queue_in_table(table, 4243), None, "not a listener");
        assert_eq!(queue_in_table(table, 1), None);
    }

    #[test]
    fn a_real_listener_is_found_with_what_it_has_queued() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", fd_number(&listener)))
            .unwrap()
            .ino();
        assert_eq!(accept_queue(inode), Some(0));
        let _a = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let _b = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert_eq!(accept_queue(inode), Some(2));
    }
}
