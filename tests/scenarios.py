#!/usr/bin/env python3
"""Table-driven end-to-end scenarios for tlsclose, printed as TAP.

Each scenario runs one sample "legacy" program (tests/samples) against the
strict test peer (tests/peer, system OpenSSL 3, never preloaded) twice: bare
and with libtlsclose.so preloaded, in TLS 1.2 and TLS 1.3. It asserts what the
peer observed on the wire (close_notify or not, what followed it, how many
application bytes arrived), what the program printed and how it exited, and
for the preloaded run the event the shim logged. The bare run shows the
failure the shim fixes: a test whose bare and shimmed expectations differ
can fail.

usage: scenarios.py --openssl=3|1.1.1 --samples=DIR
Environment: TC_SRCDIR, TC_BUILDDIR, TLSCLOSE_LIBRARY (from make check).
"""

import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PEER_TIMEOUT_MS, Suite, TIMEOUT, Tap, clean_env, describe,  # noqa: E402
                     final_event_problems, parse_log, preload_env, read_line, read_log,
                     reap, write_table)

# Peer verdicts, as expectations.
CN = {"verdict": "close_notify", "after": "fin", "extra": 0}
NOT_CN = {"verdict": ("eof", "reset")}
EOF = {"verdict": "eof"}
# The end of a connection that never got past the handshake: a FIN, or a
# reset when the server's answer was left unread; no alert at all.
NO_ALERT = {"verdict": ("eof", "reset"), "alerts": []}
# A close_notify with more bytes after it: what a second alert record looks
# like to the peer (a record of 23 to 31 bytes, by cipher).
CN_TWICE = {"verdict": "close_notify", "extra": tuple(range(1, 100))}


# check-valgrind: memcheck errors (not leaks: the sloppy samples leak their
# SSL objects on purpose) make the program exit 99.
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=no",
            "--errors-for-leak-kinds=none"]


def sent(trigger):
    """The shim must have logged close_notify sent for this trigger."""
    return {"event": "sent", "trigger": trigger}


def skipped(reason):
    return {"event": "skipped", "reason": reason}


# name, program, options, bare expectation, shimmed expectation.
# options: env (extra variables for both runs), peer_mode, peer_args (more
# options of the peer), stdout (a string the program's "ok" line must
# contain; stdout_bare / stdout_shim for one run only), app_in_after (bytes the peer must
# count after the request), event (an event the shim must log, or None for
# "no sent event at all"), python / server / no_tls (how to run it), args
# (extra arguments of the sample, e.g. --variant=NAME).
SCENARIOS = [
    ("close only", "close_only", {}, NOT_CN, CN, sent("close")),
    ("SSL_free then close", "free_then_close", {}, NOT_CN, CN, sent("free")),
    ("close then SSL_free", "close_then_free", {}, NOT_CN, CN, sent("close")),
    ("exit with the connection open", "exit_open", {}, NOT_CN, CN, sent("exit")),
    ("return from main", "return_main", {}, NOT_CN, CN, sent("exit")),
    ("shutdown(SHUT_RDWR)", "shutdown_rdwr", {}, NOT_CN, CN, sent("shutdown")),
    ("shutdown(SHUT_WR)", "shutdown_rdwr", {"args": ["--variant=wr"]},
     NOT_CN, CN, sent("shutdown")),
    ("shutdown(SHUT_RD) sends nothing", "shutdown_rd", {"app_in_after": 5},
     EOF, EOF, None),
    ("quiet shutdown, notify=on", "quiet", {}, EOF, EOF, skipped("quiet")),
    ("quiet shutdown, notify=always", "quiet",
     {"env": {"TLSCLOSE_NOTIFY": "always"}}, EOF, CN, sent("quiet")),
    ("SSL_set_shutdown idiom (state only, as CPython 3.13 before SSL_free), notify=on",
     "set_shutdown_idiom", {}, EOF, CN, sent("free")),
    ("SSL_set_shutdown idiom, notify=always", "set_shutdown_idiom",
     {"env": {"TLSCLOSE_NOTIFY": "always"}}, EOF, CN, sent("free")),
    ("BIO_new_ssl_connect + BIO_free_all: exactly one close_notify",
     "bio_ssl_connect", {}, CN, CN, skipped("sent by program")),
    ("non-blocking socket", "nonblocking", {}, NOT_CN, CN, sent("close")),
    ("dup: sent only at the last close", "dup_close", {"app_in_after": 5},
     NOT_CN, CN, sent("close")),
    ("dup2 over the TLS descriptor", "dup2_over", {}, NOT_CN, CN, sent("close")),
    ("dup3 over the TLS descriptor", "dup3_over", {}, NOT_CN, CN, sent("close")),
    ("fcntl(F_DUPFD) copy closed first", "fcntl_dupfd", {"app_in_after": 5},
     NOT_CN, CN, sent("close")),
    ("fcntl(F_DUPFD_CLOEXEC) copy closed first", "fcntl_dupfd",
     {"app_in_after": 5, "args": ["--variant=cloexec"]}, NOT_CN, CN, sent("close")),
    ("close_range", "close_range", {}, NOT_CN, CN, sent("close")),
    ("closefrom", "closefrom", {}, NOT_CN, CN, sent("close")),
    ("fclose of an fdopen'ed socket", "fclose", {}, NOT_CN, CN, sent("close")),
    ("fork: the child closes its copy, the parent's session goes on",
     "fork_child_close", {"app_in_after": 5}, NOT_CN, CN, sent("close")),
    ("fork: a connection handed to the child is the child's to close",
     "fork_handoff", {"app_in_after": 6}, NOT_CN, CN, sent("close")),
    ("fd reuse: a plain socket on the same number gets no TLS byte", "fd_reuse",
     {"stdout": "plain_bytes=0"}, NOT_CN, CN, sent("close")),
    ("close while another thread is inside SSL_read, then reuse and SSL_free: "
     "no TLS byte in the plain socket", "busy_close_reuse",
     {"stdout": "plain_bytes=0"}, NOT_CN, NOT_CN, skipped("busy")),
    ("fd closed behind the shim's back, then reused", "fd_reuse_raw",
     {"stdout": "plain_bytes=0"}, NOT_CN, NOT_CN, skipped("fd reused")),
    ("peer reset before close: no SIGPIPE, close returns 0", "peer_reset",
     {"peer_mode": "reset", "stdout": "close=0 errno=0"},
     {"verdict": "reset_sent"}, {"verdict": "reset_sent"}, skipped("peer gone")),
    ("peer reset, wait_ms (OpenSSL writes the alert): its SIGPIPE is consumed",
     "peer_reset", {"peer_mode": "reset", "stdout": "close=0 errno=0",
                    "env": {"TLSCLOSE_WAIT_MS": "200"}},
     {"verdict": "reset_sent"}, {"verdict": "reset_sent"}, skipped("peer gone")),
    ("peer reset, the program's own pending SIGPIPE stays pending", "peer_reset",
     {"peer_mode": "reset", "args": ["--variant=sigpipe-pending"],
      "stdout": "close=0 errno=0 sigpipe_pending=1", "env": {"TLSCLOSE_WAIT_MS": "200"}},
     {"verdict": "reset_sent"}, {"verdict": "reset_sent"}, skipped("peer gone")),
    ("closed during the handshake: nothing to end, no alert", "handshake_close", {},
     NO_ALERT, NO_ALERT, skipped("not established")),
    ("control: a second close_notify record is caught as extra bytes",
     "double_close_notify", {}, CN_TWICE, CN_TWICE, skipped("sent by program")),
    ("errno and the error queue unchanged", "errno_errqueue",
     {"stdout": "errno_kept queue_kept"}, NOT_CN, CN, sent("free")),
    ("unread data: drained, FIN not RST", "write_only_close", {},
     NOT_CN, CN, sent("close")),
    ("notify=off sends nothing", "close_only", {"env": {"TLSCLOSE_NOTIFY": "off"}},
     NOT_CN, NOT_CN, skipped("notify off")),
    ("wait_ms: the peer's answer is awaited, and said", "close_only",
     {"env": {"TLSCLOSE_WAIT_MS": "3000"}, "peer_mode": "reply"},
     NOT_CN, dict(CN, replied=True), dict(sent("close"), answered=True)),
    ("wait_ms: a peer that does not answer, said", "close_only",
     {"env": {"TLSCLOSE_WAIT_MS": "300"}}, NOT_CN, CN, dict(sent("close"), answered=False)),
    ("a zero-length SSL_write (openssl s_client), then the peer's close_notify: answered",
     "write_zero", {"peer_mode": "close", "env": {"TLSCLOSE_REPLY": "on"},
                    "stdout": "write0=0"}, CN, CN, sent("reply")),
    ("a sample server closing without close_notify", "server_close", {"server": True},
     NOT_CN, CN, sent("close")),
    ("Python client: sock.close() without unwrap()", "python_close.py",
     {"python": True}, NOT_CN, CN, sent("free")),
    ("Python client reading to the server's close_notify: recv() returns b''",
     "python_recv.py", {"python": True, "peer_mode": "close"},
     NOT_CN, CN, sent(("reply", "free"))),
    ("the program's own atexit SSL_shutdown after the shim's exit handler",
     "atexit_shutdown", {"stdout": "shutdown=0"}, CN, CN, sent("exit")),
    ("full send buffer, non-blocking socket: close() returns, bounded",
     "full_buffer_nonblocking", {"peer_mode": "stall", "stdout": "close=0 errno=0",
                                 "max_close_ms": 1000},
     {"verdict": "stalled"}, {"verdict": "stalled"}, skipped("timeout")),
    ("full send buffer, blocking socket: close() returns, bounded",
     "full_buffer_blocking", {"peer_mode": "stall", "stdout": "close=0 errno=0",
                              "max_close_ms": 1000},
     {"verdict": "stalled"}, {"verdict": "stalled"}, skipped("timeout")),
    ("exit after the program's own OPENSSL_cleanup (CBC in TLS 1.2): left alone",
     "cleanup_exit", {}, NOT_CN, NOT_CN, skipped("after cleanup")),
    ("close_notify first, then a silent EOF, eof=clean: no second close_notify",
     "halfclose_eof", {"peer_mode": "truncate", "env": {"TLSCLOSE_EOF": "clean"}},
     CN, CN, skipped("sent by program")),
    ("shutdown(SHUT_WR) before reading the response, wait_ms: the response is the program's",
     "halfclose_response", {"env": {"TLSCLOSE_WAIT_MS": "1000"}, "stdout": "response=world"},
     NOT_CN, CN, dict(sent("shutdown"), detail=None)),
    ("the peer's close_notify answered (reply=on): a later SSL_write is refused, said, and "
     "SSL_get_shutdown then shows the close_notify sent", "write_after_reply",
     {"peer_mode": "close", "env": {"TLSCLOSE_REPLY": "on"},
      "stdout_bare": "write=5 shutdown_before=2 shutdown_after=2",
      "stdout_shim": "write=-1 shutdown_before=2 shutdown_after=3"},
     NOT_CN, CN, {"event": "write_refused", "policy": "on", "level": "warn"}),
    ("plaintext after TLS: SSL_free leaves the peer's next bytes to the program",
     "plaintext_after_tls", {"peer_mode": "close", "peer_args": ["--data-after-close=20"],
                             "env": {"TLSCLOSE_REPLY": "off"}, "stdout": "plaintext=kept"},
     NOT_CN, CN, sent("free")),
    ("plaintext after TLS: exit leaves the peer's next bytes to the program's atexit handler",
     "plaintext_after_tls", {"peer_mode": "close", "peer_args": ["--data-after-close=20"],
                             "env": {"TLSCLOSE_REPLY": "off"}, "stdout": "plaintext=kept",
                             "args": ["--variant=exit"]},
     NOT_CN, CN, sent("exit")),
    ("close_range(CLOSE_RANGE_UNSHARE) in another thread: the connection goes on",
     "close_range_unshare", {"stdout": "write=6", "app_in_after": 6},
     NOT_CN, CN, sent("close")),
]


class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "scenarios")
        self.python = args.python or os.environ.get("PYTHON3") or "/usr/bin/python3"
        self.python_env = dict(kv.split("=", 1) for kv in args.python_env)

    def program(self, prog, opts):
        if opts.get("python"):
            return [self.python, os.path.join(self.src, "tests", "samples", prog)]
        return VALGRIND * bool(self.args.valgrind) + \
            [os.path.join(self.args.samples, prog)] + opts.get("args", [])

    def env(self, opts, shim, log):
        extra = dict(opts.get("env", {}), **(self.python_env if opts.get("python") else {}))
        return preload_env(self.lib if shim else None, log, extra=extra)

    def run_client(self, prog, opts, tls, env):
        """Peer as server, the sample as client. Returns (verdict, proc)."""
        mode = opts.get("peer_mode", "normal")
        peer = subprocess.Popen(
            [self.peer, "server", f"--tls{tls}", f"--cert={self.cert}",
             f"--key={self.key}", f"--mode={mode}",
             f"--timeout={opts.get('peer_timeout_ms', PEER_TIMEOUT_MS)}"] +
            opts.get("peer_args", []),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
        try:
            port = read_line(peer, "peer")["port"]
            proc = subprocess.run(self.program(prog, opts) + [f"--port={port}"],
                                  env=env, capture_output=True, text=True, timeout=TIMEOUT)
            verdict = read_line(peer, "peer verdict")
        finally:
            reap(peer)
        return verdict, proc

    def run_server(self, prog, opts, tls, env):
        """The sample as server, the peer as client."""
        server = subprocess.Popen(
            self.program(prog, opts) + [f"--cert={self.cert}", f"--key={self.key}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        try:
            port = read_line(server, prog)["port"]
            peer = subprocess.run(
                [self.peer, "client", f"--port={port}", f"--tls{tls}",
                 f"--timeout={PEER_TIMEOUT_MS}"],
                capture_output=True, text=True, timeout=TIMEOUT, env=clean_env())
            verdict = json.loads(peer.stdout.splitlines()[0])
            out, err = server.communicate(timeout=TIMEOUT)
        finally:
            server.kill() if server.poll() is None else None
        return verdict, subprocess.CompletedProcess(server.args, server.returncode, out, err)

    def check(self, prog, opts, expect, event, proc, verdict, log, shim):
        problems = []
        for key, want in expect.items():
            got = verdict.get(key)
            if isinstance(want, tuple) and got not in want or \
               not isinstance(want, tuple) and got != want:
                problems.append(f"peer {key}={got!r}, expected {want!r}")
        if "app_in_after" in opts and verdict.get("app_in_after") != opts["app_in_after"]:
            problems.append(f"peer app_in_after={verdict.get('app_in_after')}, "
                            f"expected {opts['app_in_after']}")
        if proc.returncode != 0:
            problems.append(f"program exit status {proc.returncode}")
        want_out = opts.get("stdout_shim" if shim else "stdout_bare", opts.get("stdout", ""))
        if not proc.stdout.startswith("ok") or want_out not in proc.stdout:
            problems.append(f"program stdout {proc.stdout.strip()!r}, expected ok ... {want_out}")
        if "max_close_ms" in opts:
            # The shim gives up after 200 ms: five times that allows for a
            # loaded machine or valgrind, and still catches a bound that
            # does not hold (a blocked write, a second wait).
            m = re.search(r"close_ms=(\d+)", proc.stdout)
            if not m or int(m.group(1)) > opts["max_close_ms"]:
                problems.append(f"close() took too long: {proc.stdout.strip()!r}")
        want_version = "OpenSSL 1.1.1" if self.args.openssl == "1.1.1" else "OpenSSL 3."
        if want_version not in proc.stderr:
            problems.append(f"program did not report {want_version}: {proc.stderr.strip()!r}")
        if shim:
            events, bad = parse_log(read_log(log))
            problems += [f"log line is not JSON: {line!r}" for line in bad]
            sent_events = [e for e in events if e.get("event") == "sent"]
            if event is None:
                if sent_events:
                    problems.append(f"shim sent close_notify unexpectedly: {sent_events}")
            elif not any(all(e.get(k) in (v if isinstance(v, tuple) else (v,))
                             for k, v in event.items()) for e in events):
                problems.append(f"no event {event} in the log: {events}")
            # Each process has one connection: one final event, and its
            # summary adds up (tlsclose(7), EVENTS).
            problems += final_event_problems(events, per_process=1)
            if len(sent_events) > 1:
                problems.append(f"more than one sent event: {sent_events}")
            # A program that ends normally after using TLS logs its summary,
            # which counts what the log shows.
            summaries = [e for e in events if e.get("event") == "summary"]
            if event and event.get("event") == "sent" and not any(
                    s.get("sent", 0) >= 1 and s.get("connections", 0) >= 1 for s in summaries):
                problems.append(f"no summary counting the connection and the close_notify: "
                                f"{summaries}")
        if problems:
            problems += [f"peer: {json.dumps(verdict)}", f"stderr: {proc.stderr.strip()}"]
        return problems

    def run(self, tap):
        self.observed = {}
        for name, prog, opts, bare, shimmed, event in SCENARIOS:
            for tls in ("1.2", "1.3"):
                for shim in (False, True):
                    label = f"{name} [TLS {tls}, {'shim' if shim else 'bare'}]"
                    if self.args.valgrind and (not shim or opts.get("python")):
                        continue  # memcheck looks at the library, in C programs
                    if opts.get("python") and self.args.openssl != "3" and not self.args.python:
                        why = "no Python linked against OpenSSL 1.1.1 (download failed)"
                        if os.environ.get("TC_TEST_REQUIRE_OPENSSL111") == "1":
                            tap.result(False, label, [why])
                        else:
                            tap.skip(label, why)
                        continue
                    log = os.path.join(self.tmp, f"log-{tap.n + 1}")
                    env = self.env(opts, shim, log)
                    verdict = {}
                    try:
                        runner = self.run_server if opts.get("server") else self.run_client
                        verdict, proc = runner(prog, opts, tls, env)
                        problems = self.check(prog, opts, shimmed if shim else bare,
                                              event, proc, verdict, log, shim)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError,
                            KeyError, IndexError) as e:
                        problems = [f"{type(e).__name__}: {e}"]
                    tap.result(not problems, label, problems)
                    self.observed[(name, tls, shim)] = (describe(verdict), not problems)
        if not self.args.valgrind:
            self.no_tls(tap)
        if self.args.table:
            self.write_table()

    def write_table(self):
        """What the strict peer observed, as a Markdown table (for
        doc/results.md and the issue notes: results, not hand-written
        claims)."""
        rows = []
        for name, *_ in SCENARIOS:
            cells = [name]
            for tls in ("1.2", "1.3"):
                for shim in (False, True):
                    seen, ok = self.observed.get((name, tls, shim), ("not run", False))
                    cells.append(seen + ("" if ok else " **(FAILED)**"))
            rows.append(cells)
        write_table(self.args.table, [f"pattern (OpenSSL {self.args.openssl})", "TLS 1.2 bare",
                                      "TLS 1.2 shim", "TLS 1.3 bare", "TLS 1.3 shim"], rows)

    def no_tls(self, tap):
        """A program that never uses TLS: same output, no libssl mapped."""
        prog = [os.path.join(self.args.samples, "no_tls")]
        bare = subprocess.run(prog, env=clean_env(), capture_output=True, text=True,
                              timeout=TIMEOUT)
        env = self.env({}, True, os.path.join(self.tmp, "log-no-tls"))
        shim = subprocess.run(prog, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        problems = []
        if bare.returncode != 0 or shim.returncode != 0:
            problems.append(f"exit status bare {bare.returncode}, shim {shim.returncode}")
        if bare.stdout != shim.stdout:
            problems.append(f"output differs:\n{bare.stdout}---\n{shim.stdout}")
        if "libssl_mapped=0" not in shim.stdout:
            problems.append("libssl mapped into a program that never uses TLS")
        tap.result(not problems, "a program that never uses TLS: output unchanged, "
                   "no libssl mapped", problems + [shim.stderr])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openssl", choices=("3", "1.1.1"), required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--table", help="write what the peer observed as a Markdown table")
    ap.add_argument("--valgrind", action="store_true",
                    help="run the C samples under the library with valgrind memcheck")
    ap.add_argument("--python", help="the Python interpreter for the Python scenarios")
    ap.add_argument("--python-env", action="append", default=[],
                    help="NAME=VALUE for the Python interpreter's environment")
    args = ap.parse_args()
    tap = Tap()
    runner = Runner(args)
    runner.run(tap)
    runner.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
