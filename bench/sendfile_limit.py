#!/usr/bin/env python3
"""The raw loopback limit: sendfile(2) of a file over one TCP connection on
127.0.0.1 into a reader that discards, with no FTP around it.

    python3 bench/sendfile_limit.py FILE [READ_BUFFER_BYTES]

The sender (this process) accepts one connection and sends FILE with
os.sendfile until done, then closes; the reader is a separate process (so
the two use two CPUs, as a server and a client do) that recv_into()s a
READ_BUFFER_BYTES buffer (default 100 KiB, what curl reads with) until EOF. Socket buffers are left
to the kernel's autotuning. Prints one JSON object; MiB/s is bytes over the
time from accept to the reader's EOF.
"""
import json
import os
import socket
import subprocess
import sys
import time


def reader(port, bufsize):
    sock = socket.create_connection(("127.0.0.1", port))
    buf = bytearray(bufsize)
    view = memoryview(buf)
    total = 0
    while True:
        n = sock.recv_into(view)
        if not n:
            break
        total += n
    print(json.dumps({"bytes": total, "end": time.time()}), flush=True)


def main():
    if sys.argv[1] == "--reader":
        reader(int(sys.argv[2]), int(sys.argv[3]))
        return
    path = sys.argv[1]
    bufsize = int(sys.argv[2]) if len(sys.argv) > 2 else 100 * 1024
    size = os.path.getsize(path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    child = subprocess.Popen([sys.executable, __file__, "--reader", str(port), str(bufsize)],
                             stdout=subprocess.PIPE, text=True)
    try:
        conn, _ = listener.accept()
        started = time.time()
        with open(path, "rb") as f:
            offset = 0
            while offset < size:
                sent = os.sendfile(conn.fileno(), f.fileno(), offset, size - offset)
                if sent == 0:
                    break
                offset += sent
        conn.shutdown(socket.SHUT_WR)
        out, _ = child.communicate(timeout=600)
        result = json.loads(out)
        conn.close()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    elapsed = result["end"] - started
    if result["bytes"] != size:
        sys.exit("the reader got %d bytes of %d" % (result["bytes"], size))
    print(json.dumps({"bytes": size, "read_buffer": bufsize, "seconds": elapsed,
                      "mib_s": size / elapsed / 1048576}))


if __name__ == "__main__":
    main()
