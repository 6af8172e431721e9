//! `TCP_NODELAY` for the PostgreSQL connections, which sqlx 0.9.0 leaves with Nagle's
//! algorithm on (sqlx issue #4335; fixed upstream by pull request #4336, not released yet).
//! With Nagle on, the tail of a statement longer than one TCP segment waits for the server's
//! delayed ACK of the segment before it: 40 ms on Linux. convio's set-at-a-time writes send
//! statements of tens of kilobytes, and a segment is 1,448 bytes on a network (32 KiB on
//! loopback): ingest on PostgreSQL measured 580 conversions/s over TCP against 2,875/s over a
//! Unix socket on the same machine (docs/performance.md).
//!
//! sqlx does not hand out its sockets, so each new connection sets the option on every TCP
//! socket of this process connected to the database server's port, found in `/proc/self/fd`
//! (Linux only; elsewhere nothing changes). Drop this module once sqlx sets it itself.

use std::os::fd::{BorrowedFd, RawFd};

/// Sets `TCP_NODELAY` on this process's TCP connections whose peer port is `port`.
pub(crate) fn set_towards(port: u16) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    for entry in entries.flatten() {
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        // SAFETY: the descriptor is borrowed for two socket calls only. Should it have been
        // closed since the listing (and its number reused), the calls fail or reach whatever
        // holds the number now, and only a TCP socket connected to `port` is changed.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        let to_database = socket
            .peer_addr()
            .ok()
            .and_then(|peer| peer.as_socket())
            .is_some_and(|peer| peer.port() == port);
        if to_database {
            let _ = socket.set_tcp_nodelay(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::set_towards;

    #[test]
    fn only_connections_to_the_port_change() {
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let to_db = std::net::TcpStream::connect(server.local_addr().unwrap()).unwrap();
        let elsewhere = std::net::TcpStream::connect(other.local_addr().unwrap()).unwrap();
        assert!(!to_db.nodelay().unwrap());
        set_towards(server.local_addr().unwrap().port());
        assert!(to_db.nodelay().unwrap());
        assert!(!elsewhere.nodelay().unwrap());
    }
}
