#!/usr/bin/env python3
"""edgeloop's benchmark harness: edgeloop side by side with its peers, in one run.

    python3 bench/bench.py [--quick] [--only NAME,...] [--skip-c10k] [--skip-callgrind]
                           [--out BENCHMARKS.md]

Starts edgeloop's hello world and the peers from ../shared/peers/peer (the floor, nginx with one
worker, hyper, picoserve, Tornado) one at a time, each pinned to CPU 1 with the load generator
(wrk) on CPU 0, checks that each answers, and measures:

  * keep-alive hello world, wrk -t1 -c64 -d10s, 3 runs (median and min-max, p99 latency);
  * wrk -t1 -c1000; pipelined (16 requests per write); Connection: close (the accept path);
  * server CPU microseconds per request: utime+stime of the server's processes from
    /proc/PID/stat over the run, divided by the requests wrk completed;
  * a C10K hold: 10,000 keep-alive connections each answered, held, answered again, with the
    server's RSS idle, while holding and after release;
  * instructions per request under callgrind (this machine has no perf counters), which is
    stable from run to run;
  * edgeloop's idle RSS and the stripped hello world per board (`cargo xtask build`).

Every load goes to 127.0.0.1 and is bounded in time; every process started here is stopped by
its PID. The table is printed and written to BENCHMARKS.md with the date, CPU and commands.
"""

import argparse
import asyncio
import datetime
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "peers"))
SERVER_CPU = "1"
LOAD_CPU = "0"
CLK_TCK = os.sysconf("SC_CLK_TCK")
BASE_PORT = 18400

HELLO_ENV = {}  # capacities for the normal hello world: the defaults
C10K_ENV = {  # capacities for the C10K build of the same hello world
    "EDGELOOP_MAX_CONNECTIONS": "10240",
    "EDGELOOP_MAX_HANDLERS": "10400",
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw).stdout


def ensure_tools():
    need = [t for t in ("wrk", "valgrind", "taskset") if shutil.which(t) is None]
    if need:
        pkgs = {"wrk": "wrk", "valgrind": "valgrind", "taskset": "util-linux"}
        cmd = ["apt-get", "install", "-y", "-qq"] + [pkgs[t] for t in need]
        if os.geteuid() != 0:
            sys.exit("missing tools; run: sudo apt-get update && sudo " + " ".join(cmd))
        subprocess.run(["apt-get", "update", "-qq"], check=True)
        subprocess.run(cmd, check=True)


def raise_nofile(n=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(n, hard)), hard))
        if hard < n and os.geteuid() == 0:
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    except (ValueError, OSError):
        pass


def build_edgeloop(env_extra, target_dir):
    env = dict(os.environ, **env_extra)
    sh(["cargo", "build", "--release", "--features", "firmware", "--example", "hello_world",
        "--target-dir", target_dir], cwd=ROOT, env=env)
    return os.path.join(target_dir, "release", "examples", "hello_world")


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

def tree(pid):
    """pid and its descendants (nginx's worker, for instance)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            kids = open(f"/proc/{p}/task/{p}/children").read().split()
        except OSError:
            kids = []
        todo.extend(int(k) for k in kids)
    return out


def cpu_ticks(pid):
    total = 0
    for p in tree(pid):
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])  # utime, stime (fields 14 and 15)
        except (OSError, IndexError):
            pass
    return total


def rss_kib(pid):
    total = 0
    for p in tree(pid):
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    def __init__(self, name, cmd, port, check="/", expect=b"Hello, world"):
        self.name, self.cmd, self.port = name, cmd, port
        self.check, self.expect = check, expect
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, cwd=ROOT)
        deadline = time.time() + 600  # a peer may build itself on first use
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                status, body = http_get(self.port, self.check)
                if status == 200 and (self.expect is None or body == self.expect):
                    return self
                raise RuntimeError(f"{self.name}: GET / gave {status} {body[:40]!r}")
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer")

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self):
        return self.proc.pid


def http_get(port, path, keep=None):
    s = keep or socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: b\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise OSError("closed")
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        status = int(head.split()[1])
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        while len(body) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, body
    finally:
        if keep is None:
            s.close()


# ---------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------

def wrk(port, conns, secs, extra=(), path="/"):
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency",
           *extra, f"http://127.0.0.1:{port}{path}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = sh(cmd, timeout=secs + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # wrk's own CPU over the run (it is the only child that ran): where it reaches ~100%, the
    # load generator, not the server, sets req/s.
    wrk_cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / secs * 100
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    reqs = int(re.search(r"(\d+) requests in", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "reqs": reqs, "p99_ms": p99_ms, "cmd": " ".join(cmd), "wrk_cpu": wrk_cpu,
            "errors": (errors.group(1) if errors else "") + (f" non2xx {non2xx.group(1)}" if non2xx else "")}


def measured(srv, fn):
    t0 = cpu_ticks(srv.pid)
    r = fn()
    t1 = cpu_ticks(srv.pid)
    r["cpu_us"] = (t1 - t0) / CLK_TCK * 1e6 / max(r["reqs"], 1)
    r["rss_kib"] = rss_kib(srv.pid)
    return r


async def c10k_client(port, n):
    """Opens n keep-alive connections, one request each, holds them, asks again, closes."""
    req = b"GET / HTTP/1.1\r\nHost: b\r\n\r\n"

    async def one(conn):
        r, w = conn
        w.write(req)
        await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", head)
        await r.readexactly(int(m.group(1)) if m else 0)
        return head.startswith(b"HTTP/1.1 200")

    conns = []
    for i in range(0, n, 500):
        batch = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                       for _ in range(min(500, n - i))))
        conns.extend(batch)
    first = await asyncio.gather(*(one(c) for c in conns), return_exceptions=True)
    return conns, sum(1 for x in first if x is True), one


def c10k(srv, n=10000):
    loop = asyncio.new_event_loop()
    idle = rss_kib(srv.pid)
    conns, ok1, one = loop.run_until_complete(c10k_client(srv.port, n))
    time.sleep(1)
    holding = rss_kib(srv.pid)
    async def again():
        return await asyncio.gather(*(one(c) for c in conns), return_exceptions=True)

    second = loop.run_until_complete(again())
    ok2 = sum(1 for x in second if x is True)
    for _, w in conns:
        w.close()
    time.sleep(2)
    after = rss_kib(srv.pid)
    loop.close()
    return {"n": n, "ok1": ok1, "ok2": ok2, "idle": idle, "holding": holding, "after": after}


def callgrind_instructions(binary_cmd, port, n_small=2000, n_big=12000):
    """Instructions per request: (total at n_big - total at n_small) / (n_big - n_small)."""
    totals = []
    for n in (n_small, n_big):
        out = f"/tmp/edgeloop-callgrind.{os.getpid()}.{n}"
        p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                              *binary_cmd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, cwd=ROOT)
        try:
            deadline = time.time() + 60
            while True:
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=30)
                    break
                except OSError:
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
            for _ in range(n):
                status, body = http_get(port, "/", keep=s)
                assert status == 200 and body == b"Hello, world"
            s.close()
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        text = open(out).read()
        os.unlink(out)
        m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
        totals.append(int(m.group(1)))
    return (totals[1] - totals[0]) / (n_big - n_small)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def server_cmds(hello, port, c10k_hello=None):
    peer = os.path.join(PEERS, "peer")
    edge = hello if c10k_hello is None else c10k_hello
    return {
        "edgeloop": ["taskset", "-c", SERVER_CPU, edge, "--port", str(port), "--host", "127.0.0.1"],
        "floor": [peer, "floor", str(port), SERVER_CPU],
        "nginx": [peer, "nginx", str(port), SERVER_CPU],
        "hyper": [peer, "hyper", str(port), SERVER_CPU],
        "picoserve": [peer, "picoserve", str(port), SERVER_CPU],
        "tornado": [peer, "tornado", str(port), SERVER_CPU],
    }


def fmt_ratio(a, b):
    return f"{a / b:.2f}" if b else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 run of 3 s per load (smoke)")
    ap.add_argument("--only", default="edgeloop,floor,nginx,hyper,picoserve,tornado")
    ap.add_argument("--skip-c10k", action="store_true")
    ap.add_argument("--skip-callgrind", action="store_true")
    ap.add_argument("--skip-status", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    args = ap.parse_args()
    ensure_tools()
    raise_nofile()
    secs, runs = (3, 1) if args.quick else (10, 3)
    names = args.only.split(",")

    log("building edgeloop hello world (release)...")
    hello = build_edgeloop(HELLO_ENV, os.path.join(ROOT, "target", "bench"))
    hello_c10k = build_edgeloop(C10K_ENV, os.path.join(ROOT, "target", "bench-c10k"))

    results = {}
    port = BASE_PORT
    for name in names:
        port += 1
        cmd = server_cmds(hello, port)[name]
        log(f"== {name}")
        r = {}
        with Server(name, cmd, port) as srv:
            r["idle_rss"] = rss_kib(srv.pid)
            ka = [measured(srv, lambda: wrk(port, 64, secs)) for _ in range(runs)]
            r["ka"] = ka
            r["c1000"] = measured(srv, lambda: wrk(port, 1000, secs))
            r["pipe"] = measured(srv, lambda: wrk(port, 64, secs, ["-s", os.path.join(PEERS, "pipeline.lua")]))
            r["close"] = measured(srv, lambda: wrk(port, 64, secs, ["-H", "Connection: close"]))
        if not args.skip_c10k and name in ("edgeloop", "nginx", "hyper", "floor"):
            port += 1
            cmd = server_cmds(hello, port, hello_c10k)[name]
            if name == "nginx":
                cmd = cmd + ["20000"]
            with Server(name, cmd, port) as srv:
                r["c10k"] = c10k(srv)
        results[name] = r
        log(f"   keep-alive c64: {statistics.median(x['rps'] for x in r['ka']):.0f} req/s")

    status = {}
    if not args.skip_status:
        port += 1
        log("== status firmware endpoints (and node_exporter's /metrics)")
        status_bin = build_status(os.path.join(ROOT, "target", "bench"))
        cmd = ["taskset", "-c", SERVER_CPU, status_bin, "--port", str(port), "--host", "127.0.0.1"]
        with Server("status", cmd, port, check="/api/status", expect=None) as srv:
            time.sleep(1.5)
            status["idle_rss"] = rss_kib(srv.pid)
            for key, path, extra in (("api", "/api/status", ()), ("metrics", "/metrics", ()),
                                     ("asset", "/status/app.js", ("-H", "Accept-Encoding: gzip"))):
                status[key] = measured(srv, lambda: wrk(port, 64, secs, extra, path))
        port += 1
        ne = [os.path.join(PEERS, "peer"), "node-exporter", str(port), SERVER_CPU]
        try:
            with Server("node-exporter", ne, port, check="/metrics", expect=None) as srv:
                status["node_exporter"] = measured(srv, lambda: wrk(port, 64, secs, (), "/metrics"))
                status["node_exporter_rss"] = rss_kib(srv.pid)
        except (RuntimeError, subprocess.CalledProcessError) as e:
            log(f"   node-exporter unavailable: {e}")

    insns = {}
    if not args.skip_callgrind:
        port += 1
        log("== callgrind: instructions per request (edgeloop, floor)")
        try:
            insns["edgeloop"] = callgrind_instructions([hello, "--port", str(port), "--host", "127.0.0.1"], port)
            port += 1
            floor_bin = os.path.join(os.environ.get("PEERS_TARGET_DIR", "/tmp/edgeloop-peers-target"), "floor")
            if not os.path.exists(floor_bin):
                os.makedirs(os.path.dirname(floor_bin), exist_ok=True)
                sh(["gcc", "-O2", "-o", floor_bin, os.path.join(PEERS, "floor.c")])
            insns["floor"] = callgrind_instructions([floor_bin, str(port)], port)
        except (OSError, AssertionError, subprocess.SubprocessError, AttributeError) as e:
            log(f"   callgrind failed: {e!r}")

    sizes = binary_sizes()
    port += 1
    static_rss = static_idle_rss(port)
    if static_rss is not None:
        sizes["idle RSS KiB, static musl x86_64, firmware profile"] = static_rss
    report = render(results, insns, sizes, secs, runs, args, status)
    print(report)
    with open(args.out, "w") as f:
        f.write(report)
    log(f"written to {args.out}")


def binary_sizes():
    """Stripped hello world per board, as `cargo xtask build` makes firmware images (the
    `firmware` profile, no unwind tables)."""
    out = {}
    for board in ("qemu-virt-aarch64", "beaglebone-black"):
        try:
            text = sh(["cargo", "xtask", "build", "--board", board, "--example", "hello_world"], cwd=ROOT)
        except subprocess.CalledProcessError:
            continue
        m = re.search(r"^board \S+ -> target (\S+)", text, re.M)
        b = re.search(r"^binary:\s+(\S+)", text, re.M)
        if not (m and b):
            continue
        triple, src = m.group(1), b.group(1)
        dst = f"/tmp/edgeloop-hello-{board}"
        strip = shutil.which("llvm-strip") if triple.startswith("aarch64") else shutil.which("arm-linux-gnueabihf-strip")
        strip = strip or shutil.which("llvm-strip") or shutil.which("strip")
        try:
            sh([strip, "-o", dst, src])
            out[f"{board} ({triple})"] = os.path.getsize(dst)
            os.unlink(dst)
        except (subprocess.CalledProcessError, TypeError, OSError):
            pass
    return out


def static_idle_rss(port):
    """Idle RSS (KiB) of the hello world as a device runs it: static musl, `firmware` profile,
    read after its first answer."""
    try:
        sh(["cargo", "build", "--profile", "firmware", "--features", "firmware", "--example",
            "hello_world", "--target", "x86_64-unknown-linux-musl"], cwd=ROOT)
    except subprocess.CalledProcessError as e:
        log(f"   static musl build failed (rustup target add x86_64-unknown-linux-musl?): {e}")
        return None
    binary = os.path.join(ROOT, "target", "x86_64-unknown-linux-musl", "firmware", "examples", "hello_world")
    cmd = ["taskset", "-c", SERVER_CPU, binary, "--port", str(port), "--host", "127.0.0.1"]
    with Server("edgeloop (static musl)", cmd, port) as srv:
        http_get(port, "/")
        return rss_kib(srv.pid)


def build_status(target_dir):
    sh(["cargo", "build", "--release", "--features", "firmware,status", "--example", "status",
        "--target-dir", target_dir], cwd=ROOT)
    return os.path.join(target_dir, "release", "examples", "status")


def render(results, insns, sizes, secs, runs, args, status=None):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = [
        "# edgeloop benchmarks",
        "",
        f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu}, "
        f"{os.cpu_count()} cores, kernel {os.uname().release}. Server pinned to CPU {SERVER_CPU}, "
        f"wrk to CPU {LOAD_CPU}; {runs} run(s) of {secs} s per keep-alive load.",
        "",
        "Command: `python3 bench/bench.py" + (" --quick" if args.quick else "") + "` "
        "(wrk commands below; peers from `../shared/peers/peer`).",
        "",
        "Server CPU µs/request = (utime+stime of the server's processes over the run, from "
        "`/proc/PID/stat`) ÷ requests completed. wrk CPU % is the load generator's own CPU over "
        "the run: near 100% the load generator, not the server, sets req/s, and server CPU per "
        "request is the figure to compare. Ratios are edgeloop ÷ peer from this run "
        "(for req/s higher is better for edgeloop; for CPU, p99 and RSS lower is).",
        "",
        "## Keep-alive hello world, wrk -t1 -c64",
        "",
        "| server | req/s median (min–max) | p99 ms | CPU µs/req | wrk CPU % | idle RSS KiB | edgeloop ÷ peer (req/s, CPU/req, p99) |",
        "|---|---|---|---|---|---|---|",
    ]
    e = results.get("edgeloop")

    def med(r, k):
        return statistics.median(x[k] for x in r["ka"])

    for name, r in results.items():
        rps = [x["rps"] for x in r["ka"]]
        ratio = ""
        if e and name != "edgeloop":
            ratio = (f"{fmt_ratio(med(e, 'rps'), med(r, 'rps'))}, "
                     f"{fmt_ratio(med(e, 'cpu_us'), med(r, 'cpu_us'))}, "
                     f"{fmt_ratio(med(e, 'p99_ms'), med(r, 'p99_ms'))}")
        lines.append(f"| {name} | {statistics.median(rps):.0f} ({min(rps):.0f}–{max(rps):.0f}) | "
                     f"{med(r, 'p99_ms'):.2f} | {med(r, 'cpu_us'):.2f} | {med(r, 'wrk_cpu'):.0f} | "
                     f"{r['idle_rss']} | {ratio} |")
    for title, key in (("wrk -t1 -c1000", "c1000"), ("Pipelined, 16 requests per write (pipeline.lua), -c64", "pipe"),
                       ("Connection: close (accept path), -c64", "close")):
        lines += ["", f"## {title}", "",
                  "| server | req/s | p99 ms | CPU µs/req | wrk CPU % | errors | edgeloop ÷ peer (req/s, CPU/req) |",
                  "|---|---|---|---|---|---|---|"]
        for name, r in results.items():
            x = r[key]
            ratio = ""
            if e and name != "edgeloop":
                ratio = f"{fmt_ratio(e[key]['rps'], x['rps'])}, {fmt_ratio(e[key]['cpu_us'], x['cpu_us'])}"
            label = name
            if key == "close" and name == "floor":
                # floor.c answers every read and never closes: wrk keeps its connections.
                label = "floor (ignores `Connection: close`: keep-alive, not comparable)"
            lines.append(f"| {label} | {x['rps']:.0f} | {x['p99_ms']:.2f} | {x['cpu_us']:.2f} | "
                         f"{x['wrk_cpu']:.0f} | {x['errors'].strip() or '0'} | {ratio} |")
    c10 = {n: r["c10k"] for n, r in results.items() if "c10k" in r}
    if c10:
        lines += ["", "## C10K hold: 10,000 keep-alive connections, answered, held, answered again", "",
                  "| server | answered (1st / 2nd) | RSS idle KiB | RSS holding KiB | RSS after release KiB | edgeloop ÷ peer (holding RSS) |",
                  "|---|---|---|---|---|---|"]
        for name, x in c10.items():
            ratio = fmt_ratio(c10["edgeloop"]["holding"], x["holding"]) if "edgeloop" in c10 and name != "edgeloop" else ""
            lines.append(f"| {name} | {x['ok1']} / {x['ok2']} of {x['n']} | {x['idle']} | {x['holding']} | {x['after']} | {ratio} |")
    if status:
        lines += ["", "## Status firmware endpoints, wrk -t1 -c64", "",
                  "| endpoint | req/s | p99 ms | CPU µs/req | errors |", "|---|---|---|---|---|"]
        for key, label in (("api", "edgeloop status `/api/status` (JSON)"),
                           ("metrics", "edgeloop status `/metrics`"),
                           ("asset", "edgeloop status `/status/app.js`, gzip"),
                           ("node_exporter", "node_exporter `/metrics`")):
            if key in status:
                x = status[key]
                lines.append(f"| {label} | {x['rps']:.0f} | {x['p99_ms']:.2f} | {x['cpu_us']:.2f} | {x['errors'].strip() or '0'} |")
        if "metrics" in status and "node_exporter" in status:
            lines.append(f"\nedgeloop `/metrics` ÷ node_exporter `/metrics` (req/s): "
                         f"{status['metrics']['rps'] / status['node_exporter']['rps']:.0f}×; status firmware idle RSS "
                         f"{status['idle_rss']} KiB vs node_exporter {status.get('node_exporter_rss', '?')} KiB.")
    if insns:
        lines += ["", "## Instructions per request (callgrind, one keep-alive connection)", "",
                  "| server | instructions/request |", "|---|---|"]
        for name, v in insns.items():
            lines.append(f"| {name} | {v:.0f} |")
        if "floor" in insns:
            lines.append(f"\nedgeloop ÷ floor: {insns['edgeloop'] / insns['floor']:.2f}")
    if sizes:
        lines += ["", "## Stripped static hello world (`cargo xtask build --board B --example hello_world`)", "",
                  "| board (target) | bytes |", "|---|---|"]
        for t, n in sizes.items():
            if t.startswith("idle RSS"):
                lines.append(f"\nHello world {t}: **{n}**.")
            else:
                lines.append(f"| {t} | {n} ({n / 1024:.1f} KiB) |")
    lines += ["", "## Commands", "", "```"]
    if e:
        for key in ("c1000", "pipe", "close"):
            lines.append(e[key]["cmd"])
        lines.append(e["ka"][0]["cmd"])
    lines += ["```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
