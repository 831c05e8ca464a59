#!/usr/bin/env python3
"""Every kind of event the library logs, produced by real runs and checked
against its JSON schema (doc/events.schema.json, documented in tlsclose(7)),
printed as TAP.

Each run is a sample program (tests/samples, or a hardening program) under
the library against the strict peer, logging every event (debug) as JSON to
a file; JSON lines the library wrote to standard error (a log file it could
not open) count too. For each run:
  - every line is one JSON object valid under the schema;
  - every connection has exactly one final event (sent or skipped), and the
    exit summary adds up: connections = sent + skipped + open, with open 0
    at a normal exit, and its counts are those of the final events logged;
  - the events the run is there to produce were logged.
At the end: every event kind of the schema, every trigger and the skip
reasons that can be staged here were seen.

Validated with python3-jsonschema (Draft 2020-12).

usage: event_schema.py --openssl=3|1.1.1 --samples=DIR [--table=FILE]
Environment: TC_SRCDIR, TC_BUILDDIR, TLSCLOSE_LIBRARY or TC_TEST_PRELOAD, CC.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PEER_TIMEOUT_MS, TIMEOUT, Suite, Tap, final_event_problems,  # noqa: E402
                     parse_log, preload_env, read_log, run_with_peer)

try:
    import jsonschema
except ImportError:  # the test says so and skips (tools/bootstrap installs it)
    jsonschema = None

WAIT_MS = 300  # TLSCLOSE_WAIT_MS of the unanswered wait
LONG_PATH = "/nonexistent-tlsclose-dir/" + "x" * 900  # a config_error too long for a line


def want(event, **fields):
    """An event the run must log: its name and some of its fields."""
    return dict(event=event, **fields)


def quick(ms):
    """waited_ms of an answer that was already there: the exit handler reads
    it at once, but a millisecond boundary may fall inside that read."""
    return isinstance(ms, int) and 0 <= ms < 500


# name, program (a sample, or hardening/NAME), its arguments, peer options
# (count: connections), environment, TLS version, events it must log.
RUNS = [
    ("close()", "close_only", [], {}, {}, "1.3", [want("sent", trigger="close")]),
    ("shutdown()", "shutdown_rdwr", [], {}, {}, "1.3", [want("sent", trigger="shutdown")]),
    ("SSL_free", "free_then_close", [], {}, {}, "1.2", [want("sent", trigger="free")]),
    ("exit", "exit_open", [], {}, {}, "1.3", [want("sent", trigger="exit")]),
    ("quiet shutdown, notify=always", "quiet", [], {}, {"TLSCLOSE_NOTIFY": "always"}, "1.2",
     [want("sent", trigger="quiet")]),
    ("the peer's close_notify answered (TLS 1.2)", "eof_reader", ["--fn=read"],
     {"mode": "close"}, {}, "1.2",
     [want("peer_close_notify", reply="due"), want("sent", trigger="reply")]),
    ("wait, answered", "close_only", [], {"mode": "reply"}, {"TLSCLOSE_WAIT_MS": "5000"}, "1.2",
     [want("sent", trigger="close", answered=True)]),
    ("wait, no answer", "close_only", [], {}, {"TLSCLOSE_WAIT_MS": str(WAIT_MS)}, "1.3",
     [want("sent", trigger="close", answered=False)]),
    ("wait, the peer's close_notify first", "exit_open", [], {"mode": "close"},
     {"TLSCLOSE_WAIT_MS": "5000", "TLSCLOSE_REPLY": "off"}, "1.3",
     [want("sent", trigger="exit", answered=True, waited_ms=quick)]),
    ("a zero-length SSL_write, then the peer's close_notify", "write_zero", [],
     {"mode": "close"}, {"TLSCLOSE_REPLY": "on"}, "1.2", [want("sent", trigger="reply")]),
    ("closed during the handshake", "handshake_close", [], {}, {}, "1.3",
     [want("skipped", reason="not established", level="info")]),
    ("silent EOF", "eof_reader", ["--fn=read"], {"mode": "truncate"}, {}, "1.2",
     [want("truncation", policy="warn"), want("skipped", reason="failed")]),
    ("silent EOF, eof=clean", "eof_reader", ["--fn=read"], {"mode": "truncate"},
     {"TLSCLOSE_EOF": "clean"}, "1.3", [want("truncation", policy="clean", level="info")]),
    ("quiet shutdown, notify=on", "quiet", [], {}, {}, "1.3",
     [want("skipped", reason="quiet")]),
    ("a forked child closes its copy", "fork_child_close", [], {}, {}, "1.3",
     [want("skipped", reason="not owner"), want("sent", trigger="close")]),
    ("full send buffer", "full_buffer_nonblocking", [], {"mode": "stall"}, {}, "1.3",
     [want("skipped", reason="timeout", level="warn")]),
    ("peer reset", "peer_reset", [], {"mode": "reset"}, {}, "1.2",
     [want("skipped", reason="peer gone")]),
    ("exit after OPENSSL_cleanup", "cleanup_exit", [], {}, {}, "1.2",
     [want("skipped", reason="after cleanup")]),
    ("close while another thread reads", "busy_close_reuse", [], {}, {}, "1.3",
     [want("skipped", reason="busy")]),
    ("descriptor closed behind the library's back and reused", "fd_reuse_raw", [], {}, {},
     "1.3", [want("skipped", reason="fd reused")]),
    ("the program's own close_notify (BIO_free_all)", "bio_ssl_connect", [], {}, {}, "1.2",
     [want("skipped", reason="sent by program", level="debug")]),
    ("notify=off", "close_only", [], {}, {"TLSCLOSE_NOTIFY": "off"}, "1.3",
     [want("skipped", reason="notify off")]),
    ("close_notify at fatal level", "eof_reader", ["--fn=read"],
     {"mode": "close", "args": ["--alert-level=fatal"]}, {}, "1.2",
     [want("fatal_close_notify", policy="clean"), want("skipped", reason="fatal close_notify")]),
    ("SSL_write after the library's answer", "write_after_reply", [], {"mode": "close"},
     {"TLSCLOSE_REPLY": "on"}, "1.2", [want("write_refused", policy="on")]),
    ("SSL_clear: one object, two connections", "clear_reuse", [], {"count": 2}, {}, "1.3",
     [want("skipped", reason="sent by program"), want("sent", trigger="close"),
      want("summary", connections=2, sent=1, skipped=1, by_program=1, open=0)]),
    ("SSL_clear after a silent EOF reported as an error: the next connection is new",
     "clear_after_eof", [], {"count": 2, "mode": "truncate,normal"}, {"TLSCLOSE_EOF": "error"},
     "1.3",
     [want("truncation", policy="error"), want("sent", trigger="close"),
      want("summary", connections=2, sent=1, skipped=1, open=0)]),
    ("three connections in a row (a new SSL where a freed one was)", "in_a_row", [],
     {"count": 3}, {}, "1.3",
     [want("sent", trigger="close"),
      want("summary", connections=3, sent=3, skipped=0, by_program=0, open=0)]),
    ("signal handler while the table is locked", "hardening/signal_close", ["locked"],
     {"count": 2}, {}, "1.3",
     [want("skipped", reason="interrupted", level="warn"),
      want("untracked", reason="interrupted"), want("sent", trigger="close")]),
    ("a libssl without functions the library needs", "fake_ssl_user", [], None, {}, None,
     [want("missing_symbol")]),
    ("a bad value", "no_tls", [], None, {"TLSCLOSE_EOF": "bogus"}, None,
     [want("config_error", variable="TLSCLOSE_EOF"),
      want("summary", connections=0, detail="no TLS connection")]),
    ("a line too long (a log path that cannot be opened)", "no_tls", [], None,
     {"TLSCLOSE_LOG": LONG_PATH}, None, [want(None, truncated=True)]),
]

# What the runs above must show between them.
TRIGGERS = {"close", "shutdown", "free", "exit", "quiet", "reply"}
REASONS = {"not established", "failed", "quiet", "not owner", "timeout", "peer gone",
           "after cleanup", "busy", "fd reused", "sent by program", "notify off",
           "fatal close_notify", "interrupted"}


def matches(e, spec):
    """e has every field of spec (an event name None: any event; a callable
    value: a predicate on the field)."""
    return all(v(e.get(k)) if callable(v) else e.get(k) == v
               for k, v in spec.items() if not (k == "event" and v is None))



class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "event-schema")
        with open(os.path.join(self.src, "doc", "events.schema.json")) as f:
            self.schema = json.load(f)
        # Without the module, run() says SKIP rather than this failing.
        self.validator = jsonschema.Draft202012Validator(self.schema) if jsonschema else None
        self.n = 0

    def program(self, name):
        if name == "fake_ssl_user":
            return self.fake_ssl_user()
        if name.startswith("hardening/"):
            return os.path.join(self.build, "tests", name)
        return os.path.join(self.args.samples, name)

    def fake_ssl_user(self):
        """A program linked against a libssl that lacks functions the library
        needs (tests/fake_libssl.c, as tests/binding.test builds it)."""
        user = os.path.join(self.tmp, "fake_ssl_user")
        if not os.path.exists(user):
            cc = os.environ.get("CC") or "cc"
            src = os.path.join(self.src, "tests")
            lib = os.path.join(self.tmp, "libfakessl.so")
            subprocess.run([cc, "-shared", "-fPIC", "-o", lib,
                            os.path.join(src, "fake_libssl.c")], check=True, timeout=60)
            subprocess.run([cc, "-o", user, os.path.join(src, "fake_ssl_user.c"),
                            f"-L{self.tmp}", "-lfakessl", f"-Wl,-rpath,{self.tmp}"],
                           check=True, timeout=60)
        return user

    def invalid(self, e):
        """Why e is not valid under the schema, or None. For an event the
        schema knows, the errors of that event's own definition (oneOf only
        says that none matched)."""
        if self.validator.is_valid(e):
            return None
        name = e.get("event") if isinstance(e, dict) else None
        if not isinstance(e, dict) or e.get("truncated") or name not in self.schema["$defs"]:
            name = "truncated"
        sub = dict(self.schema)
        sub.pop("oneOf")
        sub["$ref"] = f"#/$defs/{name}"
        errors = [f"{'/'.join(map(str, err.path)) or '(line)'}: {err.message}"
                  for err in jsonschema.Draft202012Validator(sub).iter_errors(e)]
        return "; ".join(errors[:4]) or "no event definition matches"

    def run_one(self, prog, args, peer, env, tls):
        self.n += 1
        log = os.path.join(self.tmp, f"run{self.n}.log")
        penv = preload_env(self.lib, log, extra=env)
        argv = [self.program(prog)] + args
        problems = []
        if peer is None:
            proc = subprocess.run(argv, env=penv, capture_output=True, text=True,
                                  timeout=TIMEOUT)
        else:
            count = peer.get("count", 1)
            cmd = [self.peer, "server", "--parallel", f"--count={count}", f"--tls{tls}",
                   f"--cert={self.cert}", f"--key={self.key}",
                   f"--mode={peer.get('mode', 'normal')}", f"--timeout={PEER_TIMEOUT_MS}",
                   f"--total-timeout={TIMEOUT * 1000}"] + peer.get("args", [])
            res = run_with_peer(cmd, lambda port: argv + [f"--port={port}"], penv, TIMEOUT,
                                TIMEOUT, None)
            proc = res["proc"]
            problems += res["problems"]
            if len(res["verdicts"]) != count:
                problems.append(f"{len(res['verdicts'])} peer verdicts for {count}")
        if proc is None:
            return [], problems
        if proc.returncode != 0:
            problems.append(f"exit status {proc.returncode}: {proc.stderr.strip()[-500:]}")
        # The file's lines, then those the library wrote to stderr (where
        # it logs when it cannot open the file).
        lines = read_log(log).splitlines() + \
            [line for line in proc.stderr.splitlines() if line.startswith("{")]
        events, bad = parse_log("\n".join(lines))
        return events, problems + [f"not JSON: {line!r}" for line in bad]

    def run(self, tap):
        if jsonschema is None:
            tap.skip("event schema", "python3-jsonschema is not installed")
            return
        seen = []
        for name, prog, args, peer, env, tls, wanted in RUNS:
            label = f"{name}: every line valid under the schema, one final event per " \
                    "connection, the summary adds up"
            try:
                if not os.path.exists(self.program(prog)):
                    tap.result(False, label, [f"{self.program(prog)} not built"])
                    continue
                events, problems = self.run_one(prog, args, peer, env, tls)
            except (subprocess.TimeoutExpired, subprocess.CalledProcessError, RuntimeError) as e:
                tap.result(False, label, [f"{type(e).__name__}: {e}"])
                continue
            for e in events:
                why = self.invalid(e)
                if why:
                    problems.append(f"invalid: {why}: {json.dumps(e)}")
            problems += final_event_problems(events)
            for spec in wanted:
                if not any(matches(e, spec) for e in events):
                    problems.append(f"no event {spec}")
            if not events:
                problems.append("no event at all")
            seen += events
            tap.result(not problems, f"{label} ({len(events)} lines)",
                       problems + [json.dumps(e) for e in events][:12])
        self.coverage(tap, seen)

    def coverage(self, tap, seen):
        kinds = set(self.schema["$defs"]) - {"line", "connection"}
        got = {"truncated" if e.get("truncated") else e.get("event") for e in seen}
        tap.result(kinds <= got, f"every event kind of the schema was produced "
                   f"({', '.join(sorted(kinds))})", [f"missing: {sorted(kinds - got)}"])
        triggers = {e.get("trigger") for e in seen if e.get("event") == "sent"}
        tap.result(TRIGGERS <= triggers, "sent with every trigger",
                   [f"missing: {sorted(TRIGGERS - triggers)}"])
        reasons = {e.get("reason") for e in seen if e.get("event") == "skipped"}
        tap.result(REASONS <= reasons, f"skipped with {len(REASONS)} reasons",
                   [f"missing: {sorted(REASONS - reasons)}"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openssl", choices=("3", "1.1.1"), required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--table", help="ignored (tests/suite passes it to every runner)")
    args = ap.parse_args()
    tap = Tap()
    runner = Runner(args)
    runner.run(tap)
    runner.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
