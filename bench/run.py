#!/usr/bin/env python3
"""bench/run.py: the driver of `make bench` (doc/design.md, Performance rules).

Runs the programs of bench/ bare and with libtlsclose.so preloaded, side by
side in one invocation, and prints one table. Every figure is a comparison
of two runs of the same program on this machine:

* counts, on which the bars are set: user-space instructions from valgrind's
  callgrind (--toggle-collect on the measured function of each program, so
  start-up does not count) and system calls from strace -c. Both are taken at
  two sizes and the difference is divided by the difference in calls or
  connections (the slope), so one-time costs (binding OpenSSL, the exit
  summary) do not blur the per-call figure. Under valgrind and strace the
  client is slow and finds every record complete, so the counts repeat.
* wall-time ratios, reported beside them: alternating runs (the order flips
  every round), at least 5 rounds; the median and the min-max of the
  per-round ratio shimmed / bare (> 1: the shimmed run was slower).

Item 6 (bench/serverload.py) loads nginx and HAProxy with wrk, bare and
with the library preloaded.

Exit status 0 when every bar is met, 1 when one is missed, 2 on a setup
error. Rows whose tool is missing (valgrind, strace, stunnel, wrk, nginx,
haproxy) say SKIP and why; they do not fail the run.
"""

import argparse
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile

TIMEOUT = 600  # seconds: upper bound for any one process (valgrind is slow)
RECORD = 16384


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TLSCLOSE_") and k != "LD_PRELOAD"}
    env["LC_ALL"] = "C"
    return env


class Setup(Exception):
    pass


class Server:
    """A server process (bare unless preloaded) that prints {"port":N} first;
    its CPU time is read from wait4() when it is stopped."""

    def __init__(self, argv, env, log, ready=None):
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=log, text=True)
        self.cpu = 0.0
        self.port = None
        if ready is None:
            r, _, _ = select.select([self.proc.stdout], [], [], 30)
            line = self.proc.stdout.readline() if r else ""
            if not line:
                self.stop()
                raise Setup(f"{argv[0]}: no port line")
            self.port = json.loads(line)["port"]

    def stop(self):
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            _, _, ru = os.wait4(self.proc.pid, 0)
            self.proc.returncode = -1
            self.cpu = ru.ru_utime + ru.ru_stime
        self.proc.stdout.close()
        return self.cpu


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = args.builddir
        self.lib = args.library
        self.tmp = tempfile.mkdtemp(prefix="tlsclose-bench.")
        self.log = open(os.path.join(self.tmp, "stderr.log"), "w")
        self.cert = os.path.join(self.tmp, "cert.pem")
        self.key = os.path.join(self.tmp, "key.pem")
        for p in ("bench/server", "bench/bulk", "bench/short", "bench/close", "bench/hold",
                  "tests/peer"):
            if not os.access(self.prog(p), os.X_OK):
                raise Setup(f"{self.prog(p)} is not built (run make bench)")
        if not os.path.exists(self.lib):
            raise Setup(f"{self.lib} is not built")
        subprocess.run([self.prog("tests/peer"), "gencert", self.cert, self.key], check=True)
        self.valgrind = shutil.which("valgrind")
        self.strace = shutil.which("strace")
        self.stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
        self.failed = []
        self.close_pipe_ir = None  # item 1's shimmed count, for item 4's comparison
        self.perf = None
        self.pad = 0  # length of TC_BENCH_PAD in clients' environments (item 3's layouts)

    def prog(self, name):
        return os.path.join(self.build, name)

    def env(self, shim):
        env = clean_env()
        if self.pad:
            env["TC_BENCH_PAD"] = "x" * self.pad
        if shim:
            env["LD_PRELOAD"] = self.lib
        return env

    def server(self, *opts, shim=False):
        argv = [self.prog("bench/server"), f"--cert={self.cert}", f"--key={self.key}", *opts]
        return Server(argv, self.env(shim), self.log)

    # --- one run of a client --------------------------------------------------
    def client(self, argv, shim, wrap=()):
        p = subprocess.run([*wrap, *argv], env=self.env(shim), stdout=subprocess.PIPE,
                           stderr=self.log, text=True, timeout=TIMEOUT)
        if p.returncode != 0:
            raise Setup(f"{' '.join(argv)} failed (exit {p.returncode}; see {self.log.name})")
        return json.loads(p.stdout.strip().splitlines()[-1])

    def instructions(self, argv, shim, function, extra=(), own=None):
        """User-space instructions inside `function` (callgrind), and the
        program's own JSON line. With own (a list), also appends the
        library's own share of them (library_own)."""
        out = os.path.join(self.tmp, "callgrind.out")
        res = self.client(argv, shim, wrap=[self.valgrind, "--tool=callgrind", "-q", *extra,
                                            f"--toggle-collect={function}",
                                            f"--callgrind-out-file={out}"])
        if own is not None:
            own.append(library_own(out, os.path.basename(self.lib)))
        with open(out) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    return int(line.split()[1]), res
        raise Setup("callgrind wrote no totals")

    def wrapper_cost(self, argv, function, loop):
        """Instructions the shim's own `function` executes, excluding the real
        OpenSSL function it calls (callgrind's inclusive costs: the wrapper's,
        which callgrind_annotate may list split by source file, minus the
        real one's), and the program's JSON line."""
        out = os.path.join(self.tmp, "callgrind.out")
        res = self.client(argv, True, wrap=[self.valgrind, "--tool=callgrind", "-q",
                                            f"--toggle-collect={loop}",
                                            f"--callgrind-out-file={out}"])
        p = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100",
                            "--inclusive=yes", out], stdout=subprocess.PIPE, text=True)
        wrapper = real = 0
        for line in p.stdout.splitlines():
            m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(\S+)(?: \[(.*)\])?$", line)
            if not m or not m.group(2).endswith(":" + function):
                continue
            n = int(m.group(1).replace(",", ""))
            if "/shim/" in m.group(2):
                wrapper += n
            elif m.group(3) and "libssl" in m.group(3):
                real += n
        if not wrapper or not real:
            raise Setup(f"callgrind_annotate did not list {function} (no debug information?)")
        return wrapper - real, res

    def syscall_total(self, argv, shim):
        """All system calls of the process: perf's raw_syscalls tracepoint when
        perf can read it (no slow-down), else strace. Returns {"all": n}."""
        if self.perf is None:
            self.perf = bool(shutil.which("perf")) and subprocess.run(
                ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        if not self.perf:
            counts, res = self.syscalls(argv, shim)
            return {"all": sum(counts.values())}, res
        out = os.path.join(self.tmp, "perf.out")
        env_wrap = ["env", f"LD_PRELOAD={self.lib}"] if shim else []
        p = subprocess.run(["perf", "stat", "-x,", "-o", out, "-e", "raw_syscalls:sys_enter",
                            *env_wrap, *argv], env=self.env(False), stdout=subprocess.PIPE,
                           stderr=self.log, text=True, timeout=TIMEOUT)
        if p.returncode != 0:
            raise Setup(f"perf stat {' '.join(argv)} failed (see {self.log.name})")
        with open(out) as f:
            for line in f:
                parts = line.split(",")
                if len(parts) > 2 and "raw_syscalls:sys_enter" in line and parts[0].isdigit():
                    return {"all": int(parts[0])}, json.loads(p.stdout.strip().splitlines()[-1])
        raise Setup("perf stat wrote no count")

    def syscalls(self, argv, shim):
        """{syscall: calls} of the whole process (strace -c), and its JSON."""
        out = os.path.join(self.tmp, "strace.out")
        env_opt = ["-E", f"LD_PRELOAD={self.lib}"] if shim else []
        p = subprocess.run([self.strace, "-f", "-c", "-U", "calls,name", "-o", out, *env_opt,
                            *argv], env=self.env(False), stdout=subprocess.PIPE,
                           stderr=self.log, text=True, timeout=TIMEOUT)
        if p.returncode != 0:
            raise Setup(f"strace {' '.join(argv)} failed (see {self.log.name})")
        return strace_counts(out), json.loads(p.stdout.strip().splitlines()[-1])


def strace_counts(path):
    """{syscall: calls} from the file strace -c -U calls,name wrote."""
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2 and parts[0].isdigit() and parts[1] != "total":
                counts[parts[1]] = int(parts[0])
    return counts


# --- the library's own instructions ------------------------------------------------

# The functions the library wraps: a call from the library to the real one
# is the program's work, passed through (the library's own SSL_shutdown,
# which sends close_notify for a sloppy program, is not).
WRAPPED = {"SSL_connect", "SSL_accept", "SSL_do_handshake", "SSL_read", "SSL_read_ex",
           "SSL_peek", "SSL_peek_ex", "SSL_write", "SSL_write_ex", "SSL_shutdown", "SSL_free",
           "SSL_up_ref", "SSL_clear", "SSL_get_error", "SSL_set_shutdown", "SSL_get_shutdown",
           "close", "shutdown", "dup", "dup2", "dup3", "fcntl", "fcntl64", "close_range",
           "closefrom", "fclose"}

NAMED = re.compile(r"(c?)(ob|fn)=\((\d+)\)(?: (.*))?$")


def library_own(path, library):
    """Instructions the library itself executes, from a callgrind output
    file: the library's own code plus what it calls in other objects
    (OpenSSL, libc), less the real functions it passes the program's calls
    to. Unlike the whole program's count, this does not move with the heap
    and stack layout (the same code runs), so it is the count to compare."""
    names = {"ob": {}, "fn": {}}
    ob = fn = cob = cfn = None
    own = 0
    pending = False
    with open(path) as f:
        for line in f:
            if pending:
                pending = False
                parts = line.split()
                callee_ob = cob or ob
                if (library in (ob or "") and library not in (callee_ob or "") and len(parts) > 1
                        and not (cfn in WRAPPED and (cfn != "SSL_shutdown" or fn == cfn))):
                    own += int(parts[1])
                cob = None
                continue
            m = NAMED.match(line.rstrip("\n"))
            if m:
                call, kind, ident, name = m.groups()
                if name:
                    names[kind][ident] = name.strip()
                value = names[kind].get(ident, ident)
                if kind == "ob":
                    if call:
                        cob = value
                    else:
                        ob = value
                else:
                    if call:
                        cfn = value
                    else:
                        fn, cob = value, None
                continue
            if line.startswith("calls="):
                pending = True
                continue
            if "=" in line.split(" ", 1)[0]:
                continue
            parts = line.split()
            if len(parts) >= 2 and parts[0][0] in "0123456789+-*" and library in (ob or ""):
                try:
                    own += int(parts[1])
                except ValueError:
                    pass
    return own


# --- figures ---------------------------------------------------------------------

def slope(measure, small, large):
    """(value(large) - value(small)) / (units(large) - units(small)) where
    measure(size) returns (value, units)."""
    v1, u1 = measure(small)
    v2, u2 = measure(large)
    return (v2 - v1) / (u2 - u1)


def syscall_slope(measure, small, large):
    """Per-unit system calls, total and by name."""
    (c1, u1), (c2, u2) = measure(small), measure(large)
    names = set(c1) | set(c2)
    per = {n: (c2.get(n, 0) - c1.get(n, 0)) / (u2 - u1) for n in names}
    return sum(per.values()), per


def diff_names(shim, bare):
    out = []
    for n in sorted(set(shim) | set(bare)):
        d = shim.get(n, 0) - bare.get(n, 0)
        if abs(d) >= 0.005:
            out.append(f"{n} {d:+.2f}")
    return ", ".join(out) or "none"


def ratio_text(ratios):
    if not ratios:
        return "-"
    return f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})"


def alternate(runs, rounds):
    """runs: {name: fn() -> value}. Runs them `rounds` times, in an order that
    rotates every round; returns {name: [value per round]}."""
    names = list(runs)
    values = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        if r % 2:
            order.reverse()
        for n in order:
            values[n].append(runs[n]())
    return values


def per_round(values, num, den):
    return [a / b for a, b in zip(values[num], values[den])]


class Table:
    def __init__(self):
        self.rows = []

    def add(self, item, measure, bare, shim, extra, bar, wall, verdict):
        self.rows.append([item, measure, bare, shim, extra, bar, wall, verdict])

    HEAD = ["item", "measure", "bare", "shimmed", "difference", "bar", "wall ratio med (min-max)",
            "verdict"]

    def text(self):
        rows = [self.HEAD] + self.rows
        w = [max(len(str(r[i])) for r in rows) for i in range(len(self.HEAD))]
        return "\n".join("  ".join(str(c).ljust(w[i]) for i, c in enumerate(r)).rstrip()
                         for r in rows)

    def markdown(self):
        lines = ["| " + " | ".join(self.HEAD) + " |", "|" + "---|" * len(self.HEAD)]
        for r in self.rows:
            lines.append("| " + " | ".join(str(c) for c in r) + " |")
        return "\n".join(lines)


def verdict(bench, ok, what):
    if not ok:
        bench.failed.append(what)
    return "ok" if ok else "MISSED"


# --- item 1: close() of descriptors that are not TLS --------------------------------

def item_close(b, t):
    a = b.args
    for kind in ("devnull", "pipe", "socket"):
        prog = [b.prog("bench/close"), f"--kind={kind}", "--batch=1000"]
        name = {"devnull": "/dev/null", "pipe": "pipe", "socket": "TCP socket"}[kind]
        walls = alternate({s: (lambda s=s: b.client(prog + [f"--rounds={a.close_rounds}"], s)
                               ["ns_per_call"]) for s in (False, True)}, a.rounds)
        wall = ratio_text(per_round(walls, True, False))
        ns = f"{statistics.median(walls[False]):.0f} ns / {statistics.median(walls[True]):.0f} ns"
        if b.valgrind:
            ir = {s: slope(lambda r, s=s: (b.instructions(prog + [f"--rounds={r}"], s,
                                                           "bench_close_batch")[0], r * 1000), 2, 4)
                  for s in (False, True)}
            extra = ir[True] - ir[False]
            if kind == "pipe":
                b.close_pipe_ir = ir[True]
            t.add("1", f"close({name}): instructions/call", f"{ir[False]:.1f}", f"{ir[True]:.1f}",
                  f"{extra:+.1f}", "<= +20", wall, verdict(b, extra <= 20, f"close {kind} instr"))
        else:
            t.add("1", f"close({name}): instructions/call", "-", "-", "-", "<= +20", wall,
                  "SKIP: valgrind not installed")
        if b.strace:
            sc = {s: syscall_slope(lambda r, s=s: (b.syscalls(prog + [f"--rounds={r}"], s)[0],
                                                   r * 1000), 2, 4) for s in (False, True)}
            extra = sc[True][0] - sc[False][0]
            t.add("1", f"close({name}): syscalls/call (incl. open)", f"{sc[False][0]:.2f}",
                  f"{sc[True][0]:.2f}", f"{extra:+.2f}", "+0", "-",
                  verdict(b, abs(extra) < 0.005, f"close {kind} syscalls"))
        t.add("1", f"close({name}): ns/call (median)", ns.split(" / ")[0], ns.split(" / ")[1],
              "", "report", wall, "")


# --- items 1 and 4 with live connections (bench/hold) -------------------------------

def item_hold(b, t):
    """close() of pipes with N live TLS connections in the process (both ends
    of each in-process connection are tracked: 2N records), and the memory
    they take. Judged against the counts of item 1 without connections."""
    a = b.args
    n = a.hold
    prog = [b.prog("bench/hold"), f"--cert={b.cert}", f"--key={b.key}", f"--connections={n}",
            "--kind=pipe", "--batch=1000"]
    runs = alternate({s: (lambda s=s: b.client(prog + [f"--rounds={a.close_rounds}"], s))
                      for s in (False, True)}, a.rounds)
    held = runs[True][0]["connections"]
    wall = ratio_text([x["ns_per_call"] / y["ns_per_call"] for x, y in zip(runs[True], runs[False])])
    if b.valgrind:
        # One run each: the handshakes run uninstrumented (--instr-atstart=no,
        # bench/hold starts instrumentation), close()'s PLT entry is resolved
        # before the measured function, so instructions / calls is exact.
        ir = {}
        for s in (False, True):
            n_ir, res = b.instructions(prog + ["--rounds=4"], s, "bench_close_batch",
                                       extra=["--instr-atstart=no"])
            ir[s] = n_ir / res["calls"]
        none = b.close_pipe_ir
        extra = ir[True] - ir[False]
        same = none is None or abs(ir[True] - none) < 0.05
        t.add("1", f"close(pipe), {held} live TLS conns ({2 * held} tracked): instructions/call",
              f"{ir[False]:.1f}", f"{ir[True]:.1f}",
              f"{extra:+.1f}" + ("" if none is None else f"; shimmed without conns {none:.1f}"),
              "<= +20, same", wall, verdict(b, extra <= 20 and same, "close with conns instr"))
    if b.strace or shutil.which("perf"):
        sc = {s: syscall_slope(lambda r, s=s: (b.syscall_total(prog + [f"--rounds={r}"], s)[0],
                                               r * 1000), 2, 4) for s in (False, True)}
        extra = sc[True][0] - sc[False][0]
        t.add("1", f"close(pipe), {held} live TLS conns: syscalls/call (incl. pipe())",
              f"{sc[False][0]:.2f}", f"{sc[True][0]:.2f}", f"{extra:+.2f}", "+0", "-",
              verdict(b, abs(extra) < 0.005, "close with conns syscalls"))
    rss = {s: statistics.median(r["rss_kib"] for r in runs[s]) for s in (False, True)}
    per = (rss[True] - rss[False]) * 1024 / (2 * held) if held else 0
    t.add("4", f"RSS with {held} live TLS conns (KiB, median)", f"{rss[False]:.0f}",
          f"{rss[True]:.0f}", f"x{rss[True] / rss[False]:.3f}", "report",
          ratio_text([x["rss_kib"] / y["rss_kib"] for x, y in zip(runs[True], runs[False])]), "")
    t.add("4", "bytes per tracked connection (RSS difference / records)", "", f"{per:.0f}", "",
          "small, fixed", "-", "")


# --- item 2: bulk SSL_read ---------------------------------------------------------

def bulk_run(b, nbytes, shim, ex=False, how=None, fn="bench_read_loop"):
    if how:
        # Counts: the in-memory transport (bench/bulk --memory): every record
        # complete, no timing in the counts.
        argv = [b.prog("bench/bulk"), "--memory", f"--cert={b.cert}", f"--key={b.key}",
                f"--bytes={nbytes}", "--tls1.3"] + (["--ex"] if ex else [])
        if how == "instr":
            ir, res = b.instructions(argv, shim, fn)
            return ir, res["calls"]
        if how == "own":
            ir, res = b.wrapper_cost(argv, fn, "bench_read_loop")
            return ir, res["calls"]
        counts, res = b.syscalls(argv, shim)
        return counts, res["calls"]
    srv = b.server("--mode=bulk", f"--bytes={nbytes}", "--tls1.3")
    try:
        argv = [b.prog("bench/bulk"), f"--port={srv.port}", "--tls1.3"] + (["--ex"] if ex else [])
        if how == "instr":
            ir, res = b.instructions(argv, shim, fn)
            return ir, res["calls"]
        if how == "sys":
            counts, res = b.syscalls(argv, shim)
            return counts, res["calls"]
        return b.client(argv, shim)
    finally:
        srv.stop()


def item_bulk(b, t):
    a = b.args
    small, large = 16 << 20, 32 << 20
    for ex in (False, True):
        fname = "SSL_read_ex" if ex else "SSL_read"
        if not ex:
            runs = alternate({s: (lambda s=s: bulk_run(b, a.bulk_bytes, s)) for s in (False, True)},
                             a.rounds)
            wall = ratio_text([x["wall_ns"] / y["wall_ns"] for x, y in zip(runs[True], runs[False])])
            cpu = ratio_text([x["cpu_ns"] / y["cpu_ns"] for x, y in zip(runs[True], runs[False])])
            mib = {s: statistics.median(a.bulk_bytes / r["wall_ns"] * 1e9 / 2**20 for r in runs[s])
                   for s in (False, True)}
            t.add("2", f"{fname} 16 KiB, {a.bulk_bytes >> 20} MiB TLS 1.3: MiB/s (median)",
                  f"{mib[False]:.0f}", f"{mib[True]:.0f}", "", "report", wall + " time", "")
            t.add("2", f"{fname}: client CPU time", "", "", "", "report", cpu, "")
        else:
            wall = "-"
        if b.valgrind:
            ir = {s: slope(lambda n, s=s: bulk_run(b, n, s, ex, "instr"), small, large)
                  for s in (False, True)}
            extra = ir[True] - ir[False]
            own = slope(lambda n: bulk_run(b, n, True, ex, "own", fname), small, large)
            t.add("2", f"{fname} 16 KiB: instructions/call, the wrapper's own", "", f"{own:.1f}",
                  f"+{own:.1f}", "<= +100", wall, verdict(b, own <= 100, f"{fname} instr"))
            t.add("2", f"{fname} 16 KiB: instructions/call, whole program", f"{ir[False]:.0f}",
                  f"{ir[True]:.0f}", f"{extra:+.1f} ({extra / ir[False] * 100:.2f} %)",
                  "< 0.2 %", wall, verdict(b, extra / ir[False] < 0.002, f"{fname} instr %"))
        else:
            t.add("2", f"{fname} 16 KiB: instructions/call", "-", "-", "-", "<= +100", wall,
                  "SKIP: valgrind not installed")
        if b.strace:
            sc = {s: syscall_slope(lambda n, s=s: bulk_run(b, n, s, ex, "sys"), small, large)
                  for s in (False, True)}
            extra = sc[True][0] - sc[False][0]
            t.add("2", f"{fname} 16 KiB: syscalls/call", f"{sc[False][0]:.3f}",
                  f"{sc[True][0]:.3f}", f"{extra:+.3f}", "+0", "-",
                  verdict(b, abs(extra) < 0.01, f"{fname} syscalls"))


# --- item 3: short connections -------------------------------------------------------

# Heap and stack layouts the counts are averaged over: (bytes bench/short
# allocates before its first connection, length of a padding variable in
# its environment). Where the heap's chunks and the stack's strings fall
# moves the instructions of a connection (glibc's malloc takes other
# paths, string functions other alignments) by up to +-800 for the same
# program: a single layout can hide or invent the library's cost. Bare and
# shimmed runs use the same layouts; the bars are judged on the means.
LAYOUTS = [(0, 0), (40, 7), (200, 13), (1000, 29), (3000, 3), (9000, 21), (120, 47), (600, 61)]

# The two request/response shapes: the first benchmark's, and a second,
# independent one (64-byte request, 256-byte response). A fixed cost per
# connection must meet the bars in both.
SHAPES = [(4, 100), (64, 256)]


def short_run(b, count, version, shim, end, how=None, shape=SHAPES[0], layout=(0, 0), own=None):
    req, resp = shape
    sizes = [f"--request={req}", f"--response={resp}"]
    srv = b.server("--mode=short", version, *sizes)
    try:
        argv = [b.prog("bench/short"), f"--port={srv.port}", f"--count={count}", f"--end={end}",
                version, *sizes, f"--heap-shift={layout[0]}"]
        b.pad = layout[1]
        if how == "instr":
            return b.instructions(argv, shim, "bench_one_connection", own=own)[0], count
        if how == "sys":
            return b.syscalls(argv, shim)[0], count
        return b.client(argv, shim)
    finally:
        b.pad = 0
        srv.stop()


def mean_range(values, base):
    """'+mean (min..max)' of value - base per layout."""
    d = [v - w for v, w in zip(values, base)]
    return f"{statistics.mean(d):+.0f} ({min(d):+.0f}..{max(d):+.0f})"


def fixed_cost_rows(b, t, v, version, w1):
    """Instructions per connection (callgrind, slope between two counts),
    for each shape and layout: a correct client bare and under the library,
    and a sloppy one under the library; and the library's own share."""
    a = b.args
    configs = {"correct bare": (False, "shutdown"), "correct shim": (True, "shutdown"),
               "sloppy shim": (True, "close")}
    layouts = LAYOUTS[:a.layouts]
    for shape in SHAPES:
        sname = f"{shape[0]}/{shape[1]} B"
        ir, own = {}, {}
        for k, (s, e) in configs.items():
            ir[k], own[k] = [], []
            for lay in layouts:
                counts = []
                ir[k].append(slope(lambda n: short_run(b, n, version, s, e, "instr", shape, lay,
                                                       counts), a.count_small, a.count_large))
                own[k].append((counts[1] - counts[0]) / (a.count_large - a.count_small))
        base = ir["correct bare"]
        mean = {k: statistics.mean(x) for k, x in ir.items()}
        mine = {k: statistics.mean(x) for k, x in own.items()}
        spread = {k: max(x) - min(x) for k, x in own.items()}
        t.add("3", f"{v} {sname} correct+shim: the library's own instructions/conn", "",
              f"{mine['correct shim']:.0f}", f"+{mine['correct shim']:.0f} "
              f"(same in every layout: spread {spread['correct shim']:.0f})", "<= +1500", "-",
              verdict(b, mine["correct shim"] <= 1500, f"{v} {sname} correct fixed cost"))
        t.add("3", f"{v} {sname} correct+shim vs correct bare: whole program instructions/conn",
              f"{mean['correct bare']:.0f}", f"{mean['correct shim']:.0f}",
              mean_range(ir["correct shim"], base) + f" over {len(layouts)} layouts", "report",
              "-", "")
        t.add("3", f"{v} {sname} sloppy+shim: the library's own instructions/conn", "",
              f"{mine['sloppy shim']:.0f}", "incl. the SSL_shutdown it makes for the program",
              "report", "-", "")
        r = mean["sloppy shim"] / mean["correct bare"]
        t.add("3", f"{v} {sname} sloppy+shim vs correct bare: whole program instructions/conn",
              f"{mean['correct bare']:.0f}", f"{mean['sloppy shim']:.0f}",
              f"x{r:.5f}, " + mean_range(ir["sloppy shim"], base), "<= x1.0005",
              w1 if shape == SHAPES[0] else "-", verdict(b, r <= 1.0005, f"{v} {sname} short instr"))


def item_short(b, t):
    a = b.args
    configs = {"correct bare": (False, "shutdown"), "sloppy shim": (True, "close"),
               "sloppy bare": (False, "close")}
    for version in ("--tls1.3", "--tls1.2"):
        v = "TLS 1.3" if version == "--tls1.3" else "TLS 1.2"
        runs = alternate({k: (lambda s=s, e=e: short_run(b, a.connections, version, s, e))
                          for k, (s, e) in configs.items()}, a.rounds)
        wall = {k: [r["wall_ns"] for r in runs[k]] for k in configs}
        cpu = {k: [r["cpu_ns"] for r in runs[k]] for k in configs}
        w1 = ratio_text(per_round(wall, "sloppy shim", "correct bare"))
        w2 = ratio_text(per_round(wall, "sloppy shim", "sloppy bare"))
        c1 = ratio_text(per_round(cpu, "sloppy shim", "correct bare"))
        us = {k: statistics.median(wall[k]) / a.connections / 1000 for k in configs}
        counted = {k: configs[k] for k in ("correct bare", "sloppy shim")}
        if b.valgrind:
            fixed_cost_rows(b, t, v, version, w1)
            t.add("3", f"{v} sloppy+shim vs sloppy bare: wall time", "", "", "", "report", w2, "")
        else:
            t.add("3", f"{v} sloppy+shim vs correct bare: instructions/conn", "-", "-", "-",
                  "<= x1.0005", w1, "SKIP: valgrind not installed")
        if b.strace:
            sc = {k: syscall_slope(lambda n, s=s, e=e: short_run(b, n, version, s, e, "sys"),
                                   a.sys_small, a.sys_large) for k, (s, e) in counted.items()}
            extra = sc["sloppy shim"][0] - sc["correct bare"][0]
            t.add("3", f"{v} sloppy+shim vs correct bare: syscalls/conn",
                  f"{sc['correct bare'][0]:.2f}", f"{sc['sloppy shim'][0]:.2f}",
                  f"{extra:+.2f} ({diff_names(sc['sloppy shim'][1], sc['correct bare'][1])})",
                  "<= +4", "-", verdict(b, extra <= 4.005, f"{v} short syscalls"))
        t.add("3", f"{v} {a.connections} conns: us/conn correct bare / sloppy+shim",
              f"{us['correct bare']:.0f}", f"{us['sloppy shim']:.0f}", "", "report", w1, "")
        t.add("3", f"{v} sloppy+shim vs correct bare: client CPU", "", "", "", "report", c1, "")


# --- item 5: stunnel in front of a plain server vs the server under tlsclose -------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """Whether something accepts on 127.0.0.1:port (stunnel logs that its
    configuration is done; the accepting socket is checked, bounded)."""
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            select.select([], [], [], 0.05)
    return False


def stunnel_start(b, backend_port):
    """stunnel accepting TLS 1.3 on a free port, forwarding to backend_port.
    It cannot report an ephemeral port, so a free one is picked first (and
    picked again if another process took it meanwhile)."""
    for _ in range(5):
        port = free_port()
        conf = os.path.join(b.tmp, "stunnel.conf")
        with open(conf, "w") as f:
            f.write(f"foreground = yes\npid =\ndebug = 5\nsyslog = no\n"
                    f"[bench]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{backend_port}\n"
                    f"cert = {b.cert}\nkey = {b.key}\n"
                    f"sslVersionMin = TLSv1.3\nsslVersionMax = TLSv1.3\n")
        proc = subprocess.Popen([b.stunnel, conf], env=clean_env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # From the descriptor, not the file object: its readline() may keep
        # the awaited line in its buffer while select() waits on the pipe.
        fd, seen, line = proc.stderr.fileno(), b"", ""
        while True:
            r, _, _ = select.select([fd], [], [], 30)
            chunk = os.read(fd, 4096) if r else b""
            if not chunk:
                break
            seen += chunk
            text = seen.decode(errors="replace")
            if "Configuration successful" in text or "Error" in text:
                line = text
                break
        if "Configuration successful" in line and listening(port):
            # stderr stays a pipe: drain it in the background so stunnel never blocks on it.
            drain = subprocess.Popen(["cat"], stdin=proc.stderr, stdout=b.log)
            return proc, port, drain
        proc.kill()
        proc.wait()
    raise Setup("stunnel did not start (see debug output above)")


def proxy_run(b, mode, proxy):
    """One client run against (a) bench/server (sloppy: --end=close) under
    tlsclose or (b) stunnel in front of bench/server --plain. Returns the
    client's JSON plus the server side's CPU seconds."""
    a = b.args
    opts = ["--mode=" + mode] + ([f"--bytes={a.bulk_bytes}"] if mode == "bulk" else [])
    if proxy:
        srv = Server([b.prog("bench/server"), "--plain", *opts], clean_env(), b.log)
        try:
            st, port, drain = stunnel_start(b, srv.port)
        except Setup:
            srv.stop()
            raise
    else:
        srv = b.server(*opts, "--tls1.3", "--end=close", shim=True)
        port = srv.port
    try:
        if mode == "bulk":
            res = b.client([b.prog("bench/bulk"), f"--port={port}", "--tls1.3"], False)
        else:
            res = b.client([b.prog("bench/short"), f"--port={port}",
                            f"--count={a.connections}", "--end=shutdown", "--tls1.3"], False)
    finally:
        cpu = srv.stop()
        if proxy:
            st.send_signal(signal.SIGTERM)
            _, _, ru = os.wait4(st.pid, 0)
            st.returncode = -1
            cpu += ru.ru_utime + ru.ru_stime
            drain.wait()
    res["server_cpu"] = cpu
    return res


def item_proxy(b, t):
    a = b.args
    if not b.stunnel:
        t.add("5", "stunnel + plain server vs server under tlsclose", "-", "-", "-", "report", "-",
              "SKIP: stunnel not installed (Debian package stunnel4)")
        return
    for mode, what in (("bulk", f"bulk {a.bulk_bytes >> 20} MiB"),
                       ("short", f"{a.connections} short conns")):
        runs = alternate({p: (lambda p=p: proxy_run(b, mode, p)) for p in (False, True)}, a.rounds)
        wall = ratio_text([x["wall_ns"] / y["wall_ns"] for x, y in zip(runs[True], runs[False])])
        cpu = ratio_text([x["server_cpu"] / y["server_cpu"]
                          for x, y in zip(runs[True], runs[False])])
        med = {p: statistics.median(r["wall_ns"] for r in runs[p]) / 1e9 for p in (False, True)}
        t.add("5", f"TLS 1.3 {what}: wall s, tlsclose / stunnel", f"{med[False]:.2f}",
              f"{med[True]:.2f}", "", "report", wall + " (stunnel/tlsclose)", "")
        t.add("5", f"TLS 1.3 {what}: server-side CPU", "", "", "", "report",
              cpu + " (stunnel+plain / server+tlsclose)", "")


# --- the machine -------------------------------------------------------------------

def machine():
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ossl = subprocess.run(["openssl", "version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        ossl = "openssl CLI not found"
    return f"{os.cpu_count()} cores, {model}, {ossl}, Linux {platform.release()}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--builddir", default=".")
    p.add_argument("--library", default=".libs/libtlsclose.so")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (>= 5)")
    p.add_argument("--bulk-bytes", type=int, default=1 << 30)
    p.add_argument("--connections", type=int, default=2000)
    p.add_argument("--close-rounds", type=int, default=200)
    p.add_argument("--count-small", type=int, default=20, help="connections, counted runs")
    p.add_argument("--count-large", type=int, default=60)
    p.add_argument("--layouts", type=int, default=6, choices=range(1, len(LAYOUTS) + 1),
                   metavar=f"1-{len(LAYOUTS)}", help="heap/stack layouts, item 3's counts")
    p.add_argument("--sys-small", type=int, default=50, help="connections, strace runs")
    p.add_argument("--sys-large", type=int, default=250)
    p.add_argument("--items", default="1,4,2,3,5,6")
    p.add_argument("--hold", type=int, default=10000, help="live TLS connections, item 4")
    p.add_argument("--load-seconds", type=int, default=3,
                   help="seconds of each wrk run, item 6")
    p.add_argument("--load-rounds", type=int, default=9, help="alternating rounds, item 6 (>= 5)")
    p.add_argument("--load-pin", choices=("on", "off"), default="on",
                   help="item 6: server and wrk on separate cores")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown too")
    a = p.parse_args()
    try:
        b = Bench(a)
    except (Setup, subprocess.CalledProcessError) as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    t = Table()
    # bench/serverload.py (item 6) imports its helpers from this module: as
    # "run", the running script, not a second copy (whose Setup this main()
    # would not catch).
    sys.modules.setdefault("run", sys.modules[__name__])
    import serverload
    items = {"1": item_close, "2": item_bulk, "3": item_short, "4": item_hold, "5": item_proxy,
             "6": serverload.item_load}
    try:
        for i in a.items.split(","):
            print(f"bench: item {i}...", file=sys.stderr, flush=True)
            items[i](b, t)
    except (Setup, subprocess.TimeoutExpired) as e:
        print(f"bench: {e}", file=sys.stderr)
        print(t.text())
        return 2
    print(f"machine: {machine()}")
    print(f"figures: one run of make bench; counts are per call/connection (slope between two "
          f"sizes); wall ratios are shimmed/bare of {a.rounds} alternating rounds"
          + (f" (item 6: {a.load_rounds} rounds of {a.load_seconds} s)"
             if "6" in a.items.split(",") else ""))
    print(t.text())
    if a.markdown:
        print()
        print(t.markdown())
    if b.failed:
        print(f"bench: bars missed: {', '.join(b.failed)}")
        return 1
    print("bench: every bar met")
    shutil.rmtree(b.tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
