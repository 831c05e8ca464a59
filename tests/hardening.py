#!/usr/bin/env python3
"""Fork, signal and EINTR hardening of tlsclose (issue "Hardening", items 3,
4 and the EINTR part of 5), printed as TAP.

Each program in tests/hardening/ runs under the library against the strict
peer (tests/peer), and each test asserts what the peer saw on the wire and
what the library logged (JSON, TLSCLOSE_LOG_LEVEL=info):

fork_handoff    a connection handed to a forked child (SPEC 4.1): the parent
                closes its copy without using it, then the child reads, writes
                "more\\n" and closes. The peer sees "more\\n" and one
                close_notify, sent by the child; the parent sent nothing.
                Bare, the peer sees no close_notify (so the test can fail).
spawn_children  vfork + close + _exit, vfork + exec, posix_spawn: the
                parent's later close sends exactly one close_notify; no other
                process logs anything.
fork_threads    forks while worker threads are inside SSL_connect, SSL_read,
                SSL_write, close, shutdown and SSL_free: no child hangs (each
                has a hang guard), no child sends anything, every close_notify
                on the wire is one the parent logged, none is doubled.
                With --signals also: handlers that close TLS descriptors of
                the interrupted thread, and signals interrupting the library's
                waits, all concurrently.
race_close_free close() in one thread, SSL_free of the same connection in
                another: SSL_free waits for the library's send on the object
                (stalled peer: SSL_free returns after close()), and 100
                concurrent pairs end with one close_notify each (ASan, TSan).
race_fd_reuse   SSL_free / exit while the send waits for room, and another
                thread closes the number and a socketpair takes it: not one
                byte reaches the socketpair.
fork_signal     a signal handler's dup / fcntl(F_DUPFD) / shutdown of a TLS
                descriptor during fork() (the table lock held by the atfork
                handler): no hang, 300 forks.
signal_close    close() from a signal handler: with the library idle
                (close_notify), while the thread holds the library's table
                lock (plain close, logged "interrupted", no deadlock), while
                the thread waits in close() for the peer's reply
                (TLSCLOSE_WAIT_MS; EINTR in the wait), and a signal
                interrupting the wait for a full send buffer (EINTR; timeout).

usage: hardening.py [--bin=DIR] [--threaded-only]
  --bin            where the programs are (default: the build tree's tests/hardening)
  --threaded-only  only the threaded programs: fork_threads with and without
                   signals, race_close_free, race_fd_reuse (make check-tsan)
Environment: TC_BUILDDIR, TLSCLOSE_PRELOAD or TLSCLOSE_LIBRARY (make check).
"""

import argparse
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Suite, TIMEOUT, Tap, clean_env, describe, run_with_peer  # noqa: E402

# Hang guards, not performance bars: an ASan build on a slow machine is
# several times slower. A single-connection program gets RUN_TIMEOUT, the
# threaded ones THREADED_TIMEOUT.
RUN_TIMEOUT = 60
THREADED_TIMEOUT = 300
PEER_MS = 30000        # the peer's bound per connection
STALL_PEER_MS = 3000   # --mode=stall: how long the peer watches a stalled connection
WAIT_MS = "1000"       # TLSCLOSE_WAIT_MS of the reply-wait case; the peer never replies
MISSED = 3             # signal_close: the watcher missed the wait; run again
ATTEMPTS = 3
SKIP = 77

CN_FIN = ("close_notify", "fin")


def clean_cn(v):
    """A close_notify alone, followed by a FIN, nothing after it."""
    return (v.get("verdict"), v.get("after")) == CN_FIN and v.get("extra") == 0 and \
        v.get("alerts") == ["warning:close notify"]


class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "hardening")
        self.bin = args.bin or os.path.join(self.build, "tests", "hardening")
        self.n = 0

    def run(self, argv, count, peer_args=(), env=None, shim=True, timeout=RUN_TIMEOUT,
            peer_ms=PEER_MS):
        """Runs the peer (count connections, served in parallel) and the
        program once. Returns a dict: rc, stdout, stderr, verdicts (by
        conn order), events, problems."""
        self.n += 1
        log = os.path.join(self.tmp, f"run{self.n}.log")
        penv = clean_env()
        if shim:
            penv.update(LD_PRELOAD=self.lib, TLSCLOSE_LOG=log, TLSCLOSE_LOG_LEVEL="info",
                        TLSCLOSE_LOG_FORMAT="json")
        penv.update(env or {})
        cmd = [self.peer, "server", "--parallel", f"--count={count}", f"--cert={self.cert}",
               f"--key={self.key}", f"--timeout={peer_ms}",
               f"--total-timeout={timeout * 1000}"] + list(peer_args)

        def program(port):
            return [os.path.join(self.bin, argv[0])] + list(argv[1:]) + [f"--port={port}"]
        res = run_with_peer(cmd, program, penv, timeout, TIMEOUT + peer_ms / 1000, log)
        p = res["proc"]
        res.update(rc=p.returncode if p else None, stdout=(p.stdout if p else "").strip(),
                   stderr=(p.stderr if p else "").strip())
        if res["peer_stderr"].strip():
            res["problems"].append(f"peer stderr: {res['peer_stderr'].strip()[:500]}")
        if res["bad"]:
            res["problems"].append(f"{len(res['bad'])} corrupted (non-JSON) peer lines: "
                                   f"{res['bad'][:3]}")
        res["verdicts"].sort(key=lambda v: v.get("conn", 0))
        if len(res["verdicts"]) != count:
            res["problems"].append(f"{len(res['verdicts'])} verdicts for {count} connections")
        if res["rc"] not in (0, SKIP, MISSED, None):
            res["problems"].append(f"exit status {res['rc']}: {res['stderr'][-500:]}")
        return res

    @staticmethod
    def ok_fields(res):
        """The key=value pairs of the program's ok line."""
        for line in res["stdout"].splitlines():
            if line.startswith("ok "):
                return dict(kv.split("=", 1) for kv in line[3:].split() if "=" in kv)
        return None

    @staticmethod
    def diag(res):
        return ([f"stdout: {res['stdout']}", f"stderr: {res['stderr'][-800:]}"] +
                res["problems"] +
                [f"verdict: {json.dumps(v)}" for v in res["verdicts"][:6]] +
                [f"event: {json.dumps(e)}" for e in res["events"][:20]])

    # --- fork -------------------------------------------------------------

    def fork_handoff(self, tap):
        name = "fork: a connection handed to the child, the parent's copy closed unused"
        res = self.run(["fork_handoff"], 1)
        f = self.ok_fields(res) or {}
        v = res["verdicts"][0] if res["verdicts"] else {}
        problems = list(res["problems"])
        if res["rc"] != 0 or not f:
            problems.append("the program did not succeed")
        if not (clean_cn(v) and v.get("app_in_after") == len("more\n")):
            problems.append(f"peer saw {describe(v)}, app_in_after {v.get('app_in_after')}: "
                            "expected the child's more, then one close_notify + fin")
        sent = [e for e in res["events"] if e.get("event") == "sent"]
        by_parent = [e for e in res["events"] if str(e.get("tlsclose")) == f.get("parent")
                     and e.get("event") not in ("summary",)]
        if len(sent) != 1 or str(sent[0].get("tlsclose")) != f.get("child") or \
                sent[0].get("trigger") != "close":
            problems.append(f"expected one sent event (trigger close) from the child: {sent}")
        if any(e.get("event") != "skipped" or e.get("reason") != "not owner" for e in by_parent):
            problems.append(f"the parent logged more than 'not owner' skips: {by_parent}")
        tap.result(not problems, f"{name}: the child's data, then its one close_notify",
                   problems + self.diag(res))

        res = self.run(["fork_handoff"], 1, shim=False)
        v = res["verdicts"][0] if res["verdicts"] else {}
        tap.result(res["rc"] == 0 and v.get("verdict") == "eof" and not res["problems"],
                   f"{name}, bare: no close_notify (the test above can fail)",
                   self.diag(res))

    def spawn_children(self, tap):
        name = "vfork and posix_spawn children do not disturb the parent"
        res = self.run(["spawn_children"], 1)
        f = self.ok_fields(res) or {}
        v = res["verdicts"][0] if res["verdicts"] else {}
        problems = list(res["problems"])
        if res["rc"] != 0 or not f:
            problems.append("the program did not succeed")
        if not clean_cn(v):
            problems.append(f"peer saw {describe(v)}: expected one close_notify + fin")
        others = [e for e in res["events"] if str(e.get("tlsclose")) != f.get("pid")]
        sent = [e for e in res["events"] if e.get("event") == "sent"]
        if others:
            problems.append(f"events from another process: {others}")
        if len(sent) != 1 or sent[0].get("trigger") != "close":
            problems.append(f"expected one sent event (trigger close): {sent}")
        tap.result(not problems, f"{name}: exactly one close_notify, from the parent's close",
                   problems + self.diag(res))

    def threaded(self, tap, signals):
        threads, conns, forks, idle = 4, 100, 100, 2
        count = threads * conns + idle
        argv = ["fork_threads", f"--threads={threads}", f"--connections={conns}",
                f"--forks={forks}", f"--idle={idle}"] + (["--signals"] if signals else [])
        what = (f"{threads} threads x {conns} connections, {forks} forks" +
                (", signals closing descriptors and interrupting waits" if signals else ""))
        res = self.run(argv, count, timeout=THREADED_TIMEOUT)
        f = self.ok_fields(res) or {}
        verdicts, events = res["verdicts"], res["events"]
        kinds = collections.Counter(describe(v) for v in verdicts)
        print(f"# {what}: {res['stdout']}; verdicts {dict(kinds)}")

        problems = list(res["problems"])
        if res["rc"] != 0 or not f:
            problems.append("the program did not finish with its ok line")
        tap.result(not problems, f"{what}: no deadlock, every child exits 0, the program "
                   "finishes", problems + self.diag(res))

        parent = f.get("pid")
        sent = [e for e in events if e.get("event") == "sent"]
        child_sent = [e for e in sent if str(e.get("tlsclose")) != parent]
        bad = [v for v in verdicts if not clean_cn(v) and v.get("verdict") != "eof"]
        notified = sum(1 for v in verdicts if clean_cn(v))
        problems = []
        if child_sent:
            problems.append(f"{len(child_sent)} sent events from children: {child_sent[:3]}")
        if bad:
            problems.append(f"{len(bad)} verdicts neither a clean close_notify nor eof "
                            f"(doubled, corrupted?): {bad[:3]}")
        if notified != len(sent):
            problems.append(f"{notified} close_notify on the wire, {len(sent)} sent events")
        tap.result(not problems and len(verdicts) == count,
                   f"{what}: the children send nothing; every close_notify is the parent's, "
                   "alone, then a FIN", problems + [f"verdicts {dict(kinds)}"])

        idle_v = [v for v in verdicts if v.get("app_in_after") == len("after fork\n")]
        tap.result(len(idle_v) == idle and all(clean_cn(v) for v in idle_v),
                   f"{what}: connections idle across the forks and used again: close_notify",
                   [json.dumps(v) for v in idle_v])

        warn = collections.Counter((e.get("event"), e.get("reason")) for e in events
                                   if e.get("level") in ("warn", "error"))
        interrupted = warn.pop(("skipped", "interrupted"), 0)
        reused = warn.pop(("skipped", "fd reused"), 0) if signals else 0
        not_owner = sum(1 for e in events if str(e.get("tlsclose")) == parent and
                        e.get("reason") == "not owner")
        eof = sum(1 for v in verdicts if v.get("verdict") == "eof")
        problems = []
        if warn:
            problems.append(f"unexpected warn-level events: {dict(warn)}")
        if reused > interrupted:
            problems.append(f"{reused} 'fd reused' for {interrupted} interrupted closes")
        if eof > interrupted + not_owner:
            problems.append(f"{eof} connections without close_notify, explained by only "
                            f"{interrupted} interrupted closes and {not_owner} parent "
                            "'not owner' skips (a fork between the last I/O and the end)")
        if signals and f and int(f.get("parked", 0)) == 0:
            problems.append("no descriptor was closed from a signal handler")
        tap.result(not problems, f"{what}: every missing close_notify is logged "
                   f"(interrupted {interrupted}, parent not owner {not_owner}, eof {eof})",
                   problems)


    # --- threads racing on one connection ---------------------------------

    def retried(self, argv, count, ok_key, **kw):
        """Runs argv again (up to ATTEMPTS) while the race it stages was
        missed: exit 3, or the ok line's ok_key not 1."""
        for _ in range(ATTEMPTS):
            res = self.run(argv, count, **kw)
            f = self.ok_fields(res) or {}
            if res["rc"] != MISSED and f.get(ok_key) == "1":
                break
        return res

    def race_close_free(self, tap):
        name = "close() in one thread while another SSL_frees the object"
        res = self.retried(["race_close_free", "stalled"], 1, "seen_waiting",
                           peer_args=["--mode=stall"], peer_ms=STALL_PEER_MS)
        f = self.ok_fields(res) or {}
        v = res["verdicts"][0] if res["verdicts"] else {}
        problems = list(res["problems"])
        if res["rc"] != 0 or f.get("seen_waiting") != "1" or f.get("close") != "0":
            problems.append("the program did not stage the race (close waiting) or failed")
        if f.get("close_first") != "1":
            problems.append("SSL_free returned while the library still used the object in "
                            "close() (use after free)")
        if v.get("verdict") != "stalled":
            problems.append(f"peer saw {describe(v)}, expected stalled (no TLS byte taken)")
        final = [(e.get("event"), e.get("reason")) for e in res["events"]
                 if e.get("event") in ("sent", "skipped")]
        if final != [("skipped", "timeout")]:
            problems.append(f"expected one skipped event, reason timeout: {final}")
        tap.result(not problems, f"{name}, the send waiting for room: SSL_free waits for it "
                   "(bounded), then frees", problems + self.diag(res))

        n = 100
        res = self.run(["race_close_free", "race", f"--connections={n}"], n,
                       timeout=THREADED_TIMEOUT)
        problems = list(res["problems"])
        if res["rc"] != 0:
            problems.append("the program crashed or failed")
        bad = [v for v in res["verdicts"] if not clean_cn(v)]
        sent = [e for e in res["events"] if e.get("event") == "sent"]
        if bad:
            problems.append(f"{len(bad)} connections without exactly one close_notify: {bad[:3]}")
        if len(sent) != n or any(e.get("trigger") not in ("close", "free") for e in sent):
            problems.append(f"{len(sent)} sent events (trigger close or free) for {n}")
        tap.result(not problems, f"{name}: {n} pairs started together, one close_notify each, "
                   "no crash", problems + [f"verdicts {collections.Counter(describe(v) for v in res['verdicts'])}"])

        res = self.run(["race_close_free", "race", "--connections=20"], 20, shim=False,
                       timeout=THREADED_TIMEOUT)
        tap.result(res["rc"] == 0 and not res["problems"] and
                   all(v.get("verdict") == "eof" for v in res["verdicts"]),
                   f"{name}, bare: race-free, no close_notify (the tests above can fail)",
                   self.diag(res))

    def race_fd_reuse(self, tap):
        for mode, trigger in (("free", "SSL_free"), ("exit", "exit")):
            name = (f"{trigger} waiting for room while another thread closes the number and "
                    "a socketpair takes it")
            res = self.retried(["race_fd_reuse", mode], 1, "seen_waiting",
                               peer_args=["--mode=stall"], peer_ms=STALL_PEER_MS)
            f = self.ok_fields(res) or {}
            v = res["verdicts"][0] if res["verdicts"] else {}
            problems = list(res["problems"])
            if res["rc"] != 0 or f.get("seen_waiting") != "1" or f.get("swapped") != "1":
                problems.append("the program did not stage the race or failed")
            if f.get("plain_bytes") != "0":
                problems.append(f"{f.get('plain_bytes')} bytes of the alert reached the "
                                "socketpair that reused the number")
            if v.get("verdict") != "stalled":
                problems.append(f"peer saw {describe(v)}, expected stalled")
            final = [(e.get("event"), e.get("reason"), e.get("peer")) for e in res["events"]
                     if e.get("event") in ("sent", "skipped")]
            if len(final) != 1 or final[0][:2] != ("skipped", "timeout") or \
                    not str(final[0][2]).startswith("127.0.0.1:"):
                problems.append(f"expected one skipped event, reason timeout, naming the "
                                f"TLS peer: {final}")
            tap.result(not problems, f"{name}: no byte in the socketpair, the send gives up "
                       "on the connection's own socket", problems + self.diag(res))

            res = self.run(["race_fd_reuse", mode], 1, shim=False,
                           peer_args=["--mode=stall"], peer_ms=STALL_PEER_MS)
            f = self.ok_fields(res) or {}
            tap.result(f.get("plain_bytes") == "0" and res["rc"] in (0, MISSED),
                       f"{name}, bare: nothing in the socketpair", self.diag(res))

    def fork_signal(self, tap):
        for variant, call in (("dup", "dup"), ("fcntl", "fcntl(F_DUPFD)"),
                              ("shutdown", "shutdown(SHUT_RDWR)")):
            name = f"a signal handler's {call} on a TLS descriptor during fork()"
            res = self.run(["fork_signal", f"--variant={variant}"], 1)
            f = self.ok_fields(res) or {}
            v = res["verdicts"][0] if res["verdicts"] else {}
            problems = list(res["problems"])
            if res["rc"] != 0 or f.get("forks") != "300":
                problems.append("the program did not finish its 300 forks (hung on the "
                                "library's table lock?)")
            warn = collections.Counter((e.get("event"), e.get("reason")) for e in res["events"]
                                       if e.get("level") in ("warn", "error"))
            warn.pop(("skipped", "interrupted"), None)
            if variant == "shutdown":
                # The connection was alive at the forks and not used since:
                # the parent does not own it any more (SPEC 4.1).
                if v.get("verdict") != "eof":
                    problems.append(f"peer saw {describe(v)}, expected eof (not owner)")
            else:
                if not (clean_cn(v) and v.get("app_in_after") == len("after fork\n")):
                    problems.append(f"peer saw {describe(v)}: expected 'after fork', then "
                                    "one close_notify + fin")
                if warn:
                    problems.append(f"unexpected warn-level events: {dict(warn)}")
            tap.result(not problems, f"{name}: no hang, every fork returns", 
                       problems + self.diag(res)[:8])

    # --- signals ----------------------------------------------------------

    def signal_run(self, mode, count, **kw):
        """signal_close MODE, again when its watcher missed the wait."""
        for _ in range(ATTEMPTS):
            res = self.run(["signal_close", mode], count, **kw)
            if res["rc"] != MISSED:
                break
        return res

    def event_for(self, res, fd, event=None):
        return [e for e in res["events"] if e.get("fd") == fd and
                (event is None or e.get("event") == event)]

    def signal_handler(self, tap):
        name = "close() from a signal handler, the library idle"
        res = self.signal_run("handler", 1)
        f = self.ok_fields(res) or {}
        v = res["verdicts"][0] if res["verdicts"] else {}
        problems = list(res["problems"])
        if res["rc"] != 0 or f.get("handler_close") != "0":
            problems.append("the program or the handler's close failed")
        if not clean_cn(v):
            problems.append(f"peer saw {describe(v)}: expected close_notify + fin")
        if [e.get("trigger") for e in res["events"] if e.get("event") == "sent"] != ["close"]:
            problems.append("expected one sent event, trigger close")
        tap.result(not problems, f"{name}: close_notify", problems + self.diag(res))

    def signal_locked(self, tap):
        name = "close() from a signal handler while the thread holds the library's lock"
        res = self.signal_run("locked", 2)
        if res["rc"] == SKIP:
            tap.skip(name, res["stderr"].splitlines()[-1] if res["stderr"] else "cannot run")
            return
        f = self.ok_fields(res) or {}
        verdicts = res["verdicts"]
        problems = list(res["problems"])
        if res["rc"] != 0 or not f:
            problems.append("the program did not finish (deadlock?) or a close failed")
        b_fd = int(f.get("b_fd", -2))
        if len(verdicts) == 2:
            if not clean_cn(verdicts[0]):
                problems.append(f"A: {describe(verdicts[0])}, expected close_notify + fin")
            if verdicts[1].get("verdict") != "eof":
                problems.append(f"B: {describe(verdicts[1])}, expected a plain close (eof)")
        logged = [e for e in self.event_for(res, b_fd, "skipped")
                  if e.get("reason") == "interrupted" and e.get("level") == "warn"]
        if len(logged) != 1:
            problems.append(f"expected one warn 'skipped' reason 'interrupted' for fd {b_fd}")
        if self.event_for(res, b_fd, "sent"):
            problems.append(f"a sent event for fd {b_fd}")
        tap.result(not problems, f"{name}: no deadlock, B closed plainly and logged, "
                   "A's close_notify later", problems + self.diag(res))

    def signal_reply_wait(self, tap):
        name = ("signal during close()'s wait for the peer's reply (TLSCLOSE_WAIT_MS), "
                "its handler closing another TLS descriptor")
        res = self.signal_run("reply-wait", 2, env={"TLSCLOSE_WAIT_MS": WAIT_MS})
        f = self.ok_fields(res) or {}
        verdicts = res["verdicts"]
        problems = list(res["problems"])
        if res["rc"] != 0 or not f:
            problems.append("the program did not finish, or the signal never hit the wait")
        if f.get("close") != "0" or f.get("errno_kept") != "1":
            problems.append("close() did not return 0 with the program's errno kept")
        b_fd = int(f.get("b_fd", -2))
        if len(verdicts) == 2:
            for which, v in zip("AB", verdicts):
                if not clean_cn(v):
                    problems.append(f"{which}: {describe(v)}, expected close_notify + fin")
        sent = [e for e in res["events"] if e.get("event") == "sent"]
        if sorted(e.get("fd") == b_fd for e in sent) != [False, True] or \
                any(e.get("detail") for e in sent):
            problems.append(f"expected one sent event for each, unanswered: {sent}")
        warn = [e for e in res["events"] if e.get("level") == "warn"]
        if warn:
            problems.append(f"warn events: {warn}")
        tap.result(not problems, f"{name}: EINTR absorbed, B's close_notify from the handler "
                   "(the thread slept in poll), then A's, errno kept", problems + self.diag(res))

    def signal_pollout(self, tap):
        name = "signal during close()'s wait for a full send buffer (EINTR)"
        res = self.signal_run("pollout", 1, peer_args=["--mode=stall"], peer_ms=STALL_PEER_MS)
        f = self.ok_fields(res) or {}
        v = res["verdicts"][0] if res["verdicts"] else {}
        problems = list(res["problems"])
        if res["rc"] != 0 or f.get("close") != "0" or f.get("errno_kept") != "1":
            problems.append("close() did not return 0 with the program's errno kept")
        if v.get("verdict") != "stalled":
            problems.append(f"peer saw {describe(v)}, expected stalled (no TLS byte taken)")
        reasons = [e.get("reason") for e in res["events"] if e.get("event") == "skipped"]
        if reasons != ["timeout"] or [e for e in res["events"] if e.get("event") == "sent"]:
            problems.append(f"expected one skipped event, reason timeout: {reasons}")
        tap.result(not problems, f"{name}: the wait is resumed, gives up within its bound "
                   "(logged), errno kept", problems + self.diag(res))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", help="directory of the built programs")
    ap.add_argument("--threaded-only", action="store_true")
    args = ap.parse_args()
    tap = Tap()
    r = Runner(args)
    if not args.threaded_only:
        r.fork_handoff(tap)
        r.spawn_children(tap)
    r.threaded(tap, signals=False)
    r.race_close_free(tap)
    r.race_fd_reuse(tap)
    if not args.threaded_only:
        r.fork_signal(tap)
        r.signal_handler(tap)
        r.signal_locked(tap)
        r.signal_reply_wait(tap)
        r.signal_pollout(tap)
    r.threaded(tap, signals=True)
    r.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
