#!/usr/bin/env python3
"""Receive-side tests of tlsclose (tlsclose(7), Receiving), printed as TAP.

1. Silent EOF: the strict peer sends a response and then ends TCP without
   close_notify (--mode=truncate). The sample eof_reader reads to the end with
   one of SSL_read, SSL_read_ex, SSL_peek, SSL_peek_ex, with or without
   SSL_OP_IGNORE_UNEXPECTED_EOF, or through a BIO of its own that does not
   answer BIO_eof (the 1.1.1-style signal on every version), and prints what the program saw (return
   value, SSL_get_error, errno, the error queue as printed, a second call,
   SSL_shutdown). Each combination runs bare and under TLSCLOSE_EOF=warn,
   error and clean, in TLS 1.2 and 1.3; the peer reports any alert the client
   wrote after the EOF, the log the truncation event.
2. Fatal-level close_notify (TLS 1.2), from the GnuTLS peer: a clean end
   under the shim, an error bare; warning level as the control.
3. TLSCLOSE_REPLY: the peer sends close_notify and waits for the answer
   (--mode=close --reply-wait); the reader then waits for the peer's FIN and
   leaves with _exit(), so only an immediate reply can reach the peer; the
   peer_close_notify event says whether the reply was due.
4. The log: each TLSCLOSE_LOG_LEVEL shows the events at or above it only;
   a log file that cannot be opened leaves errno and results as bare; no
   application byte ever appears in a log line.
5. The shapes: each return-value shape the receive side classifies (socket
   BIO, a BIO of the program's own with and without BIO_eof, a read error of
   that BIO that sets no errno while the connection stays open), bare,
   asserted exactly against a table per OpenSSL version (SHAPES); the new
   ones also under each policy.

usage: receive.py --openssl=3|1.1.1 --samples=DIR [--table=FILE]
Environment: TC_BUILDDIR, TLSCLOSE_LIBRARY (from make check).
"""

import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PEER_TIMEOUT_MS, Suite, TIMEOUT, Tap, clean_env,  # noqa: E402
                     parse_log, preload_env, read_line, read_log, reap, system_openssl3,
                     write_table)

FUNCTIONS = ("read", "read_ex", "peek", "peek_ex")
POLICIES = ("warn", "error", "clean")
EOF_STRING = "unexpected eof while reading"   # OpenSSL 3's own reason text
# Under TLSCLOSE_EOF=error: the library's own error (its error library and
# reason, shim/eof.h), never OpenSSL's reason above, and errno EPROTO.
OWN_LIB = "tlsclose"
OWN_REASON = "connection ended without close_notify: data may be truncated"
EPROTO = 71
RESPONSE = 100  # bytes the truncating peer sends before its FIN
REPLY_WAIT_MS = 1000
DECODE_ERROR = "fatal:decode error"

# --- the matrix, as rows of data ---------------------------------------------
# What the program's first read at the end gives: the return value (a pair,
# for SSL_read/SSL_peek and for their _ex forms, where the rows tell them
# apart), SSL_get_error, and what else must hold: errno, the error queue as
# printed ("errors") or a text in it ("has"), the fatal alerts the peer got.
ZERO_RETURN = {"ret": 0, "ssl_error": "SSL_ERROR_ZERO_RETURN", "errors": ""}
AT_EOF_CLEAN = dict(ZERO_RETURN, ret=(0, 0), peer_fatal=[])
AT_EOF_SYSCALL_0 = {"ret": (0, 0), "ssl_error": "SSL_ERROR_SYSCALL", "errno": 0, "errors": "",
                    "peer_fatal": []}
AT_EOF_SYSCALL_MINUS_1 = dict(AT_EOF_SYSCALL_0, ret=(-1, 0))
AT_EOF_OPENSSL3 = {"ret": (0, 0), "ssl_error": "SSL_ERROR_SSL", "has": EOF_STRING,
                   "peer_fatal": [DECODE_ERROR]}

# 1. Silent EOF (Runner.silent_eof): how the reader meets the peer's FIN (its
# words in the test names), the reader's arguments, and what a program
# WITHOUT the library sees, keyed by the first OpenSSL version each holds for
# (by_version). Each row runs with every function of FUNCTIONS in TLS 1.2 and
# 1.3, bare and under each policy of POLICIES (check_policy), and is one line
# of the Markdown table (--table) per function and TLS version.
SILENT_EOF = [
    # name, reader arguments, bare outcome by OpenSSL version
    ("", [], {(1, 1): AT_EOF_SYSCALL_0, (3, 0): AT_EOF_OPENSSL3}),
    ("+IGNORE_UNEXPECTED_EOF", ["--ignore-eof"], {(1, 1): AT_EOF_SYSCALL_0, (3, 0): AT_EOF_CLEAN}),
    # A BIO of the program's own that does not answer BIO_eof gets the 1.1.1
    # signal on OpenSSL 3.0 and 3.1 too (doc/design.md, OpenSSL versions);
    # from 3.2 on, whose record layer was rewritten, -1 (the _ex forms 0),
    # still SSL_ERROR_SYSCALL with errno 0 and nothing queued.
    ("(own BIO without BIO_eof)", ["--bio=custom"],
     {(1, 1): AT_EOF_SYSCALL_0, (3, 2): AT_EOF_SYSCALL_MINUS_1}),
]

# 2. Fatal-level close_notify (Runner.fatal_close_notify), from the GnuTLS
# peer, read with SSL_read, bare and under the library. A fatal one on the
# wire (TLS 1.2; TLS 1.3 has no alert levels: there it is a plain
# close_notify, answered as one) is a clean end under the library, which logs
# fatal_close_notify at info and lets SSL_shutdown return 1; the client must
# not answer it. Warning level is the control.
SSL_REASON_1000 = {"ret": 0, "ssl_error": "SSL_ERROR_SSL", "has": "reason(1000)"}
FATAL_CLOSE_NOTIFY = [
    # alert level, TLS, bare, under the library, fatal on the wire
    ("fatal", "1.2", SSL_REASON_1000, ZERO_RETURN, True),
    ("fatal", "1.3", ZERO_RETURN, ZERO_RETURN, False),
    ("warning", "1.2", ZERO_RETURN, ZERO_RETURN, False),
    ("warning", "1.3", ZERO_RETURN, ZERO_RETURN, False),
]

# 3. TLSCLOSE_REPLY (Runner.reply): whether the library answers the peer's
# close_notify at once (bare: never). auto answers for TLS 1.2, as RFC 5246
# requires, and leaves a TLS 1.3 half-close to the program.
REPLY = [
    # TLSCLOSE_REPLY, TLS, answered at once under the library
    ("auto", "1.2", True),
    ("auto", "1.3", False),
    ("on", "1.2", True),
    ("on", "1.3", True),
    ("off", "1.2", False),
    ("off", "1.3", False),
]


def by_version(rows, version):
    """(since, row): of rows keyed by the first OpenSSL version (major,
    minor) each holds for, the newest not above version (major, minor, ...):
    a 3.1 takes the 3.0 row, a 3.6 the 3.2 one."""
    since = max(k for k in rows if k <= tuple(version[:2]))
    return since, rows[since]


def fatal_alerts(verdict):
    return [a for a in verdict.get("alerts", []) if a.startswith("fatal:")]


class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "receive")
        self.gnutls_peer = os.path.join(self.build, "tests", "gnutls_peer")
        self.reader = os.path.join(args.samples, "eof_reader")
        # The OpenSSL the samples run against, as SILENT_EOF keys it.
        self.version = (1, 1) if args.openssl == "1.1.1" else system_openssl3()
        self.table = []

    def run(self, peer_cmd, reader_args, env_extra, shim):
        """Start a peer, run the reader against it; returns (reader output,
        peer verdict, log events, reader process). The log's raw text stays
        in self.log_text. env_extra may override the log settings."""
        log = os.path.join(self.tmp, f"log-{len(os.listdir(self.tmp))}")
        env = preload_env(self.lib if shim else None, log, extra=env_extra)
        peer = subprocess.Popen(peer_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=clean_env())
        try:
            port = read_line(peer, "peer")["port"]
            proc = subprocess.run([self.reader, f"--port={port}"] + reader_args, env=env,
                                  capture_output=True, text=True, timeout=TIMEOUT)
            verdict = read_line(peer, "peer verdict")
        finally:
            reap(peer)
        out = json.loads(proc.stdout.splitlines()[0]) if proc.stdout.strip() else {}
        self.log_text = read_log(log)
        events, bad = parse_log(self.log_text)
        if bad:
            raise ValueError(f"log lines that are not events: {bad[:3]}")
        return out, verdict, events, proc

    # --- 1. silent EOF ---------------------------------------------------

    @staticmethod
    def compare(end, want):
        problems = []
        for key in ("ret", "ssl_error", "errno", "errors", "lib", "reason"):
            if key in want and end.get(key) != want[key]:
                problems.append(f"{key}={end.get(key)!r}, expected {want[key]!r}")
        if "has" in want and want["has"] not in end.get("errors", ""):
            problems.append(f"errors {end.get('errors')!r} lack {want['has']!r}")
        return problems

    def silent_eof(self, tap):
        for tls in ("1.2", "1.3"):
            peer_cmd = [self.peer, "server", f"--tls{tls}", f"--cert={self.cert}",
                        f"--key={self.key}", "--mode=truncate", f"--response={RESPONSE}",
                        f"--timeout={PEER_TIMEOUT_MS}"]
            for fn in FUNCTIONS:
                ex = fn.endswith("_ex")
                for name, reader_args, bare in SILENT_EOF:
                    args = [f"--fn={fn}"] + reader_args
                    what = " ".join(filter(None, (fn, name))) + f", TLS {tls}"
                    bare_out, bare_peer, _, proc = self.run(peer_cmd, args, {}, False)
                    want = by_version(bare, self.version)[1]
                    want = dict(want, ret=want["ret"][ex])
                    problems = self.compare(bare_out.get("end", {}), want)
                    if fatal_alerts(bare_peer) != want["peer_fatal"]:
                        problems.append(f"peer got alerts {bare_peer.get('alerts')}, "
                                        f"expected fatal {want['peer_fatal']}")
                    if bare_out.get("bytes") != RESPONSE:
                        problems.append(f"read {bare_out.get('bytes')} bytes, expected {RESPONSE}")
                    tap.result(not problems, f"silent EOF, bare: {what}",
                               problems + [proc.stdout, json.dumps(bare_peer)])
                    row = [what, self.cell(bare_out, bare_peer)]
                    for policy in POLICIES:
                        out, peer, events, proc = self.run(
                            peer_cmd, args, {"TLSCLOSE_EOF": policy}, True)
                        problems = self.check_policy(policy, ex, out, peer, events,
                                                     bare_out, bare_peer, tls)
                        if "hello" in self.log_text or "xxxxxxxx" in self.log_text:
                            problems.append("application data in the log")
                        tap.result(not problems, f"silent EOF, TLSCLOSE_EOF={policy}: {what}",
                                   problems + [proc.stdout, proc.stderr, json.dumps(peer),
                                               json.dumps(events)])
                        row.append(self.cell(out, peer) + ("" if not problems else " **FAILED**"))
                    self.table.append(row)

    @staticmethod
    def cell(out, peer):
        end = out.get("end", {})
        alert = ", alert " + "/".join(fatal_alerts(peer)) if fatal_alerts(peer) else ""
        text = " (unexpected eof)" if EOF_STRING in end.get("errors", "") else \
            " (tlsclose: no close_notify)" if OWN_REASON in end.get("errors", "") else ""
        return f"{end.get('ret')} {end.get('ssl_error', '?').replace('SSL_ERROR_', '')}{text}{alert}"

    def check_policy(self, policy, ex, out, peer, events, bare_out, bare_peer, tls):
        end, again = out.get("end", {}), out.get("again", {})
        problems = []
        truncations = [e for e in events if e.get("event") == "truncation"]
        level = "info" if policy == "clean" else "warn"
        if len(truncations) != 1 or truncations[0].get("policy") != policy or \
           truncations[0].get("level") != level or \
           truncations[0].get("bytes_read") != RESPONSE or \
           not str(truncations[0].get("peer", "")).startswith("127.0.0.1:"):
            problems.append(f"expected one truncation event (policy {policy}, level {level}, "
                            f"{RESPONSE} bytes read, the peer named): {truncations}")
        elif truncations[0].get("tls") != f"TLSv{tls}" or \
                truncations[0].get("bytes_written") != len("hello\n") or \
                not isinstance(truncations[0].get("fd"), int):
            problems.append(f"truncation event: expected tls TLSv{tls}, bytes_written 6 and "
                            f"a descriptor: {truncations}")
        summaries = [e for e in events if e.get("event") == "summary"]
        if len(summaries) != 1 or summaries[0].get("truncations") != 1 or \
                summaries[0].get("connections") != 1 or summaries[0].get("level") != "info":
            problems.append(f"expected one info summary counting 1 connection and "
                            f"1 truncation: {summaries}")
        if out.get("bytes") != RESPONSE:
            problems.append(f"read {out.get('bytes')} bytes, expected {RESPONSE}")
        if policy == "warn":
            # The whole output (first and second call, SSL_shutdown) and
            # every alert the peer got, as bare.
            if out != bare_out:
                problems.append(f"warn: the program saw {json.dumps(out)}, bare "
                                f"{json.dumps(bare_out)}")
            if peer.get("alerts") != bare_peer.get("alerts"):
                problems.append(f"warn: peer alerts {peer.get('alerts')} differ from bare "
                                f"{bare_peer.get('alerts')}")
        elif policy == "error":
            # The same failure from the first call (ERR_error_string_n) and
            # the second (ERR_print_errors): the library's error, alone.
            want = {"ret": 0 if ex else -1, "ssl_error": "SSL_ERROR_SSL", "errno": EPROTO,
                    "lib": OWN_LIB, "reason": OWN_REASON}
            problems += self.compare(end, want)
            problems += [f"second call: {p}" for p in self.compare(again, want)]
            for key, outcome in (("first call", end), ("second call", again)):
                printed = outcome.get("errors", "")
                if printed.count(OWN_REASON) != 1 or f":{OWN_LIB}:" not in printed or \
                        EOF_STRING in printed or "ocsp" in printed:
                    problems.append(f"{key}: the queue printed {printed!r}, expected the "
                                    f"library's error only ({OWN_LIB}: {OWN_REASON})")
            if out.get("shutdown") != -1:
                problems.append(f"SSL_shutdown returned {out.get('shutdown')}, expected -1")
            if peer.get("alerts"):
                problems.append(f"the client wrote alerts into the dead connection: "
                                f"{peer.get('alerts')}")
            if not any(e.get("event") == "skipped" and e.get("reason") == "failed"
                       for e in events):
                problems.append("no skipped event with reason failed when the program "
                                "ended the failed connection")
        else:
            problems += self.compare(end, ZERO_RETURN)
            problems += [f"second call: {p}" for p in self.compare(again, ZERO_RETURN)]
            if fatal_alerts(peer):
                problems.append(f"the client wrote a fatal alert: {peer.get('alerts')}")
        return problems

    # --- 2. fatal close_notify -------------------------------------------

    def fatal_close_notify(self, tap):
        if not os.path.exists(self.gnutls_peer):
            why = "tests/gnutls_peer not built (no GnuTLS headers)"
            for shim in (False, True):
                name = f"fatal-level close_notify ({'shim' if shim else 'bare'})"
                if os.environ.get("TC_TEST_REQUIRE_GNUTLS") == "1":
                    tap.result(False, name, [why])
                else:
                    tap.skip(name, why)
            return
        for level, tls, bare, shimmed, fatal in FATAL_CLOSE_NOTIFY:
            peer_cmd = [self.gnutls_peer, "server", f"--tls{tls}", f"--cert={self.cert}",
                        f"--key={self.key}", f"--alert={level}",
                        f"--timeout={PEER_TIMEOUT_MS}"]
            for shim in (False, True):
                out, peer, events, proc = self.run(peer_cmd, ["--fn=read"], {}, shim)
                want = shimmed if shim else bare
                problems = self.compare(out.get("end", {}), want)
                if shim:
                    fcn = [e for e in events if e.get("event") == "fatal_close_notify"]
                    if fatal and [e.get("level") for e in fcn] != ["info"]:
                        problems.append(f"expected one fatal_close_notify event at "
                                        f"info level: {events}")
                    if not fatal and fcn:
                        problems.append(f"unexpected fatal_close_notify event: {fcn}")
                    if fatal and out.get("shutdown") != 1:
                        problems.append(f"SSL_shutdown after it returned "
                                        f"{out.get('shutdown')}, expected 1")
                if fatal and peer.get("client_alert") is not None:
                    problems.append(f"the client answered a fatal alert: "
                                    f"{peer.get('client_alert')}")
                tap.result(not problems,
                           f"{level}-level close_notify, TLS {tls}, "
                           f"{'shim' if shim else 'bare'}: {want['ssl_error']}",
                           problems + [proc.stdout, json.dumps(peer), json.dumps(events)])

    # --- 3. reply ----------------------------------------------------------

    def reply(self, tap):
        for policy, tls, answered in REPLY:
            peer_cmd = [self.peer, "server", f"--tls{tls}", f"--cert={self.cert}",
                        f"--key={self.key}", "--mode=close",
                        f"--reply-wait={REPLY_WAIT_MS}", f"--timeout={PEER_TIMEOUT_MS}"]
            for shim in (False, True):
                out, peer, events, proc = self.run(
                    peer_cmd, ["--fn=read", "--then=wait-fin"],
                    {"TLSCLOSE_REPLY": policy}, shim)
                want = answered and shim
                problems = []
                if peer.get("replied") is not want:
                    problems.append(f"peer saw a reply: {peer.get('replied')}, expected {want}")
                sent = [e for e in events if e.get("event") == "sent"]
                if shim and want and [e.get("trigger") for e in sent] != ["reply"]:
                    problems.append(f"expected one sent event with trigger reply: {sent}")
                if shim and not want and sent:
                    problems.append(f"unexpected sent events: {sent}")
                pcn = [e.get("reply") for e in events if e.get("event") == "peer_close_notify"]
                if shim and pcn != ["due" if want else "not due"]:
                    problems.append(f"expected one peer_close_notify event, reply "
                                    f"{'due' if want else 'not due'}: {pcn}")
                if out.get("end", {}).get("ssl_error") != "SSL_ERROR_ZERO_RETURN":
                    problems.append(f"reader did not see close_notify: {out}")
                tap.result(not problems,
                           f"TLSCLOSE_REPLY={policy}, TLS {tls}, "
                           f"{'shim' if shim else 'bare'}: peer "
                           f"{'gets' if want else 'gets no'} immediate answer",
                           problems + [proc.stdout, proc.stderr, json.dumps(peer)])

    # --- 4. the log: levels, a failing sink --------------------------------

    LEVELS = ("error", "warn", "info", "debug")

    def levels(self, tap):
        """One silent EOF (TLSCLOSE_EOF=warn) logged at each level: an event
        appears exactly when its level is at or above the threshold."""
        peer_cmd = [self.peer, "server", "--tls1.2", f"--cert={self.cert}",
                    f"--key={self.key}", "--mode=truncate", f"--response={RESPONSE}",
                    f"--timeout={PEER_TIMEOUT_MS}"]
        must = {"error": set(), "warn": {"truncation"}, "info": {"truncation", "summary"},
                "debug": {"truncation", "summary"}}
        for threshold in self.LEVELS:
            out, peer, events, proc = self.run(
                peer_cmd, ["--fn=read"],
                {"TLSCLOSE_EOF": "warn", "TLSCLOSE_LOG_LEVEL": threshold}, True)
            rank = self.LEVELS.index(threshold)
            problems = []
            louder = [e for e in events if self.LEVELS.index(e.get("level", "debug")) > rank]
            if louder:
                problems.append(f"events below the threshold: {louder}")
            missing = must[threshold] - {e.get("event") for e in events}
            if missing:
                problems.append(f"missing events {sorted(missing)}: {events}")
            tap.result(not problems, f"TLSCLOSE_LOG_LEVEL={threshold}: events at or above "
                       f"it only ({', '.join(sorted(must[threshold])) or 'none'} among them)",
                       problems + [proc.stderr])

    def failing_sink(self, tap):
        """A log file that cannot be opened: the program's errno is as bare
        after every call (the library's failed open must not leak into it),
        and nothing else changes."""
        peer_cmd = [self.peer, "server", "--tls1.2", f"--cert={self.cert}",
                    f"--key={self.key}", "--mode=truncate", f"--response={RESPONSE}",
                    f"--timeout={PEER_TIMEOUT_MS}"]
        bare_out, _, _, _ = self.run(peer_cmd, ["--fn=read"], {}, False)
        out, _, _, proc = self.run(peer_cmd, ["--fn=read"],
                                   {"TLSCLOSE_EOF": "warn",
                                    "TLSCLOSE_LOG": "/nonexistent/tlsclose/log"}, True)
        problems = [] if out == bare_out else [f"the program saw {json.dumps(out)}, bare "
                                               f"{json.dumps(bare_out)}"]
        tap.result(not problems and proc.returncode == 0,
                   "a log file that cannot be opened: errno and results as bare",
                   problems + [proc.stderr])

    def misspelled_policy(self, tap):
        """A typo in TLSCLOSE_EOF must not weaken a policy meant to catch
        truncations: "erorr" (and "Strict", "warn ") behave exactly as
        error, with one config_error line that says so. On 0.1 they meant
        warn: the program saw OpenSSL's own result and the run passed."""
        peer_cmd = [self.peer, "server", "--tls1.3", f"--cert={self.cert}",
                    f"--key={self.key}", "--mode=truncate", f"--response={RESPONSE}",
                    f"--timeout={PEER_TIMEOUT_MS}"]
        bare_out, bare_peer, _, _ = self.run(peer_cmd, ["--fn=read"], {}, False)
        for value in ("erorr", "Strict", "warn "):
            out, peer, events, proc = self.run(peer_cmd, ["--fn=read"],
                                               {"TLSCLOSE_EOF": value}, True)
            problems = self.check_policy("error", False, out, peer, events, bare_out,
                                         bare_peer, "1.3")
            config = [e for e in events if e.get("event") == "config_error"]
            if len(config) != 1 or config[0].get("variable") != "TLSCLOSE_EOF" or \
                    "using error, the strictest" not in config[0].get("detail", ""):
                problems.append(f"expected one config_error for TLSCLOSE_EOF saying error is "
                                f"used: {config}")
            tap.result(not problems, f"TLSCLOSE_EOF={value!r} (a typo) means error: the "
                       f"program gets the library's truncation error, one line says so",
                       problems + [proc.stdout, proc.stderr, json.dumps(events)])

    # --- 5. the shapes the receive side classifies -------------------------

    @staticmethod
    def openssl_version(proc):
        """The OpenSSL the reader ran against, from its "sample:" line:
        ((major, minor, patch), "OpenSSL 3.0.19"), or (None, None)."""
        m = re.search(r"OpenSSL (\d+)\.(\d+)\.(\d+)[a-z]*", proc.stderr)
        return (tuple(int(x) for x in m.groups()), m.group(0)) if m else (None, None)

    def shapes(self, tap):
        """Each return-value shape that classify() in shim/eof.c tells
        apart, asserted exactly as bare against SHAPES for the running
        OpenSSL (a release that changes one fails "bare shape" naming it),
        then what the library makes of the new ones under each policy. TLS
        1.3, SSL_read and SSL_read_ex (the -1/0 forms); the socket BIO and
        the own BIO without BIO_eof are run under the policies by
        silent_eof() above."""
        for shape, (mode, extra, policies) in SHAPE_RUNS.items():
            peer_cmd = [self.peer, "server", "--tls1.3", f"--cert={self.cert}",
                        f"--key={self.key}", f"--mode={mode}", f"--response={RESPONSE}",
                        f"--timeout={PEER_TIMEOUT_MS}"]
            for fn in ("read", "read_ex"):
                ex = fn.endswith("_ex")
                args = [f"--fn={fn}"] + extra
                bare_out, bare_peer, _, proc = self.run(peer_cmd, args, {}, False)
                version, name = self.openssl_version(proc)
                if version is None:
                    tap.result(False, f"bare shape: {shape}, {fn}",
                               ["no OpenSSL version in the reader's stderr", proc.stderr])
                    continue
                since, want = shape_row(shape, version)
                problems = shape_problems(shape, fn, since, name, bare_out, bare_peer, want[fn])
                if proc.returncode != 0:
                    problems.append(f"the reader exited with {proc.returncode}")
                tap.result(not problems, f"bare shape: {shape}, {fn}, TLS 1.3, {name}",
                           problems + [proc.stdout, proc.stderr, json.dumps(bare_peer)])
                for policy in policies:
                    self.shape_policy(tap, shape, fn, ex, policy, version, name, peer_cmd, args,
                                      bare_out, bare_peer)

    def shape_policy(self, tap, shape, fn, ex, policy, version, name, peer_cmd, args,
                     bare_out, bare_peer):
        """One shape under one policy. A silent EOF (the own BIO answering
        BIO_eof) as check_policy() has it for the socket BIO. A read error
        that sets no errno is no end of stream: where its bare shape differs
        from the own BIO's silent EOF the library must leave it alone (no
        truncation event, everything as bare); where the two are the same
        (from 3.2 on; the _ex forms on every version) warn and error report
        a truncation as for that EOF, and clean leaves the program what
        OpenSSL gave it, the connection's TCP socket being still open."""
        eof_like = True
        if shape == READ_ERROR:
            eof_like = shape_row(READ_ERROR, version)[1][fn][0] == \
                shape_row(OWN_BIO, version)[1][fn][0]
        label = (f"{shape}, TLSCLOSE_EOF={policy}: {fn}, TLS 1.3, {name}" +
                 ("" if shape != READ_ERROR else
                  " (the shape of an own-BIO EOF)" if eof_like else
                  " (told from an own-BIO EOF by its shape)"))
        out, peer, events, proc = self.run(peer_cmd, args, {"TLSCLOSE_EOF": policy}, True)
        if shape != READ_ERROR or (eof_like and policy != "clean"):
            problems = self.check_policy(policy, ex, out, peer, events, bare_out, bare_peer,
                                         "1.3")
        else:
            problems = not_an_end_problems(out, peer, events, bare_out, bare_peer)
        if "hello" in self.log_text or "xxxxxxxx" in self.log_text:
            problems.append("application data in the log")
        tap.result(not problems, label,
                   problems + [proc.stdout, proc.stderr, json.dumps(peer), json.dumps(events)])

    def write_table(self):
        write_table(self.args.table, [f"read at a silent EOF (OpenSSL {self.args.openssl})",
                                      "bare", "TLSCLOSE_EOF=warn", "error", "clean"],
                    self.table)


# --- the shapes (Runner.shapes) -----------------------------------------------
# What the first read at the end of the response and a second read give a
# program WITHOUT the library (TLS 1.3): return value, SSL_get_error, errno and
# the error queue as the program prints it, with the fatal alerts the peer got.
# Per shape, keyed by the first OpenSSL version a row holds for: the newest
# key not above the running version applies (a 3.1 runs the 3.0 rows, a 3.6
# the 3.2 ones), so that a release that changes a shape fails the bare test
# with the shape's name. Measured on 1.1.1w, 3.0.22 and 3.5.9.

SOCKET_BIO = "socket BIO"
OWN_BIO = "own BIO without BIO_eof"
OWN_BIO_EOF = "own BIO with BIO_eof"
READ_ERROR = "read error without errno"
OPENSSL3_EOF = "error:0A000126:SSL routines::unexpected eof while reading"


def _end(ret, error, queue=""):
    return {"ret": ret, "ssl_error": "SSL_ERROR_" + error, "errno": 0, "errors": queue}


# fn: (first call, second call, fatal alerts at the peer)
_SYSCALL_0 = {"read": (_end(0, "SYSCALL"), _end(0, "SYSCALL"), []),
              "read_ex": (_end(0, "SYSCALL"), _end(0, "SYSCALL"), [])}
_SYSCALL_MINUS_1 = {"read": (_end(-1, "SYSCALL"), _end(-1, "SYSCALL"), []),
                    "read_ex": (_end(0, "SYSCALL"), _end(0, "SYSCALL"), [])}
# OpenSSL 3 at a BIO that answers BIO_eof: SSL_R_UNEXPECTED_EOF_WHILE_READING,
# a fatal decode_error alert written, then the object's error state.
_OPENSSL3_EOF = {"read": (_end(0, "SSL", OPENSSL3_EOF), _end(-1, "SYSCALL"), [DECODE_ERROR]),
                 "read_ex": (_end(0, "SSL", OPENSSL3_EOF), _end(0, "SYSCALL"), [DECODE_ERROR])}

SHAPES = {
    # The peer's FIN through OpenSSL's socket BIO.
    SOCKET_BIO: {(1, 1): _SYSCALL_0, (3, 0): _OPENSSL3_EOF},
    # The FIN through the program's own BIO whose ctrl answers nothing:
    # 1.1.1's signal up to 3.1; from 3.2 on the rewritten record layer takes
    # a read that neither retries nor answers BIO_eof for a fatal one.
    OWN_BIO: {(1, 1): _SYSCALL_0, (3, 2): _SYSCALL_MINUS_1},
    # The FIN through the program's own BIO answering BIO_eof: as a socket.
    OWN_BIO_EOF: {(1, 1): _SYSCALL_0, (3, 0): _OPENSSL3_EOF},
    # The program's own BIO fails its reads (-1, no retry flag, errno 0)
    # after the response; the TCP connection stays open (peer --mode=normal).
    # The same everywhere, but from 3.2 on it is the OWN_BIO shape too.
    READ_ERROR: {(1, 1): _SYSCALL_MINUS_1},
}

# shape: (peer mode, the reader's arguments, policies run by Runner.shapes)
SHAPE_RUNS = {
    SOCKET_BIO: ("truncate", [], ()),
    OWN_BIO: ("truncate", ["--bio=custom"], ()),
    OWN_BIO_EOF: ("truncate", ["--bio=custom-eof"], POLICIES),
    READ_ERROR: ("normal", ["--bio=custom", f"--read-error-after={RESPONSE}"], POLICIES),
}


def shape_row(shape, version):
    """(since, row): the SHAPES row for the running version (major, minor,
    ...)."""
    return by_version(SHAPES[shape], version)


def shape_problems(shape, fn, since, name, out, peer, want):
    """The differences between a bare run and its SHAPES entry, each naming
    the shape."""
    first, again, fatal = want
    row = f"the row for OpenSSL >= {'.'.join(map(str, since))}"
    problems = []
    for call, got, exp in (("first call at the end", out.get("end", {}), first),
                           ("second call", out.get("again", {}), again)):
        for key in ("ret", "ssl_error", "errno", "errors"):
            if got.get(key) != exp[key]:
                problems.append(f"{shape} shape changed on {name}: {fn}, {call}: "
                                f"{key}={got.get(key)!r}, SHAPES has {exp[key]!r} ({row})")
    if fatal_alerts(peer) != fatal:
        problems.append(f"{shape} shape changed on {name}: {fn}: the peer got fatal alerts "
                        f"{fatal_alerts(peer)}, SHAPES has {fatal} ({row})")
    if out.get("bytes") != RESPONSE:
        problems.append(f"{shape}: read {out.get('bytes')} bytes before the end, "
                        f"expected {RESPONSE}")
    return problems


def not_an_end_problems(out, peer, events, bare_out, bare_peer):
    """A failure the library must leave alone: the program's whole output
    and the alerts the peer got as bare, no truncation counted or logged."""
    problems = []
    if out != bare_out:
        problems.append(f"the program saw {json.dumps(out)}, bare {json.dumps(bare_out)}")
    if peer.get("alerts") != bare_peer.get("alerts"):
        problems.append(f"peer alerts {peer.get('alerts')} differ from bare "
                        f"{bare_peer.get('alerts')}")
    truncations = [e for e in events if e.get("event") == "truncation"]
    if truncations:
        problems.append(f"a read error taken for a silent EOF: {truncations}")
    summaries = [e for e in events if e.get("event") == "summary"]
    if len(summaries) != 1 or summaries[0].get("truncations") != 0 or \
            summaries[0].get("connections") != 1:
        problems.append(f"expected one summary counting 1 connection and no truncation: "
                        f"{summaries}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openssl", choices=("3", "1.1.1"), required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--table")
    ap.add_argument("--python", help="unused: the receive side has no Python scenario")
    ap.add_argument("--python-env", action="append", default=[], help="unused")
    args = ap.parse_args()
    tap = Tap()
    runner = Runner(args)
    runner.silent_eof(tap)
    runner.fatal_close_notify(tap)
    runner.reply(tap)
    runner.levels(tap)
    runner.failing_sink(tap)
    runner.misspelled_policy(tap)
    runner.shapes(tap)
    if args.table:
        runner.write_table()
    runner.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
