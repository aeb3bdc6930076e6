#!/usr/bin/env python3
"""FTPS (explicit FTP over TLS, AUTH TLS + PROT P) throughput: serv against
vsftpd and pyftpdlib, side by side, on 127.0.0.1.

    python3 bench/ftps.py --rounds 3          # the full run (1 GiB)
    python3 bench/ftps.py --rounds 1 --size-mib 64   # a smoke test

Generates one self-signed certificate and key (pyOpenSSL, for 127.0.0.1
and localhost) shared by the three servers, creates a BIG file (on
/dev/shm when it has room) and gives each server its own root holding a
hard link to it and a world-writable pub/ for uploads (as
bench/compare.py does), starts

    serv       target/release/serv --tls-cert C --tls-key K (TLS on demand)
    vsftpd     ssl_enable, force_anon_logins_ssl, force_anon_data_ssl,
               require_ssl_reuse=YES, ssl_ciphers=HIGH, ssl_tlsv1=YES
               (this vsftpd 3.0.3 has no ssl_tlsv1_2 option)
    pyftpdlib  TLS_FTPHandler, tls_control_required, tls_data_required

and then, every round, in a rotating server order:

    RETR BIG  curl --ssl-reqd -k -o /dev/null        MiB/s (wall clock)
    STOR BIG  curl --ssl-reqd -k -T BIG pub/...      MiB/s (wall clock)
    RETR BIG  lftp (ftp:ssl-force, ssl-protect-data) get -o /dev/null
    STOR BIG  lftp put -o pub/...
              (lftp also needs ftp:ssl-allow-anonymous, or it logs in
              anonymously in clear; xfer:clobber to write to /dev/null)

with the server's CPU time (user + system) per transfer. CPU is taken per
process: every process of the server's tree is sampled every 0.1 s during
the transfer and each pid's own utime + stime (not its children's) is
counted from its first to its last reading, so vsftpd's session processes
count even when they are reparented out of the tree before they exit
(compare.py's cutime-based count misses them). Uploads are deleted after
each run. Each server is started once for the whole run. The negotiated
TLS version and cipher suite are read from `curl -v` once per server.

Medians over rounds go to stdout as markdown (and --json-out as JSON).
Every process started here is stopped on exit, also on errors and Ctrl-C.

Also: `python3 bench/ftps.py --pyftpd-server ROOT CERT KEY` runs the
pyftpdlib TLS server (prints `listening on 127.0.0.1:PORT`).
"""

import argparse
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

MIB = 1 << 20
CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVERS = ("serv", "vsftpd", "pyftpdlib")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# pyftpdlib over TLS (run as a child process of this script)

def pyftpd_server(root, cert, key):
    import logging
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_anonymous(root, perm="elradfmwMT")

    class Handler(TLS_FTPHandler):
        pass

    Handler.authorizer = authorizer
    Handler.certfile = cert
    Handler.keyfile = key
    Handler.tls_control_required = True
    Handler.tls_data_required = True
    Handler.banner = "pyftpdlib ready"
    server = FTPServer(("127.0.0.1", 0), Handler, backlog=1024)
    server.max_cons = 0
    server.max_cons_per_ip = 0
    print("listening on 127.0.0.1:%d" % server.address[1], flush=True)
    try:
        server.serve_forever(handle_exit=True)
    finally:
        server.close_all()


# ---------------------------------------------------------------------------
# Certificate

def make_cert(cert_path, key_path):
    """A self-signed RSA 2048 certificate for 127.0.0.1 and localhost
    (the `cryptography` package, which pyOpenSSL is built on)."""
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    Path(cert_path).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    Path(key_path).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()))
    os.chmod(key_path, 0o600)


# ---------------------------------------------------------------------------
# Servers (the plumbing is bench/compare.py's)

from compare import (Server, free_port, make_root, pick_base_dir, fs_type,  # noqa: E402
                     read_listening_line, secure_chroot_dir, vsftpd_config, wait_ready,
                     process_tree, remove, check_size, human)


def start_serv(ctx):
    root = ctx.roots["serv"]
    popen = subprocess.Popen(
        [str(ctx.release / "serv"), "--root", str(root), "--bind", "127.0.0.1", "-q",
         "--tls-cert", str(ctx.cert), "--tls-key", str(ctx.key), "0"],
        stdout=subprocess.PIPE, stderr=open(ctx.logs / "serv.log", "w"), text=True,
        start_new_session=True)
    ctx.popens.append(popen)
    return Server("serv", popen, read_listening_line(popen, "serv"), root)


def start_vsftpd(ctx):
    root = ctx.roots["vsftpd"]
    port = free_port()
    conf = ctx.logs / "vsftpd.conf"
    conf.write_text(vsftpd_config(root, port) + "\n".join([
        "ssl_enable=YES",
        "allow_anon_ssl=YES",
        "force_anon_logins_ssl=YES",
        "force_anon_data_ssl=YES",
        "rsa_cert_file=%s" % ctx.cert,
        "rsa_private_key_file=%s" % ctx.key,
        "require_ssl_reuse=YES",
        "ssl_ciphers=HIGH",
        # This vsftpd (Debian 3.0.3) has no ssl_tlsv1_2 option (it refuses
        # to start on it): ssl_tlsv1=YES lets OpenSSL negotiate TLS 1.0 and
        # up, hence 1.3 with today's clients; SSLv2/v3 stay off.
        "ssl_tlsv1=YES",
        "ssl_sslv2=NO",
        "ssl_sslv3=NO",
        "",
    ]))
    popen = subprocess.Popen(
        ["vsftpd", str(conf)], stdin=subprocess.DEVNULL,
        stdout=open(ctx.logs / "vsftpd.out", "w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    ctx.popens.append(popen)
    server = Server("vsftpd", popen, port, root)
    try:
        wait_ready(port)
    except RuntimeError:
        server.stop()
        raise RuntimeError("vsftpd did not start: %s" % (ctx.logs / "vsftpd.out").read_text())
    return server


def start_pyftpdlib(ctx):
    root = ctx.roots["pyftpdlib"]
    popen = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--pyftpd-server", str(root),
         str(ctx.cert), str(ctx.key)],
        stdout=subprocess.PIPE, stderr=open(ctx.logs / "pyftpdlib.log", "w"), text=True,
        start_new_session=True)
    ctx.popens.append(popen)
    return Server("pyftpdlib", popen, read_listening_line(popen, "pyftpdlib"), root)


STARTERS = {"serv": start_serv, "vsftpd": start_vsftpd, "pyftpdlib": start_pyftpdlib}


# ---------------------------------------------------------------------------
# CPU per process

def own_ticks(pid):
    """utime + stime of `pid` itself (all its threads), or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
        fields = stat[stat.rfind(")") + 2:].split()
        return int(fields[11]) + int(fields[12]), fields[19]  # ticks, starttime
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    """Own CPU of every process seen in the server's tree, sampled in a
    thread; a pid that leaves the tree (reparented) is still followed."""

    def __init__(self, root_pid, interval=0.1):
        self.root_pid, self.interval = root_pid, interval
        self.first, self.last = {}, {}  # (pid, starttime) -> ticks
        self.known = set()
        self.sample()
        self.initial = set(self.first)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def sample(self):
        pids = set(process_tree(self.root_pid)) | self.known
        for pid in pids:
            t = own_ticks(pid)
            if t is None:
                self.known.discard(pid)
                continue
            ticks, start = t
            k = (pid, start)
            self.known.add(pid)
            self.first.setdefault(k, ticks)
            self.last[k] = ticks

    def loop(self):
        while not self.stopping.wait(self.interval):
            self.sample()

    def stop(self):
        self.stopping.set()
        self.thread.join()
        time.sleep(0.2)
        self.sample()
        # A process born during the transfer counts from 0.
        total = 0
        for k, last in self.last.items():
            total += last - (self.first[k] if k in self.initial else 0)
        return total / CLK_TCK



# ---------------------------------------------------------------------------
# Clients

def run(cmd, timeout=900):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d: %s" % (os.path.basename(str(cmd[0])), p.returncode,
                                                 (p.stderr or p.stdout).strip()[-500:]))
    return p


def lftp_cmd(port, *commands):
    script = "; ".join(("set net:max-retries 1", "set ftp:ssl-force true",
                        "set ftp:ssl-protect-data true", "set ssl:verify-certificate no",
                        # lftp logs in anonymously in clear unless told otherwise.
                        "set ftp:ssl-allow-anonymous true", "set xfer:clobber on",
                        "open ftp://127.0.0.1:%d" % port) + commands)
    return ["lftp", "-c", script]


def curl(*args):
    return ["curl", "--ssl-reqd", "-k", "-s", "-S"] + list(args)


def transfer_cmd(scenario, server, ctx):
    """The client command and the uploaded file to check (None for RETR)."""
    url = "ftp://127.0.0.1:%d/" % server.port
    if scenario == "retr-curl":
        return curl("-o", "/dev/null", "-w", "%{size_download}", url + "big.bin"), None
    if scenario == "stor-curl":
        return curl("-T", str(ctx.big_file), url + "pub/curl-up.bin"), \
            server.root / "pub" / "curl-up.bin"
    if scenario == "retr-lftp":
        return lftp_cmd(server.port, "get big.bin -o /dev/null"), None
    if scenario == "stor-lftp":
        return lftp_cmd(server.port, "put %s -o pub/lftp-up.bin" % ctx.big_file), \
            server.root / "pub" / "lftp-up.bin"
    raise ValueError(scenario)


SCENARIOS = [
    ("retr-curl", "RETR", "curl"),
    ("stor-curl", "STOR", "curl"),
    ("retr-lftp", "RETR", "lftp"),
    ("stor-lftp", "STOR", "lftp"),
]


def measure(scenario, server, ctx):
    cmd, upload = transfer_cmd(scenario, server, ctx)
    if upload is not None:
        remove(upload)
    meter = CpuMeter(server.pid)
    t = time.perf_counter()
    try:
        p = run(cmd)
    finally:
        secs = time.perf_counter() - t
        cpu = meter.stop()
    if scenario == "retr-curl" and int(p.stdout.strip() or 0) != ctx.size:
        raise RuntimeError("curl got %s bytes of %d" % (p.stdout.strip(), ctx.size))
    if upload is not None:
        check_size(upload, ctx.size)
        remove(upload)
    return {"value": ctx.size / MIB / secs, "seconds": secs, "cpu_s": cpu}


def tls_info(server):
    """TLS version and cipher of the control and data connections (curl -v)."""
    p = subprocess.run(curl("-v", "-o", "/dev/null", "--max-filesize", str(1 << 40),
                            "ftp://127.0.0.1:%d/big.bin" % server.port, "-r", "0-1023"),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    found = re.findall(r"SSL connection using (\S+) / (\S+)", p.stderr)
    reused = "SSL re-using session ID" in p.stderr or "reusing session" in p.stderr.lower()
    return {"connections": found, "reused": reused, "rc": p.returncode}


# ---------------------------------------------------------------------------
# Reporting

def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x):
    if x is None:
        return "failed"
    if abs(x) >= 100:
        return "%.0f" % x
    if abs(x) >= 10:
        return "%.1f" % x
    return "%.2f" % x


def report(ctx, results, names, tls):
    out = []
    others = [n for n in names if n != "serv"]
    out.append("| scenario | client | " + " | ".join(names) + " | serv / best other |")
    out.append("|---|---|" + "---:|" * (len(names) + 1))
    for key, verb, client in SCENARIOS:
        meds = {n: median([r["value"] for r in results[key][n]]) for n in names}
        best = max([meds[o] for o in others if meds[o] is not None], default=None)
        ratio = fmt(meds["serv"] / best) if best and meds.get("serv") else ""
        out.append("| %s %s, MiB/s | %s | " % (verb, human(ctx.size), client)
                   + " | ".join(fmt(meds[n]) for n in names) + " | %s |" % ratio)
    out.append("")
    out.append("Server CPU seconds per GiB (user + system, median of rounds):\n")
    out.append("| scenario | client | " + " | ".join(names) + " |")
    out.append("|---|---|" + "---:|" * len(names))
    gib = ctx.size / (1 << 30)
    for key, verb, client in SCENARIOS:
        cells = [median([r["cpu_s"] for r in results[key][n] if "cpu_s" in r]) for n in names]
        out.append("| %s | %s | " % (verb, client)
                   + " | ".join(fmt(c / gib if c is not None else None) for c in cells) + " |")
    out.append("")
    out.append("Per round (MiB/s, in round order):\n")
    for key, verb, client in SCENARIOS:
        out.append("- %s %s: " % (verb, client) + "; ".join(
            "%s %s" % (n, ", ".join(fmt(r["value"]) if r["value"] is not None
                                     else "ERR" for r in results[key][n])) for n in names))
    out.append("")
    out.append("TLS negotiated (curl -v, control then data):\n")
    for n in names:
        info = tls.get(n, {})
        out.append("- %s: %s" % (n, "; ".join("%s %s" % c for c in info.get("connections", []))
                                 or "unknown (%s)" % info))
    errors = [(k, n, r["error"]) for k in results for n in results[k] for r in results[k][n]
              if "error" in r]
    if errors:
        out.append("")
        out.append("Errors:\n")
        for k, n, e in errors:
            out.append("- %s %s: %s" % (k, n, e))
    return "\n".join(out)


# ---------------------------------------------------------------------------

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--release-dir", default=str(BENCH.parent / "target" / "release"))
    ap.add_argument("--base-dir", default=None, help="where the data goes (default /dev/shm)")
    ap.add_argument("--json-out", default=None)
    ap.add_argument("--deadline", default=None,
                    help="HH:MM UTC: start no new round after this")
    return ap.parse_args()


class Ctx:
    pass


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "--pyftpd-server":
        pyftpd_server(*sys.argv[2:5])
        return
    args = parse_args()
    ctx = Ctx()
    ctx.size = args.size_mib * MIB
    ctx.release = Path(args.release_dir)
    ctx.popens = []
    names = [n for n in args.servers.split(",") if n]
    tmp = tempfile.mkdtemp(prefix="ftps-bench-",
                           dir=pick_base_dir(ctx.size * (len(names) + 2), args.base_dir))
    tmp = Path(tmp)
    os.chmod(tmp, 0o755)
    servers = {}

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    signal.signal(signal.SIGTERM, on_signal)
    try:
        ctx.logs = tmp / "logs"
        ctx.logs.mkdir()
        ctx.cert, ctx.key = tmp / "cert.pem", tmp / "key.pem"
        make_cert(ctx.cert, ctx.key)
        os.chmod(ctx.cert, 0o644)
        data = tmp / "data"
        data.mkdir()
        ctx.big_file = data / "big.bin"
        block = os.urandom(MIB)
        with open(ctx.big_file, "wb") as f:
            for _ in range(args.size_mib):
                f.write(block)
        ctx.roots = {}
        for n in names:
            ctx.roots[n] = tmp / ("root-" + n)
            make_root(ctx.roots[n], data)
        log("data in %s on %s, %s" % (tmp, fs_type(tmp), human(ctx.size)))
        for n in names:
            servers[n] = STARTERS[n](ctx)
            log("  %s on port %d (pid %d)" % (n, servers[n].port, servers[n].pid))
        tls = {}
        for n in names:
            try:
                tls[n] = tls_info(servers[n])
            except Exception as e:  # noqa: BLE001
                tls[n] = {"error": str(e)}
            log("  %s TLS: %s" % (n, tls[n]))
        results = {k: {n: [] for n in names} for k, _, _ in SCENARIOS}
        done = 0
        for rnd in range(args.rounds):
            if args.deadline and done > 0:
                now = datetime.datetime.utcnow().strftime("%H:%M")
                if now >= args.deadline:
                    log("deadline %s reached: stopping after %d rounds" % (args.deadline, done))
                    break
            log("round %d of %d (%s UTC, load %s)" % (
                rnd + 1, args.rounds, datetime.datetime.utcnow().strftime("%H:%M:%S"),
                " / ".join("%.1f" % x for x in os.getloadavg())))
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for key, _, _ in SCENARIOS:
                for n in order:
                    try:
                        r = measure(key, servers[n], ctx)
                    except Exception as e:  # noqa: BLE001 - a failure is a result
                        r = {"error": str(e)[:300], "value": None}
                    results[key][n].append(r)
                    log("  %-10s %-9s %s" % (key, n, "ERROR " + r["error"] if "error" in r else
                                             "%.0f MiB/s in %.2f s, server CPU %.2f s"
                                             % (r["value"], r["seconds"], r["cpu_s"])))
            done += 1
        print("%d round(s), %s, load at the end %s\n" % (
            done, datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
            " / ".join("%.1f" % x for x in os.getloadavg())))
        print(report(ctx, results, names, tls))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(
                {"rounds": done, "size": ctx.size, "results": results, "tls": tls}, indent=1))
    finally:
        for s in servers.values():
            s.stop()
        for p in ctx.popens:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        # make_root leaves the roots read-only (0555); rmtree copes as root.
        subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    main()
