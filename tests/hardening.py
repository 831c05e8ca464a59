#!/usr/bin/env python3
"""Fork, signal and EINTR hardening of tlsclose (issue "Hardening", items 3,
4 and the EINTR part of 5), printed as TAP.

Each program in tests/hardening/ runs under the library against the strict
peer (tests/peer), and each test asserts what the peer saw on the wire and
what the library logged (JSON, TLSCLOSE_LOG_LEVEL=info):

fork_handoff    a connection handed to a forked child (tlsclose(7), Ownership
                across fork): the parent closes its copy without using it,
                then the child reads, writes
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
syslog_signal   close() from a signal handler that interrupted the program's
                own syslog() (TLSCLOSE_LOG=syslog): the library logs from the
                handler without glibc's syslog lock, so no hang; the peer sees
                close_notify. /dev/log is a socket of the test's in a private
                mount namespace (needs root and unshare, else SKIP), a
                datagram socket and a stream socket in turn.

usage: hardening.py [--bin=DIR] [--threaded-only]
  --bin            where the programs are (default: the build tree's tests/hardening)
  --threaded-only  only the threaded programs: fork_threads with and without
                   signals, race_close_free, race_fd_reuse, fork_signal
                   (make check-tsan)
Environment: TC_BUILDDIR, TC_TEST_PRELOAD or TLSCLOSE_LIBRARY (make check).
"""

import argparse
import collections
import json
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Suite, TIMEOUT, Tap, describe, event_pid,  # noqa: E402
                     final_event_problems, parse_event, preload_env, run_with_peer)

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

# Runs "$@" with /dev/log a symbolic link to $1 and LD_PRELOAD=$2, in a
# private mount namespace (tmpfs on /dev): the library's syslog lines reach
# the test, never the machine's syslog daemon.
PRIVATE_DEVLOG = ('mount -t tmpfs tmpfs /dev && ln -s "$1" /dev/log && LD_PRELOAD="$2" && '
                  'export LD_PRELOAD && shift 2 && exec "$@"')


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
            peer_ms=PEER_MS, devlog=None):
        """Runs the peer (count connections, served in parallel) and the
        program once; with devlog (a socket path), in a private mount
        namespace where /dev/log names it. Returns a dict: rc, stdout,
        stderr, verdicts (by conn order), events, problems."""
        self.n += 1
        log = os.path.join(self.tmp, f"run{self.n}.log")
        penv = preload_env(self.lib if shim else None, log, "info", env)
        # Preloaded into the program only, not into unshare and sh.
        preload = penv.pop("LD_PRELOAD", "") if devlog else None
        cmd = [self.peer, "server", "--parallel", f"--count={count}", f"--cert={self.cert}",
               f"--key={self.key}", f"--timeout={peer_ms}",
               f"--total-timeout={timeout * 1000}"] + list(peer_args)

        def program(port):
            prog = [os.path.join(self.bin, argv[0])] + list(argv[1:]) + [f"--port={port}"]
            if devlog:
                prog = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                        PRIVATE_DEVLOG, "sh", devlog, preload] + prog
            return prog
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
            killed = " (killed by SIGALRM: its hang guard)" if res["rc"] == -14 else ""
            res["problems"].append(f"exit status {res['rc']}{killed}: {res['stderr'][-500:]}")
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
        by_parent = [e for e in res["events"] if str(e.get("pid")) == f.get("parent")
                     and e.get("event") not in ("summary",)]
        if len(sent) != 1 or str(sent[0].get("pid")) != f.get("child") or \
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
        # The programs the children exec are programs of their own: each
        # says at exit that it made no TLS connection, and nothing else.
        others = [e for e in res["events"] if str(e.get("pid")) != f.get("pid") and
                  not (e.get("event") == "summary" and e.get("connections") == 0)]
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
        # At debug level every final event is logged (the program's own
        # close_notify too): one per connection in each process.
        res = self.run(argv, count, timeout=THREADED_TIMEOUT, env={"TLSCLOSE_LOG_LEVEL": "debug"})
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
        child_sent = [e for e in sent if str(e.get("pid")) != parent]
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
        not_owner = sum(1 for e in events if str(e.get("pid")) == parent and
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

        pids = {event_pid(e) for e in events}
        problems = final_event_problems(events)
        tap.result(not problems, f"{what}: in each of {len(pids)} processes one final event "
                   "per connection, and a summary that adds up", problems[:10])


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
            warn.pop(("untracked", "interrupted"), None)
            if variant == "shutdown":
                # The connection was alive at the forks and not used since:
                # the parent does not own it any more (tlsclose(7),
                # Ownership across fork).
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
        # The handler's copy of A's descriptor cannot be tracked: said, and
        # not taken for an end of A (A's one final event is its sent).
        copy_fd = int(f.get("a_copy", -2))
        untracked = [e for e in self.event_for(res, copy_fd, "untracked")
                     if e.get("reason") == "interrupted" and e.get("level") == "warn"]
        if len(untracked) != 1:
            problems.append(f"expected one warn 'untracked' event for the copy fd {copy_fd}")
        finals = [(e.get("event"), e.get("reason") or e.get("trigger"))
                  for e in res["events"] if e.get("event") in ("sent", "skipped")]
        if sorted(finals) != [("sent", "close"), ("skipped", "interrupted")]:
            problems.append(f"expected one final event each, A sent, B interrupted: {finals}")
        tap.result(not problems, f"{name}: no deadlock, B closed plainly and logged, "
                   "the handler's copy of A said untracked, A's close_notify later",
                   problems + self.diag(res))

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

    # --- syslog -----------------------------------------------------------

    def syslog_signal(self, tap, kind):
        name = (f"close() from a signal handler that interrupted the program's syslog() "
                f"(TLSCLOSE_LOG=syslog, /dev/log a {kind} socket)")
        why = devlog_unavailable()
        if why:
            tap.skip(f"{name}: no hang, close_notify", why)
            tap.skip(f"{name}: the library's lines", why)
            return
        path = os.path.join(self.tmp, f"devlog-{kind}")
        with DevLog(path, kind) as devlog:
            res = self.run(["syslog_signal"], 1, devlog=path,
                           env={"TLSCLOSE_LOG": "syslog", "TLSCLOSE_LOG_LEVEL": "info",
                                "TLSCLOSE_LOG_FORMAT": "json"})
        f = self.ok_fields(res) or {}
        v = res["verdicts"][0] if res["verdicts"] else {}
        problems = list(res["problems"])
        if res["rc"] != 0 or f.get("handler_close") != "0":
            problems.append("the program did not finish (hang?) or the handler's close failed")
        if not clean_cn(v):
            problems.append(f"peer saw {describe(v)}: expected close_notify + fin")
        tap.result(not problems, f"{name}: no hang, close_notify from the handler's close",
                   problems + self.diag(res))

        # The library's lines: "<14>syslog_signal[PID]: {JSON}", one per
        # datagram or connection, the pid the same in the tag and the JSON.
        pid = f.get("pid")
        ours, mine, bad = [], 0, []
        for m in devlog.messages:
            lines = m.split("\0")
            if lines[-1] == "" and kind == "stream":
                lines.pop()
            got = re.fullmatch(r"<(\d+)>syslog_signal\[(\d+)\]: (\{.*\})", m.rstrip("\0"))
            if got and len(lines) == 1:
                e = parse_event(got.group(3))
                ours.append((int(got.group(1)), got.group(2), e))
            elif all("syslog_signal: round " in line for line in lines):
                mine += len(lines)  # the program's own
            else:
                bad.append(m[:300])
        problems = [f"{len(bad)} messages neither the library's nor the program's: {bad[:3]}"
                    ] if bad else []
        if not f:
            problems.append("the program did not finish: its lines are not all there")
        if mine == 0:
            problems.append("none of the program's own syslog lines arrived (not our /dev/log?)")
        for pri, tag_pid, e in ours:
            if tag_pid != pid or str(e.get("pid")) != pid or pri != 14 or \
                    e.get("level") != "info":
                problems.append(f"line not <14>syslog_signal[{pid}] at info: {pri} {tag_pid} {e}")
        names = [e.get("event") for _, _, e in ours]
        sent = [e for _, _, e in ours if e.get("event") == "sent"]
        if kind == "stream":
            # A connection of its own for each line: none is lost.
            if sorted(names) != ["sent", "summary"]:
                problems.append(f"expected the sent and summary lines, got {names}")
            if [(e.get("trigger"), str(e.get("fd"))) for e in sent] != [("close", f.get("fd"))]:
                problems.append(f"expected sent trigger close fd {f.get('fd')}: {sent}")
            what = "the handler's sent line and the summary arrive, one connection each"
        else:
            # Never blocking: a datagram finds the queue full of the
            # program's own lines (max_dgram_qlen) and is dropped; the lines
            # that arrive must be right.
            if not set(names) <= {"sent", "summary"} or len(names) != len(set(names)):
                problems.append(f"unexpected library lines: {names}")
            what = f"the library's lines that arrive are whole and tagged ({names})"
        tap.result(not problems, f"{name}: {what}, between {mine} of the program's own",
                   problems + [f"stdout: {res['stdout']}"])


def devlog_unavailable():
    """Why a private /dev/log cannot be set up here, or None."""
    if os.geteuid() != 0:
        return "needs root for a private /dev/log (unshare -m, tmpfs on /dev)"
    if not shutil.which("unshare"):
        return "needs unshare(1) for a private /dev/log"
    try:
        subprocess.run(["unshare", "-m", "--propagation", "private", "true"], check=True,
                       capture_output=True, timeout=TIMEOUT)
    except (OSError, subprocess.SubprocessError) as e:
        return f"unshare -m does not work here: {e}"
    return None


class DevLog(threading.Thread):
    """A syslog socket at path (kind "dgram" or "stream"), read by a thread
    so that the program's own syslog() never waits for us. messages: one
    string per datagram, or per stream connection (NUL-separated lines)."""

    def __init__(self, path, kind):
        super().__init__(daemon=True)
        self.kind = kind
        self.messages = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM if kind == "dgram"
                                  else socket.SOCK_STREAM)
        if os.path.exists(path):
            os.unlink(path)
        self.sock.bind(path)
        if kind == "stream":
            self.sock.listen(64)
        self.sock.setblocking(False)
        self.stop_r, self.stop_w = os.pipe()
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.sock, selectors.EVENT_READ)
        self.sel.register(self.stop_r, selectors.EVENT_READ)
        self.conns = {}

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        # The program has exited: everything it sent is queued here.
        os.write(self.stop_w, b"x")
        self.join(TIMEOUT)
        self.sel.close()
        self.sock.close()
        os.close(self.stop_r)
        os.close(self.stop_w)

    def pump(self, key):
        """Takes what is ready on one socket; False when nothing was."""
        try:
            if key is self.sock and self.kind == "dgram":
                self.messages.append(self.sock.recv(65536).decode(errors="replace"))
            elif key is self.sock:
                c, _ = self.sock.accept()
                c.setblocking(False)
                self.conns[c] = b""
                self.sel.register(c, selectors.EVENT_READ)
            else:
                data = key.recv(65536)
                if data:
                    self.conns[key] += data
                else:
                    self.end(key)
            return True
        except BlockingIOError:
            return False

    def end(self, c):
        self.sel.unregister(c)
        self.messages.append(self.conns.pop(c).decode(errors="replace"))
        c.close()

    def run(self):
        while True:
            for key, _ in self.sel.select():
                if key.fileobj == self.stop_r:
                    self.drain()
                    return
                self.pump(key.fileobj)

    def drain(self):
        """The program is gone: take what is still queued; its connections
        all end."""
        while self.pump(self.sock):
            pass
        for c in list(self.conns):
            c.settimeout(TIMEOUT)
            while True:
                data = c.recv(65536)
                if not data:
                    break
                self.conns[c] += data
            self.end(c)


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
    r.fork_signal(tap)
    if not args.threaded_only:
        r.signal_handler(tap)
        r.signal_locked(tap)
        r.signal_reply_wait(tap)
        r.signal_pollout(tap)
        r.syslog_signal(tap, "dgram")
        r.syslog_signal(tap, "stream")
    r.threaded(tap, signals=True)
    r.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
