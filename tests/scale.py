#!/usr/bin/env python3
"""Scale test of tlsclose (issue "Scale", item 2), printed as TAP.

The client tests/scale/many.c opens N TLS connections (10,000) to one peer
and keeps them all live at once, then ends them, in 10 batches, each with
close() (then SSL_free()): the trigger the library must act on. One more
connection, opened before them and ended the same way after them, lets
OpenSSL and the library set up what they set up once before anything is
measured. The peer
tests/scale/mux_peer.c serves all N from one process (epoll, non-blocking
handshakes) and reports how each connection ended. The same client runs
bare and under the library, side by side:

1. Under the library: the client exits 0 with its figures; the peer saw all
   N connections live at once, then exactly one close_notify per
   connection (N + 1 with the first), alone (the only alert, no byte after it, after the request)
   and followed by a FIN; the library logged no warn-level event.
2. Bare: the same N connections end with a bare FIN, no close_notify (so
   the test above can fail).
3. Memory: the heap the client has in use with all N open, under the library
   minus bare, per connection, below a structural bound (see
   HEAP_BOUND_PER_CONN); once all are ended, the library's heap is gone with
   them. The records themselves (shim/record.h: TC_RECORD_BYTES) come from
   the library's own mapped pool, not the heap, and are kept for reuse: they
   show in RSS, which is compared the same way with a looser bound.
4. Closing them all is linear: the CPU time of the first two batches
   (table at 10,000 to 8,000) against the last two (2,000 to 0) (see
   CLOSE_RATIO_BOUND).

The figures (seconds, heap and RSS bare and shimmed, bytes per connection,
the cost of each batch) are printed as TAP diagnostics.

usage: scale.py [--program=PATH] [--peer=PATH] [--connections=10000] [--batches=10]
  --program, --peer  the client and the peer (default: the build tree's
                     tests/scale/many and tests/scale/mux_peer)
Environment: TC_BUILDDIR, TC_TEST_PRELOAD or TLSCLOSE_LIBRARY (from make check).
"""

import argparse
import collections
import json
import os
import resource
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Suite, TIMEOUT, Tap, peer_report_problems, preload_env,  # noqa: E402
                     run_with_peer, tally)

# Hang guard for one run of the client (N handshakes, then N closes), not a
# performance bar: about 15 s here for 10,000 connections (25 s in an ASan
# build); an ASan build can be 3-5 times slower, a loaded CI machine slower
# still.
RUN_TIMEOUT = 600
# Descriptors each process needs beyond one per connection (stdio, the
# listening socket, epoll, the library's log file).
SPARE_FDS = 64

# The library's heap per tracked connection: none of its own but one 8-byte
# slot of the descriptor table per descriptor, allocated in chunks of 1024
# slots and kept. The record and the SSL * -> record index live in pages the
# library maps (shim/conn.c, shim/sslindex.c), so the difference to a bare
# run is some 8 bytes, within the few dozen bytes OpenSSL's own allocations
# vary between runs (hence the lower bound below zero). The bound leaves room
# for another allocator or OpenSSL version and fails for anything like a
# buffer per connection.
HEAP_NOISE_PER_CONN = 16
HEAP_BOUND_PER_CONN = 1024
# RSS follows pages, not allocations: where the allocator places the many
# short-lived handshake buffers decides which pages get touched, and that
# moves the client's RSS by several KiB per connection either way (any
# preload that allocates a little per connection does it). So only a
# sanity bound, above bare: it fails for anything like a page or a record
# buffer per connection.
RSS_BOUND_PER_CONN = 4096
# Once every connection has been ended and its SSL object freed, only the
# descriptor table's chunks may stay (never freed, see shim/conn.c: 8 bytes
# per slot, about 7 bytes per connection here); a record that outlived its
# connection would leave more than its size (TC_RECORD_BYTES) behind.
LEFT_BOUND_PER_CONN = 16

# Closing: while the first two batches run, the table holds 10,000 down to
# 8,000 connections; during the last two, 2,000 down to 0. Unregistering a
# connection is O(1) (an array slot and a doubly linked list, shim/conn.c),
# so the two pairs cost the same up to noise. A cost per close that grows
# with the table (a search of it: closing all would be quadratic) makes the
# first pair cost up to (9500+8500)/(1500+500) = 9 times the last (a search
# of the live list injected into the close path gave a ratio of 5 to 7).
# The bound is wide, for CPU-time noise on a shared machine (single batches
# vary by up to 1.8x). It is CPU time of the closing thread, not wall-clock
# time, so waiting for others does not count; no absolute time is asserted.
CLOSE_RATIO_BOUND = 3.0


class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "scale")
        self.n = args.connections
        self.total = self.n + 1  # with the client's first connection

    def run(self, name, shim):
        """Runs the peer and the client once. Returns a dict: the client's
        process and figures, the peer's verdicts, summary, exit status and
        stderr, the library's log events, the time taken, setup problems."""
        log = os.path.join(self.tmp, f"{name}.log")
        # glibc's per-thread cache keeps up to 7 freed chunks of each small
        # size, which mallinfo2() counts as in use: up to some 200 KiB that
        # depend on the last sizes freed. Without it the client's heap
        # figures are exact. (The sanitizer allocator ignores this.)
        tunables = ":".join(t for t in (os.environ.get("GLIBC_TUNABLES"),
                                        "glibc.malloc.tcache_count=0") if t)
        env = preload_env(self.lib if shim else None, log, "warn",
                          {"GLIBC_TUNABLES": tunables})
        peer_cmd = [self.args.peer, f"--count={self.total}", f"--cert={self.cert}",
                    f"--key={self.key}", f"--timeout={RUN_TIMEOUT * 1000}"]

        def program(port):
            return [self.args.program, f"--port={port}", f"--connections={self.n}",
                    f"--batches={self.args.batches}"]
        res = run_with_peer(peer_cmd, program, env, RUN_TIMEOUT, TIMEOUT, log)
        res["figures"] = None
        proc = res["proc"]
        if proc is not None and proc.stdout.strip():
            try:
                res["figures"] = json.loads(proc.stdout.strip().splitlines()[-1])
            except ValueError:
                pass
        return res

    def client_ok(self, res):
        """Problems with the client's own result."""
        proc, fig = res["proc"], res["figures"]
        problems = list(res["problems"])
        if proc is None:
            return problems
        if proc.returncode != 0:
            problems.append(f"exit status {proc.returncode}")
        if fig is None:
            problems.append(f"no figures line: {proc.stdout!r}")
        elif fig.get("connections") != self.n or \
                len(fig.get("batch_cpu_ns", [])) != self.args.batches:
            problems.append(f"figures for another run: {fig}")
        if proc.stderr.strip():
            problems.append(f"stderr: {proc.stderr.strip()[:2000]}")
        return problems

    def peer_ok(self, res):
        """Problems with the peer's report: one verdict per connection, all
        N connections live at once."""
        problems = peer_report_problems(res, self.total)
        summary = res["summary"] or {}
        if summary.get("max_open") != self.total:
            problems.append(f"not all connections were live at once: the peer saw at most "
                            f"{summary.get('max_open')} of {self.total} "
                            f"(summary {res['summary']})")
        return problems

    @staticmethod
    def print_run(what, res):
        fig = res["figures"] or {}
        print(f"# {what}: {res['seconds']:.1f}s in all; opening {fig.get('open_s')}s, "
              f"closing {fig.get('close_s')}s; {fig.get('tls')}; "
              f"RLIMIT_NOFILE {fig.get('fd_limit')}")
        print(f"# {what}: {tally(res['verdicts'])}; peer {res['summary']}; "
              f"{fig.get('resumed')} sessions resumed")

    # --- 1. under the library -------------------------------------------

    def shim(self, tap, res):
        what = f"shim, {self.n} connections"
        self.print_run(what, res)
        tap.result(not self.client_ok(res), f"{what}: the client exits 0 with its figures",
                   self.client_ok(res))
        tap.result(not self.peer_ok(res), f"{what}: all live at once, exactly one verdict "
                   "per connection", self.peer_ok(res))

        verdicts = res["verdicts"]
        lost = [v for v in verdicts if v.get("verdict") != "close_notify"]
        doubled = [v for v in verdicts if v.get("extra", 0) > 0 or
                   v.get("alerts") != ["warning:close notify"]]
        unclean = [v for v in verdicts if v.get("verdict") == "close_notify" and
                   (v.get("after") != "fin" or v.get("app_in") != len("hello\n"))]
        problems = []
        if lost:
            problems.append(f"{len(lost)} connections without close_notify (lost), first: "
                            f"{[json.dumps(v) for v in lost[:5]]}")
        if doubled:
            problems.append(f"{len(doubled)} connections with another alert or bytes after "
                            f"close_notify (doubled?), first: "
                            f"{[json.dumps(v) for v in doubled[:5]]}")
        if unclean:
            problems.append(f"{len(unclean)} close_notify not after the request or not "
                            f"followed by a FIN, first: {[json.dumps(v) for v in unclean[:5]]}")
        if len(verdicts) != self.total:
            problems.append(f"{len(verdicts)} verdicts for {self.total} connections")
        tap.result(not problems, f"{what}: exactly {self.total} close_notify, each alone and "
                   "followed by a FIN (none lost, none doubled)",
                   problems + [tally(verdicts)])

        warn = [e for e in res["events"] if e.get("level") in ("warn", "error")]
        kinds = collections.Counter((e.get("event"), e.get("reason")) for e in warn)
        tap.result(not warn, f"{what}: no warn-level event in the library's log",
                   [f"{len(warn)} events: {dict(kinds)}"] + [json.dumps(e) for e in warn[:10]])

    # --- 2. bare ----------------------------------------------------------

    def bare(self, tap, res):
        what = f"bare, {self.n} connections"
        self.print_run(what, res)
        problems = self.client_ok(res) + self.peer_ok(res)
        tap.result(not problems, f"{what}: the client exits 0, all live at once, one verdict "
                   "per connection", problems)
        notified = [v for v in res["verdicts"] if v.get("verdict") != "eof"]
        tap.result(not notified and len(res["verdicts"]) == self.total,
                   f"{what}: every connection ends with a bare FIN, no close_notify "
                   "(the program sends none)",
                   [f"{len(notified)} other verdicts, first: "
                    f"{[json.dumps(v) for v in notified[:5]]}", tally(res["verdicts"])])

    # --- 3. memory --------------------------------------------------------

    def memory(self, tap, shim, bare):
        what = f"memory, {self.n} connections"
        fs, fb = shim["figures"], bare["figures"]
        if not fs or not fb:
            tap.result(False, f"{what}: figures from both runs", ["a client run failed"])
            return
        n = self.n
        if fs.get("resumed") != fb.get("resumed"):
            # Full handshakes keep the peer's certificate per connection:
            # the two runs would not compare like with like.
            tap.result(False, f"{what}: both runs resumed the same number of sessions",
                       [f"resumed: shim {fs.get('resumed')}, bare {fb.get('resumed')}"])
            return
        heap_s = fs["heap_open"] - fs["heap_before"]
        heap_b = fb["heap_open"] - fb["heap_before"]
        rss_s = (fs["rss_open_kb"] - fs["rss_before_kb"]) * 1024
        rss_b = (fb["rss_open_kb"] - fb["rss_before_kb"]) * 1024
        left_s = fs["heap_closed"] - fs["heap_before"]
        left_b = fb["heap_closed"] - fb["heap_before"]
        per_conn = (heap_s - heap_b) / n
        released = ((fs["heap_open"] - fs["heap_closed"]) -
                    (fb["heap_open"] - fb["heap_closed"])) / n
        rss_per_conn = (rss_s - rss_b) / n
        left_per_conn = (left_s - left_b) / n
        print(f"# {what} (heap: {fs['heap_source']}): bare {heap_b / n:.0f} B of heap per "
              f"connection (OpenSSL's own), shim {heap_s / n:.0f} B: the library adds "
              f"{per_conn:.1f} B per tracked connection ({heap_s - heap_b} B in all), "
              f"{released:.1f} B of which went with the connections (the record and its "
              "index slot are in the library's mapped pages; the descriptor table stays)")
        print(f"# {what}: RSS bare {rss_b // 1024} KiB ({rss_b / n:.0f} B per connection), "
              f"shim {rss_s // 1024} KiB ({rss_s / n:.0f} B): {rss_per_conn:+.0f} B per "
              "connection (page placement, see RSS_BOUND_PER_CONN)")
        print(f"# {what}: heap still in use after all were ended and freed: bare {left_b} B, "
              f"shim {left_s} B: {left_per_conn:+.1f} B per connection")
        tap.result(-HEAP_NOISE_PER_CONN < per_conn < HEAP_BOUND_PER_CONN,
                   f"{what}: the library's heap per tracked connection is small and fixed "
                   f"({per_conn:.0f} B < {HEAP_BOUND_PER_CONN} B)",
                   [f"{per_conn:.1f} B per connection: shim {heap_s} B, bare {heap_b} B"])
        tap.result(rss_per_conn < RSS_BOUND_PER_CONN,
                   f"{what}: RSS per connection under the library at most bare's + "
                   f"{RSS_BOUND_PER_CONN} B ({rss_per_conn:+.0f} B)",
                   [f"shim {rss_s} B, bare {rss_b} B"])
        tap.result(left_per_conn < LEFT_BOUND_PER_CONN,
                   f"{what}: the library's heap goes with the connections "
                   f"({left_per_conn:.1f} B per connection left < {LEFT_BOUND_PER_CONN} B)",
                   [f"left in use: shim {left_s} B, bare {left_b} B"])

    # --- 4. closing is linear -------------------------------------------

    def closing(self, tap, res, bare):
        what = f"closing {self.n} connections"
        fig = res["figures"]
        if not fig or len(fig.get("batch_cpu_ns", [])) < 4:
            tap.result(False, f"{what}: batch costs", ["no figures from the shim run"])
            return
        ns, size = fig["batch_cpu_ns"], fig["batch_size"]
        costs = ", ".join(f"{t / 1e6:.1f}" for t in ns)
        print(f"# {what} in {len(ns)} batches of {size} (close + SSL_free), CPU ms per "
              f"batch, first to last: {costs}")
        bare_ns = (bare["figures"] or {}).get("batch_cpu_ns") or [0]
        print(f"# {what}: {sum(ns) / self.n / 1e3:.1f} us of CPU per connection on average, "
              f"bare {sum(bare_ns) / self.n / 1e3:.1f} us")
        first, last = (ns[0] + ns[1]) / 2, (ns[-2] + ns[-1]) / 2
        ratio = first / last if last > 0 else float("inf")
        tap.result(ratio < CLOSE_RATIO_BOUND,
                   f"{what}: linear, not quadratic (first two batches / last two = "
                   f"{ratio:.2f} < {CLOSE_RATIO_BOUND})",
                   [f"CPU ms per batch: {costs}"])


def fd_limit_problem(n):
    """Why N connections cannot be opened here, or None. A hard limit that
    is too low is raised when the process may (CAP_SYS_RESOURCE): the programs
    inherit it."""
    need = n + SPARE_FDS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, need))
        except (ValueError, OSError):
            pass
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        return f"RLIMIT_NOFILE hard limit {hard} < {need} for {n} connections, and it cannot be raised here"
    return None


def main():
    ap = argparse.ArgumentParser()
    build = os.path.join(os.environ.get("TC_BUILDDIR", "."), "tests", "scale")
    ap.add_argument("--program", help="the built tests/scale/many.c",
                    default=os.path.join(build, "many"))
    ap.add_argument("--peer", help="the built tests/scale/mux_peer.c",
                    default=os.path.join(build, "mux_peer"))
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--batches", type=int, default=10)
    args = ap.parse_args()
    skip = fd_limit_problem(args.connections)
    if skip:
        print(f"1..0 # SKIP {skip}")
        return 0
    tap = Tap()
    runner = Runner(args)
    bare = runner.run("bare", False)
    shim = runner.run("shim", True)
    runner.shim(tap, shim)
    runner.bare(tap, bare)
    runner.memory(tap, shim, bare)
    runner.closing(tap, shim, bare)
    runner.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
