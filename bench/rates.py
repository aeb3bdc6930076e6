#!/usr/bin/env python3
"""Rate limits as an administrator sees them: serv --download-rate 1MiB.

    python3 bench/rates.py [--serv PATH] [--size MIB] [--rate RATE]

1. One session downloads a SIZE MiB file (default 10) at the rate (default
   1MiB): it should take about SIZE seconds (a little less: the bucket
   starts full with a tenth of a second of the rate).
2. Two sessions of one user (anonymous) download one SIZE MiB file each at
   once: together they should get the rate, each about half, so both end
   after about 2 x SIZE seconds.
3. For contrast, the same download with no limit.

The server is target/release/serv if it exists (or --serv), over a root
in a temporary directory; every client is Python's ftplib on 127.0.0.1.
Prints one JSON object per case.
"""
import argparse
import ftplib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def default_serv():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
    for profile in ("release", "debug"):
        path = os.path.join(target, profile, "serv")
        if os.path.exists(path):
            return path
    sys.exit("no serv binary: build it (cargo build --release) or give --serv")


def start(serv, root, args):
    proc = subprocess.Popen(
        [serv, "--root", root, "--bind", "127.0.0.1", "-q", *args, "0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        sys.exit(f"serv did not start: {line!r}")
    port = int(line.rsplit(":", 1)[1])
    return proc, port


def download(port, name, result, key):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=600)
    ftp.login()
    received = 0
    started = time.monotonic()

    def count(block):
        nonlocal received
        received += len(block)

    ftp.retrbinary(f"RETR {name}", count, blocksize=64 * 1024)
    result[key] = {"bytes": received, "seconds": round(time.monotonic() - started, 2)}
    ftp.quit()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--serv", default=None)
    parser.add_argument("--size", type=int, default=10, help="MiB per file")
    parser.add_argument("--rate", default="1MiB")
    args = parser.parse_args()
    serv = args.serv or default_serv()
    size = args.size << 20
    with tempfile.TemporaryDirectory() as root:
        for name in ("a.bin", "b.bin"):
            with open(os.path.join(root, name), "wb") as f:
                f.write(os.urandom(size))

        proc, port = start(serv, root, ["--download-rate", args.rate])
        try:
            one = {}
            download(port, "a.bin", one, "a")
            print(json.dumps({"case": "one session", "rate": args.rate,
                              "mib": args.size, **one["a"]}), flush=True)

            two = {}
            threads = [threading.Thread(target=download, args=(port, n, two, n))
                       for n in ("a.bin", "b.bin")]
            started = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            total = round(time.monotonic() - started, 2)
            print(json.dumps({"case": "two sessions, one user", "rate": args.rate,
                              "mib_each": args.size, "seconds_total": total,
                              "sessions": two}), flush=True)
        finally:
            proc.terminate()
            proc.wait()

        proc, port = start(serv, root, [])
        try:
            free = {}
            download(port, "a.bin", free, "a")
            print(json.dumps({"case": "no limit", "mib": args.size, **free["a"]}),
                  flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
