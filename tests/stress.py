#!/usr/bin/env python3
"""Threads stress test of tlsclose (issue "Hardening", item 1), printed as TAP.

The threaded client tests/stress/threads.c makes THREADS x CONNECTIONS TLS
connections (THREADS threads, each connection after the other) and ends
each one with a trigger drawn at random: close() only, SSL_free then close,
shutdown(SHUT_RDWR), dup2() onto the descriptor, kept open until exit(), or
the program's own SSL_shutdown. The strict peer (tests/peer server
--parallel) serves the connections concurrently, one child process each, and
reports how each one ended.

1. Under the library, once with the TLS version the peer picks (1.3) and once
   with TLS 1.2: the program exits 0 with its "ok" line, the peer reports
   exactly one verdict per connection, every verdict is close_notify with no
   extra bytes after it (none lost, none doubled: a second alert would show up
   as extra bytes) followed by a FIN, and the library logged no warn-level
   event (TLSCLOSE_LOG_LEVEL=warn; none is expected: every connection is live
   and owned when it ends, the peer reads everything, nothing is reset).
2. The same program bare, smaller: the peer sees close_notify exactly for the
   connections the program shut down itself, so the test above can fail.

usage: stress.py [--program=PATH] [--threads=8] [--connections=500] [--seed=1]
                 [--tls=both|1.2|1.3]
  --program        the threaded client (default: the build tree's tests/stress/threads)
Environment: TC_BUILDDIR, TC_TEST_PRELOAD or TLSCLOSE_LIBRARY (from make check).
"""

import argparse
import collections
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Suite, TIMEOUT, Tap, peer_report_problems, preload_env,  # noqa: E402
                     run_with_peer, tally)

# Hang guard for one whole run of the threaded program (thousands of
# handshakes), not a performance bar: an ASan+UBSan build takes about 20 s
# for 4000 connections on 2 cores, and a slower machine must not turn that
# into a failure. harness.TIMEOUT bounds single short processes.
RUN_TIMEOUT = 300

BARE_THREADS = 2
BARE_CONNECTIONS = 20
TRIGGERS = ("close", "free", "shutdown", "dup2", "kept", "own")
OK_LINE = re.compile(r"^ok connections=(\d+)" +
                     "".join(rf" {t}=(\d+)" for t in TRIGGERS) + r"$")
# Warn-level events of the library that this test tolerates: none. Every
# connection is established, owned by the process and not failed when it
# ends, its descriptor is its own, the peer drains what it is sent, and no
# write is pending, so no "skipped" reason (busy, write pending, fd reused,
# timeout, peer gone, error, after cleanup) and no truncation can occur.
ALLOWED_WARN_EVENTS = ()


class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "stress")

    def run(self, name, threads, connections, tls, shim):
        """Runs the peer and the program once. Returns a dict: the program's
        process, its ok-line counts, the verdicts, the peer's exit status and
        stderr, the log events, the time taken and any setup problem."""
        count = threads * connections
        log = os.path.join(self.tmp, f"{name}.log")
        env = preload_env(self.lib if shim else None, log, "warn")
        # Kept-open connections end when the program exits: the peer's
        # per-connection timeout must outlast the program's run.
        peer_ms = RUN_TIMEOUT * 1000
        peer_cmd = [self.peer, "server", "--parallel", f"--count={count}",
                    f"--cert={self.cert}", f"--key={self.key}", f"--timeout={peer_ms}",
                    f"--total-timeout={peer_ms}"] + ([f"--tls{tls}"] if tls else [])

        def program(port):
            return [self.args.program, f"--port={port}", f"--threads={threads}",
                    f"--connections={connections}", f"--seed={self.args.seed}"]
        res = run_with_peer(peer_cmd, program, env, RUN_TIMEOUT, TIMEOUT, log)
        res["counts"] = None
        proc = res["proc"]
        if proc is not None and proc.stdout.strip():
            m = OK_LINE.match(proc.stdout.strip().splitlines()[-1])
            if m:
                res["counts"] = dict(zip(("connections",) + TRIGGERS, map(int, m.groups())))
        return res

    @staticmethod
    def program_ok(res, count):
        """Problems with the program's own result."""
        proc, counts = res["proc"], res["counts"]
        problems = list(res["problems"])
        if proc is None:
            return problems
        if proc.returncode != 0:
            problems.append(f"exit status {proc.returncode}")
        if counts is None:
            problems.append(f"no ok line: {proc.stdout!r}")
        elif counts["connections"] != count or \
                sum(counts[t] for t in TRIGGERS) != count:
            problems.append(f"ok line counts {counts}, expected {count} connections")
        elif any(counts[t] == 0 for t in TRIGGERS):
            problems.append(f"a trigger was never used: {counts}")
        if proc.stderr.strip():
            problems.append(f"stderr: {proc.stderr.strip()}")
        return problems

    # --- 1. under the library --------------------------------------------

    def shim(self, tap, tls):
        threads, connections = self.args.threads, self.args.connections
        count = threads * connections
        what = f"{threads} threads x {connections} connections, TLS {tls or '1.3 (peer picks)'}"
        res = self.run(f"shim-tls{tls or 'any'}", threads, connections, tls, True)
        verdicts = res["verdicts"]
        summary = tally(verdicts)
        out = [res["proc"].stdout.strip() if res["proc"] else "(no program output)", summary]
        print(f"# shim, {what}: {res['seconds']:.1f}s; {out[0]}")
        print(f"# {summary}")

        problems = self.program_ok(res, count)
        tap.result(not problems, f"shim, {what}: the program exits 0 with its ok line",
                   problems)

        problems = peer_report_problems(res, count)
        tap.result(not problems, f"shim, {what}: exactly one verdict per connection",
                   problems)

        lost = [v for v in verdicts if v.get("verdict") != "close_notify"]
        doubled = [v for v in verdicts if v.get("extra", 0) > 0]
        problems = []
        if lost:
            problems.append(f"{len(lost)} connections without close_notify (lost), "
                            f"first: {[json.dumps(v) for v in lost[:5]]}")
        if doubled:
            problems.append(f"{len(doubled)} connections with bytes after close_notify "
                            f"(doubled?), first: {[json.dumps(v) for v in doubled[:5]]}")
        if len(verdicts) != count:
            problems.append(f"{len(verdicts)} verdicts for {count} connections")
        tap.result(not problems, f"shim, {what}: exactly one close_notify per connection "
                   "(none lost, none doubled)", problems + [summary])

        # A corrupted or interleaved record would end the stream with an
        # error or another alert before the close_notify, or show up as
        # application bytes that the program never wrote.
        unclean = [v for v in verdicts if v.get("verdict") == "close_notify" and
                   (v.get("after") != "fin" or v.get("alerts") != ["warning:close notify"] or
                    v.get("app_in") != len("hello\n"))]
        want_tls = {f"TLSv{tls}"} if tls else {"TLSv1.3"}
        wrong_tls = [v for v in verdicts if v.get("tls") not in want_tls]
        problems = []
        if unclean:
            problems.append(f"{len(unclean)} close_notify not alone (other alerts, other "
                            f"application bytes than hello) or not followed by a FIN, first: "
                            f"{[json.dumps(v) for v in unclean[:5]]}")
        if wrong_tls:
            problems.append(f"{len(wrong_tls)} connections not in {want_tls}")
        tap.result(not problems and verdicts != [],
                   f"shim, {what}: each close_notify alone after the request, then a FIN; "
                   "protocol as chosen", problems + [summary])

        warn = [e for e in res["events"]
                if e.get("level") in ("warn", "error") and
                (e.get("event"), e.get("reason")) not in ALLOWED_WARN_EVENTS]
        kinds = collections.Counter((e.get("event"), e.get("reason")) for e in warn)
        tap.result(not warn, f"shim, {what}: no warn-level event in the library's log",
                   [f"{len(warn)} events: {dict(kinds)}"] + [json.dumps(e) for e in warn[:10]])

    # --- 2. bare ---------------------------------------------------------

    def bare(self, tap):
        threads, connections = BARE_THREADS, BARE_CONNECTIONS
        count = threads * connections
        what = f"{threads} threads x {connections} connections"
        res = self.run("bare", threads, connections, None, False)
        verdicts, counts = res["verdicts"], res["counts"]
        summary = tally(verdicts)
        out = res["proc"].stdout.strip() if res["proc"] else "(no program output)"
        print(f"# bare, {what}: {res['seconds']:.1f}s; {out}")
        print(f"# {summary}")

        problems = self.program_ok(res, count) + peer_report_problems(res, count)
        tap.result(not problems, f"bare, {what}: the program exits 0, one verdict per "
                   "connection", problems)

        notified = sum(1 for v in verdicts if v.get("verdict") == "close_notify")
        others = collections.Counter(v.get("verdict") for v in verdicts
                                     if v.get("verdict") != "close_notify")
        problems = []
        if counts is None:
            problems.append("no trigger counts from the program")
        elif notified != counts["own"]:
            problems.append(f"{notified} close_notify seen, but the program sent "
                            f"{counts['own']} itself")
        if set(others) - {"eof", "reset"}:
            problems.append(f"unexpected verdicts: {dict(others)}")
        tap.result(not problems, f"bare, {what}: close_notify only where the program "
                   f"sent it ({notified} of {count}; the other triggers send none)",
                   problems + [summary])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--program", help="the built tests/stress/threads.c",
                    default=os.path.join(os.environ.get("TC_BUILDDIR", "."), "tests", "stress",
                                         "threads"))
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tls", choices=("both", "1.2", "1.3"), default="both",
                    help="both: the version the peer picks (1.3), then TLS 1.2")
    args = ap.parse_args()
    tap = Tap()
    runner = Runner(args)
    for tls in {"both": (None, "1.2"), "1.2": ("1.2",), "1.3": ("1.3",)}[args.tls]:
        runner.shim(tap, tls)
    runner.bare(tap)
    runner.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
