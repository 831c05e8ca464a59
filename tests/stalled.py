#!/usr/bin/env python3
"""The library's close_notify against a send buffer that cannot take it, and
a program that goes on using the SSL object afterwards; printed as TAP.

The sample stalled_alert (tests/samples/stalled_alert.c) fills its send
buffer while the strict peer reads nothing (peer --mode=hold), so that the
socket takes no byte more ("none") or exactly 10 bytes more ("partial":
fewer than any alert record). Then either the program calls
shutdown(SHUT_WR) (the library sends close_notify first: trigger shutdown),
or the peer sends its close_notify (TLSCLOSE_REPLY answers it inside
SSL_read: trigger reply; TLS 1.2 with the default auto, TLS 1.3 with on). The
program goes on using the object (SSL_write, SSL_shutdown, SSL_read; for
reply, its own SSL_shutdown retried until the peer reads), and the peer,
told to read again, reports everything that reached it. "filter" puts a
BIO_f_null in front of the socket BIO, so that the library writes through
OpenSSL itself rather than through the library's own BIO. Every combination runs
bare and under the library, in TLS 1.2 and 1.3.

The expectations are the correct behaviour: nothing on the wire that no
TLS stack would write (a record cut short), no close_notify lost that the
program itself would have sent, the program seeing what it sees without
the library when the library could not answer for it. A check that fails with the library
can be marked a known bug (none is today) and then runs only with
--known-bugs (or TC_KNOWN_BUGS=1 in the environment); the times measured in
the program (shutdown(), SSL_read with the reply) are printed as TAP
comments, never judged.

usage: stalled.py --openssl=3|1.1.1 --samples=DIR [--known-bugs]
Environment: TC_BUILDDIR, TLSCLOSE_LIBRARY (from make check).
"""

import argparse
import json
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Suite, TIMEOUT, Tap, clean_env, preload_env, read_events,  # noqa: E402
                     read_line)

PEER_TIMEOUT_MS = 10000
ROOM = 10  # the sample's "partial" state
EXIT_CANNOT = 77  # the sample could not put the send buffer in the state
SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE, SSL_ERROR_ZERO_RETURN = 2, 3, 6

# trigger, state, filter, known_bug (a check the library fails, skipped
# unless --known-bugs; none today). The library's BIO path used to have OpenSSL
# write the whole record into memory, so OpenSSL counted close_notify as
# sent, and then sent what the socket took: with "partial" 10 bytes of the
# record stayed on the wire (the peer saw a record cut short); with a reply,
# the program's own SSL_shutdown then returned 1 at once and nothing ever
# sent the alert; every reply waited the 200 ms bound inside SSL_read. Now
# the record is made only for a socket that polls writable, and a reply
# does not wait (shim/closing.c). OpenSSL's own write path (filter) keeps
# what it could not write and flushes it at the program's SSL_shutdown.
CASES = [
    ("shutdown", "none", False, False),
    ("shutdown", "none", True, False),
    ("shutdown", "partial", False, False),
    ("shutdown", "partial", True, False),
    ("reply", "none", False, False),
    ("reply", "none", True, False),
    ("reply", "partial", False, False),
    ("reply", "partial", True, False),
]


def fields(line):
    """'word k=v k=v' -> {k: v} (ints where they are ints)."""
    out = {}
    for part in line.split()[1:]:
        k, _, v = part.partition("=")
        try:
            out[k] = int(v)
        except ValueError:
            out[k] = v
    return out


class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "stalled")
        self.sample = os.path.join(args.samples, "stalled_alert")
        self.known_bugs = args.known_bugs or os.environ.get("TC_KNOWN_BUGS") == "1"

    def run_one(self, variant, tls, env_extra, shim):
        """Runs the sample against peer --mode=hold, driving both through
        their lines. Returns (lines of the sample by first word, its exit
        status and stderr, the peer's verdict, the library's events)."""
        log = os.path.join(self.tmp, f"log-{len(os.listdir(self.tmp))}")
        env = preload_env(self.lib if shim else None, log, extra=env_extra)
        peer = subprocess.Popen(
            [self.peer, "server", f"--tls{tls}", f"--cert={self.cert}", f"--key={self.key}",
             "--mode=hold", f"--timeout={PEER_TIMEOUT_MS}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=clean_env())
        prog = None
        lines = {}
        try:
            port = read_line(peer, "peer")["port"]
            prog = subprocess.Popen([self.sample, f"--port={port}", f"--variant={variant}"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    env=env)
            deadline = time.monotonic() + TIMEOUT
            while True:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([prog.stdout], [], [], max(left, 0))
                if not ready:
                    raise RuntimeError(f"stalled_alert: no line within {TIMEOUT}s: {lines}")
                line = prog.stdout.readline()
                if not line:
                    break
                word = line.split()[0]
                lines[word] = fields(line)
                if word == "filled" and variant.startswith("reply,"):
                    peer.stdin.write("close\n")  # the peer's close_notify, buffer full
                    peer.stdin.flush()
                elif word == "used":
                    peer.stdin.write("read\n")  # the peer reads everything again
                    peer.stdin.flush()
            prog.wait(timeout=TIMEOUT)
            peer.stdin.close()
            verdict = read_line(peer, "peer verdict")
            peer.wait(timeout=TIMEOUT)
        finally:
            for p in (prog, peer):
                if p and p.poll() is None:
                    p.kill()
                    p.wait()
        return lines, prog.returncode, prog.stderr.read(), verdict, read_events(log)

    def check_run(self, trigger, tls, shim, lines, status, stderr, verdict, events):
        """Problems with one run: the checks that hold for the correct
        behaviour (bare, and the library where it has no bug)."""
        p = []
        want_version = "OpenSSL 1.1.1" if self.args.openssl == "1.1.1" else "OpenSSL 3."
        if status != 0 or "ok" not in lines:
            p.append(f"sample exit status {status}, lines {lines}")
            return p
        if want_version not in stderr:
            p.append(f"sample did not report {want_version}")
        filled, used, ok = lines["filled"], lines["used"], lines["ok"]
        # The wire: every byte the program wrote arrived, then the end that
        # the program (or the library for it) made, and nothing cut short.
        if verdict.get("app_in_after") != filled.get("plain_out"):
            p.append(f"peer app_in_after={verdict.get('app_in_after')}, "
                     f"program wrote {filled.get('plain_out')}")
        if verdict.get("partial_record"):
            p.append(f"the stream ended inside a record: {verdict['partial_record']} bytes of "
                     "an alert record that no TLS stack would leave cut short")
        if trigger == "shutdown":
            if verdict.get("verdict") != "eof" or verdict.get("alerts") != []:
                p.append(f"peer verdict {verdict.get('verdict')} alerts {verdict.get('alerts')}, "
                         "expected eof without alerts (no close_notify could go out)")
            trig = lines.get("trigger", {})
            if trig.get("shutdown") != 0 or trig.get("errno") != 0:
                p.append(f"shutdown() returned {trig}")
            if used.get("write") != -1:
                p.append(f"SSL_write after shutdown(SHUT_WR) returned {used.get('write')}")
            if used.get("read") != -1 or used.get("read_err") != SSL_ERROR_WANT_READ:
                p.append(f"SSL_read: {used.get('read')} error {used.get('read_err')}, "
                         "expected -1 WANT_READ (nothing sent)")
            if shim and not any(e.get("event") == "skipped" and e.get("reason") == "timeout"
                                for e in events):
                p.append(f"no skipped/timeout event: {events}")
        else:
            if (verdict.get("verdict"), verdict.get("after"), verdict.get("extra")) != \
                    ("close_notify", "fin", 0):
                p.append(f"peer verdict {verdict.get('verdict')} after {verdict.get('after')} "
                         f"extra {verdict.get('extra')}, expected close_notify + fin: the "
                         "program answers the peer's close_notify itself")
            if used.get("read") != 0 or used.get("read_err") != SSL_ERROR_ZERO_RETURN:
                p.append(f"SSL_read: {used.get('read')} error {used.get('read_err')}, "
                         "expected 0 ZERO_RETURN")
            # The library could not answer: the program's own first
            # SSL_shutdown must meet the full buffer as it does bare, and
            # must not be told a close_notify went out that did not.
            if used.get("get_shutdown") != 2:
                p.append(f"SSL_get_shutdown={used.get('get_shutdown')} after the read, "
                         "expected 2 (RECEIVED only: nothing was sent)")
            if (used.get("shutdown1"), used.get("shutdown1_err")) != (-1, SSL_ERROR_WANT_WRITE):
                p.append(f"first SSL_shutdown {used.get('shutdown1')} error "
                         f"{used.get('shutdown1_err')}, expected -1 WANT_WRITE (buffer full)")
            if ok.get("shutdown_final") != 1:
                p.append(f"SSL_shutdown finally returned {ok.get('shutdown_final')}")
        return p

    def run(self, tap):
        for trigger, state, filt, known_bug in CASES:
            variant = f"{trigger},{state}" + (",filter" if filt else "")
            for tls in ("1.2", "1.3"):
                env = {"TLSCLOSE_REPLY": "on"} if trigger == "reply" and tls == "1.3" else {}
                for shim in (False, True):
                    label = (f"{trigger}, buffer taking {ROOM if state == 'partial' else 0} "
                             f"bytes, {'OpenSSL write (filter BIO)' if filt else 'the library BIO'}"
                             f" [TLS {tls}{', reply=on' if env else ''}, "
                             f"{'shim' if shim else 'bare'}]")
                    bug = shim and known_bug
                    if bug and not self.known_bugs:
                        tap.skip(label, "known bug of the library (run with --known-bugs)")
                        continue
                    try:
                        lines, status, stderr, verdict, events = self.run_one(
                            variant, tls, env, shim)
                        if status == EXIT_CANNOT:
                            tap.skip(label, stderr.strip().splitlines()[-1])
                            continue
                        problems = self.check_run(trigger, tls, shim, lines, status, stderr,
                                                  verdict, events)
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError,
                            IndexError) as e:
                        lines, verdict, events = {}, {}, []
                        problems = [f"{type(e).__name__}: {e}"]
                    if problems:
                        problems += [f"program: {lines}", f"peer: {json.dumps(verdict)}"]
                    tap.result(not problems, label + (" (known bug)" if bug else ""), problems)
                    self.measured(lines, verdict)
                    if trigger == "reply" and shim:
                        self.no_stall(tap, label, events)
        self.control_tls13_auto(tap)

    def measured(self, lines, verdict):
        """What the program measured and the peer saw, as TAP comments."""
        used, trig = lines.get("used", {}), lines.get("trigger", {})
        got = {k: v for k, v in {**trig, **used}.items()
               if k.endswith("_ms") or k in ("write", "write_err", "write_errno", "write_reason",
                                             "get_shutdown", "ssl_shutdown", "ssl_shutdown_err",
                                             "shutdown1", "shutdown1_err", "unsent_delta")}
        print(f"#   measured: {' '.join(f'{k}={v}' for k, v in got.items())}; peer "
              f"{verdict.get('verdict')} after={verdict.get('after')} "
              f"partial_record={verdict.get('partial_record', 0)}")
        sys.stdout.flush()

    def no_stall(self, tap, label, events):
        """Problem 2: an answer that cannot go out at once must not hold the
        program's non-blocking SSL_read. Judged from the log, not the clock:
        the library waited when it reports the reply skipped for timeout."""
        name = label + ": the reply does not wait inside SSL_read"
        waited = [e for e in events if e.get("event") == "skipped" and
                  e.get("reason") == "timeout"]
        tap.result(not waited, name, [f"the library waited for the send buffer: {waited}"])

    def control_tls13_auto(self, tap):
        """TLS 1.3 with TLSCLOSE_REPLY=auto: no answer is due, the program's
        own SSL_shutdown meets the full buffer exactly as bare."""
        for filt in (False, True):
            variant = "reply,none" + (",filter" if filt else "")
            label = (f"control: reply not due (TLS 1.3, auto), "
                     f"{'OpenSSL write (filter BIO)' if filt else 'the library BIO'} [shim]")
            try:
                lines, status, stderr, verdict, events = self.run_one(variant, "1.3", {}, True)
                if status == EXIT_CANNOT:
                    tap.skip(label, stderr.strip().splitlines()[-1])
                    continue
                problems = self.check_run("reply", "1.3", True, lines, status, stderr,
                                          verdict, events)
                if not any(e.get("event") == "peer_close_notify" and e.get("reply") == "not due"
                           for e in events):
                    problems.append(f"no peer_close_notify 'not due' event: {events}")
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError,
                    IndexError) as e:
                lines, verdict, problems = {}, {}, [f"{type(e).__name__}: {e}"]
            tap.result(not problems, label, problems)
            self.measured(lines, verdict)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openssl", choices=("3", "1.1.1"), required=True)
    ap.add_argument("--samples", required=True)
    ap.add_argument("--known-bugs", action="store_true",
                    help="also run the checks the library of today fails")
    # Passed by tests/suite to every runner; nothing here uses them.
    ap.add_argument("--table")
    ap.add_argument("--python")
    ap.add_argument("--python-env", action="append", default=[])
    args = ap.parse_args()
    tap = Tap()
    runner = Runner(args)
    runner.run(tap)
    runner.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
