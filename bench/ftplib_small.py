#!/usr/bin/env python3
"""Small-file RETR rate with Python's ftplib, for bench/compare.py.

    python3 bench/ftplib_small.py HOST PORT REMOTE COUNT

Logs in anonymously, downloads REMOTE once untimed, then COUNT times over
the same session (each `retrbinary` is TYPE I, PASV, RETR and a fresh data
connection, as any ftplib program does). Prints one JSON object.
"""
import ftplib
import json
import sys
import time


def main():
    host, port, remote, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=60)
    ftp.login()
    received = [0]

    def sink(block):
        received[0] += len(block)

    ftp.retrbinary("RETR " + remote, sink)
    size = received[0]
    received[0] = 0
    started = time.perf_counter()
    for _ in range(count):
        ftp.retrbinary("RETR " + remote, sink)
    elapsed = time.perf_counter() - started
    ftp.quit()
    if received[0] != size * count:
        sys.exit("got %d bytes, expected %d" % (received[0], size * count))
    print(json.dumps({"count": count, "file_bytes": size, "seconds": elapsed,
                      "files_s": count / elapsed}))


if __name__ == "__main__":
    main()
