#!/usr/bin/env python3
"""`cli mirror` against `lftp -e mirror`, both directions, on 127.0.0.1.

    python3 bench/mirror.py                  # 2,000 x 4 KiB and 20 x 50 MiB, 3 rounds
    python3 bench/mirror.py --quick          # 200 x 4 KiB and 4 x 8 MiB, 1 round
    python3 bench/mirror.py --small 500 --big 0 --rounds 2
    python3 bench/mirror.py --release-dir /work/target15/release --no-build

Builds the release binaries (`cargo build --release`, honouring
$CARGO_TARGET_DIR) unless --no-build, makes two trees in a temporary
directory (on /dev/shm when it has room, so that disk writeback does not
blur the numbers): SMALL files of 4 KiB spread over 20 directories, and
BIG files of 50 MiB, starts one `serv` on a free port of 127.0.0.1 over a
root holding both, and then for every round, tree, direction (download:
`mirror /tree DEST`; upload: `mirror -R SRC /up`) and parallelism (1 and
4), runs `cli` and `lftp` in turn (alternating which goes first), each
into an empty target, timing the wall clock from start to exit. Every run
is checked: the target tree must have the source's names and sizes.

Both clients run with their defaults otherwise: lftp's mirror keeps times
(MDTM/MFMT) as cli's does. lftp is told `set net:max-retries 1` and
`set cmd:fail-exit yes`, so a failure shows rather than being retried.

Prints a table of medians (seconds, MiB/s, files/s) and cli's speed as a
fraction of lftp's. Every process started here is stopped on exit.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import wait_time_wait  # noqa: E402 - bench/ is not a package

REPO = Path(__file__).resolve().parent.parent
MIB = 1 << 20


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def release_dir(args):
    if args.release_dir:
        return Path(args.release_dir)
    target = os.environ.get("CARGO_TARGET_DIR")
    return (Path(target) if target else REPO / "target") / "release"


def build():
    log("building release binaries ...")
    subprocess.run(
        ["cargo", "build", "--release", "--bin", "serv", "--bin", "cli"],
        cwd=REPO,
        check=True,
    )


def make_tree(root, files, size, dirs):
    """`files` files of `size` bytes spread over `dirs` directories."""
    root.mkdir(parents=True)
    block = os.urandom(min(size, MIB)) if size else b""
    for i in range(files):
        d = root / f"dir {i % dirs:02d}" if dirs > 1 else root
        d.mkdir(exist_ok=True)
        with open(d / f"file {i:05d}.bin", "wb") as f:
            left = size
            while left > 0:
                chunk = block[: min(left, len(block))]
                f.write(chunk)
                left -= len(chunk)


def shape(root):
    """Relative path -> size (None for a directory), to compare trees."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            out[os.path.normpath(os.path.join(rel, d))] = None
        for f in filenames:
            out[os.path.normpath(os.path.join(rel, f))] = os.path.getsize(
                os.path.join(dirpath, f)
            )
    return out


def start_serv(binary, root):
    proc = subprocess.Popen(
        [str(binary), "--root", str(root), "--bind", "127.0.0.1", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"serv did not start: {line!r}")
    port = int(line.rsplit(":", 1)[1])
    return proc, port


def run(cmd, cwd):
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(
            f"{cmd[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return elapsed


def clear(path):
    if path.exists():
        shutil.rmtree(path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", type=int, default=2000, help="number of 4 KiB files")
    p.add_argument("--small-size", type=int, default=4096)
    p.add_argument("--big", type=int, default=20, help="number of big files")
    p.add_argument("--big-mib", type=int, default=50, help="size of a big file in MiB")
    p.add_argument("--parallel", default="1,4")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--release-dir")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--clients", default="cli,lftp")
    args = p.parse_args()
    if args.quick:
        args.small, args.big, args.big_mib, args.rounds = 200, 4, 8, 1
    if not args.no_build:
        build()
    bins = release_dir(args)
    serv, cli = bins / "serv", bins / "cli"
    clients = args.clients.split(",")
    if "lftp" in clients and not shutil.which("lftp"):
        raise SystemExit("lftp is not installed (apt-get install lftp)")
    parallels = [int(x) for x in args.parallel.split(",")]

    base = "/dev/shm" if shutil.disk_usage("/dev/shm").free > 4 * (
        args.big * args.big_mib * MIB + args.small * args.small_size
    ) else None
    work = Path(tempfile.mkdtemp(prefix="mirror-bench-", dir=base))
    proc = None
    try:
        root = work / "root"
        trees = []
        if args.small:
            make_tree(root / "small", args.small, args.small_size, 20)
            trees.append(("small", args.small, args.small * args.small_size))
        if args.big:
            make_tree(root / "big", args.big, args.big_mib * MIB, 1)
            trees.append(("big", args.big, args.big * args.big_mib * MIB))
        local = work / "local"
        local.mkdir()
        proc, port = start_serv(serv, root)
        log(f"serv on 127.0.0.1:{port}, trees in {work}")

        def command(client, direction, tree, par, target):
            if client == "cli":
                line = (
                    f"mirror --parallel {par} /{tree} {target}"
                    if direction == "download"
                    else f"mirror -R --parallel {par} {tree} /{target}"
                )
                return [str(cli), "-c", line, "127.0.0.1", str(port)]
            line = (
                f"mirror --parallel={par} /{tree} {target}"
                if direction == "download"
                else f"mirror -R --parallel={par} {tree} /{target}"
            )
            return [
                "lftp",
                "-p", str(port),
                "-u", "anonymous,bench@",
                "-e",
                "set net:max-retries 1; set cmd:fail-exit yes; "
                f"{line}; quit",
                "127.0.0.1",
            ]

        times = {}
        order = 0
        for rnd in range(args.rounds):
            for tree, files, size in trees:
                for direction in ("download", "upload"):
                    for par in parallels:
                        turn = clients if order % 2 == 0 else list(reversed(clients))
                        order += 1
                        for client in turn:
                            if direction == "download":
                                target = f"dl-{tree}"
                                clear(local / target)
                                expected, got_dir = root / tree, local / target
                            else:
                                # The upload's source: the tree, copied here once.
                                if not (local / tree).exists():
                                    shutil.copytree(root / tree, local / tree)
                                target = f"up-{tree}"
                                clear(root / target)
                                expected, got_dir = local / tree, root / target
                            # 2,000 files leave 2,000 data connections in
                            # TIME_WAIT for a minute; tens of thousands of
                            # them exhaust loopback's ephemeral ports (the
                            # server's PASV bind then fails with EADDRINUSE)
                            # and slow every later run. Below 8,000 the next
                            # 2,000 always find a port (each client pays alike,
                            # as they take turns going first).
                            wait_time_wait(limit=8000)
                            elapsed = run(
                                command(client, direction, tree, par, target), local
                            )
                            if shape(got_dir) != shape(expected):
                                raise SystemExit(
                                    f"{client} {direction} {tree} -P{par}: the trees differ"
                                )
                            key = (tree, direction, par, client)
                            times.setdefault(key, []).append(elapsed)
                            log(f"round {rnd + 1} {tree:5} {direction:8} -P{par} "
                                f"{client:4} {elapsed:7.2f} s")

        print(f"\nmedians over {args.rounds} round(s); small: {args.small} x "
              f"{args.small_size} B in 20 dirs; big: {args.big} x {args.big_mib} MiB\n")
        print("| tree | direction | parallel | client | seconds | MiB/s | files/s | cli / lftp |")
        print("|---|---|---|---|---|---|---|---|")
        for tree, files, size in trees:
            for direction in ("download", "upload"):
                for par in parallels:
                    meds = {
                        c: statistics.median(times[(tree, direction, par, c)])
                        for c in clients
                    }
                    for c in clients:
                        t = meds[c]
                        ratio = ""
                        if c == "cli" and "lftp" in meds:
                            ratio = f"{meds['lftp'] / t:.2f}x"
                        print(f"| {tree} | {direction} | {par} | {c} | {t:.2f} | "
                              f"{size / MIB / t:.1f} | {files / t:.0f} | {ratio} |")
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
