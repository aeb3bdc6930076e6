//! File to socket without a copy through user space: `sendfile(2)`.
//!
//! `std::io::copy` would be the natural call, and its documentation hints at
//! kernel copies on Linux, but on this toolchain a copy from a `File` to a
//! `TcpStream` is a `read` + `sendto` loop over an 8 KiB buffer (seen with
//! `strace -c`, even in a six-line program), which caps a download well
//! below what loopback or a NIC can carry. So the server's RETR and the
//! client's uploads call `sendfile(2)` here, through nix's safe wrapper.
//! Socket to file stays `std::io::copy` into a large `BufWriter`, which
//! reads straight into that buffer in large chunks.

use std::fs::File;
use std::io;
use std::net::TcpStream;

use nix::errno::Errno;

/// Bytes asked of one `sendfile` call. The kernel sends what the socket
/// buffer takes and returns; large asks mean few calls.
pub const CHUNK: usize = 16 << 20;

/// Sends up to `count` bytes of `file`, from its current position (which
/// advances), to `socket`. Returns the bytes sent, 0 at the end of the
/// file. A socket send timeout shows as `WouldBlock`.
pub fn send_chunk(socket: &TcpStream, file: &File, count: usize) -> io::Result<usize> {
    loop {
        match nix::sys::sendfile::sendfile(socket, file, None, count) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// True when the kernel cannot `sendfile` from this file at all (a file
/// system without page-cache reads): the caller copies instead.
pub fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP)
    )
}

/// The rest of `file` to `socket`. Returns the bytes sent.
pub fn send_all(file: &mut File, socket: &mut TcpStream) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        match send_chunk(socket, file, CHUNK) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if total == 0 && unsupported(&e) => return io::copy(file, socket),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::net::TcpListener;

    #[test]
    fn a_file_arrives_whole_from_its_position() {
        let mut file = tempfile::tempfile().unwrap();
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        file.write_all(&content).unwrap();
        file.seek(SeekFrom::Start(1000)).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            got
        });
        let mut socket = TcpStream::connect(addr).unwrap();
        assert_eq!(send_all(&mut file, &mut socket).unwrap(), 3_000_000 - 1000);
        drop(socket);
        assert_eq!(reader.join().unwrap(), &content[1000..]);
    }
}
