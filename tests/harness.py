"""Shared pieces of the end-to-end test runners (scenarios.py, receive.py,
stress.py, scale.py, hardening.py, ...): TAP output, the process
environment (clean_env, and preload_env for a program under test), reading
the peers' JSON lines and the library's log (read_log, parse_log,
read_events), running a program against a peer that reports many
connections, writing a result table (write_table)."""

import collections
import ctypes
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time

TIMEOUT = 20  # seconds: upper bound for any single process
PEER_TIMEOUT_MS = 5000


def describe(verdict):
    """A peer verdict in a few words."""
    v = verdict.get("verdict", "?")
    if v == "close_notify":
        v += f" + {verdict.get('after')}"
        if verdict.get("extra"):
            v += f" + {verdict['extra']} extra bytes"
    return v


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def result(self, ok, name, diag=()):
        self.n += 1
        print(("ok" if ok else "not ok") + f" {self.n} - {name}")
        if not ok:
            self.failed += 1
            for line in diag:
                for part in str(line).splitlines():
                    print(f"#   {part}")
        sys.stdout.flush()

    def skip(self, name, reason):
        self.n += 1
        print(f"ok {self.n} - {name} # SKIP {reason}")

    def done(self):
        print(f"1..{self.n}")


def system_openssl3():
    """The system's OpenSSL 3 as (major, minor): (3, 0) on Debian 12, (3, 5)
    on Debian 13; read from libcrypto.so.3 itself, not from a program under
    test. (3, 0) when it cannot be loaded."""
    try:
        lib = ctypes.CDLL("libcrypto.so.3")
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        v = lib.OpenSSL_version_num()
        return (v >> 28, (v >> 20) & 0xff)
    except (OSError, AttributeError):
        return (3, 0)


def preload_env(lib, log=None, level="debug", extra=None):
    """The environment of a program under test: clean_env(); then, with lib
    (a Suite's lib: the library, after the sanitizer runtime in sanitizer
    builds), the library preloaded, logging the events at level and above
    as JSON lines to log; then extra on top, which may override the log
    settings. Without lib, the bare run: clean_env() and extra. Only the
    program gets this: peers and helper processes run in clean_env()."""
    env = clean_env()
    if lib:
        env.update(LD_PRELOAD=lib, TLSCLOSE_LOG_LEVEL=level, TLSCLOSE_LOG_FORMAT="json")
        if log:
            env["TLSCLOSE_LOG"] = log
    env.update(extra or {})
    return env


def reap(proc):
    """Ends a child process that is still running and collects it (the
    finally of every run)."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def read_line(proc, what, timeout=TIMEOUT):
    """One line from proc's stdout, bounded in time."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise RuntimeError(f"{what}: no output within {timeout}s")
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{what}: exited without output")
    return json.loads(line)


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TLSCLOSE_") and k != "LD_PRELOAD"}
    env["LC_ALL"] = "C"
    return env


class Suite:
    """What every runner needs: the build tree, the library to preload (after
    the ASan runtime in sanitizer builds), the strict peer and its
    certificate, and a temporary directory for logs, kept when a test fails."""

    def __init__(self, args, name):
        self.args = args
        self.build = os.environ["TC_BUILDDIR"]
        self.src = os.environ.get("TC_SRCDIR", "")
        self.lib = os.environ.get("TC_TEST_PRELOAD") or os.environ["TLSCLOSE_LIBRARY"]
        self.peer = os.path.join(self.build, "tests", "peer")
        certs = os.path.join(self.build, "tests", "certs")
        self.cert = os.path.join(certs, "cert.pem")
        self.key = os.path.join(certs, "key.pem")
        if not os.path.exists(self.key):
            os.makedirs(certs, exist_ok=True)
            subprocess.run([self.peer, "gencert", self.cert, self.key], check=True,
                           timeout=TIMEOUT)
        self.tmp = tempfile.mkdtemp(prefix=f"tlsclose-{name}-")

    def finish(self, tap):
        tap.done()
        if tap.failed == 0:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print(f"# logs kept in {self.tmp}")


class PeerReader(threading.Thread):
    """Collects a peer's JSON lines as they come, so that the peer (or its
    children) never blocks on a full pipe: one verdict per connection, the
    peer's closing summary line if it prints one, and any line that is not
    JSON."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc = proc
        self.verdicts = []
        self.summary = None
        self.bad = []

    def run(self):
        for line in self.proc.stdout:
            try:
                d = json.loads(line)
            except ValueError:
                self.bad.append(line)
                continue
            if isinstance(d, dict) and "summary" in d:
                self.summary = d["summary"]
            else:
                self.verdicts.append(d)


def read_log(log):
    """The text of the library's log file at log ("" if log is None or the
    file does not exist: a run that logged nothing)."""
    if not log or not os.path.exists(log):
        return ""
    with open(log) as f:
        return f.read()


def parse_event(line):
    """One line of the library's log in the JSON form (tlsclose(7), LOG
    LINES) as a dict; ValueError if it is not one JSON object."""
    e = json.loads(line)
    if not isinstance(e, dict):
        raise ValueError(f"not a JSON object: {line!r}")
    return e


def parse_log(text):
    """The library's events in text (log lines, JSON form) as dicts, and
    the lines that are not events (a blank line is not one either):
    (events, bad)."""
    events, bad = [], []
    for line in text.splitlines():
        try:
            events.append(parse_event(line))
        except ValueError:
            bad.append(line)
    return events, bad


def read_events(log):
    """The library's events from its log file at log (none if there is no
    file, or no log: None). A line that is not an event is an error
    (ValueError): the runners' logs hold the library's lines only."""
    events, bad = parse_log(read_log(log))
    if bad:
        raise ValueError(f"{log}: {len(bad)} lines that are not events: {bad[:3]}")
    return events


def run_with_peer(peer_cmd, program, env, timeout, peer_wait, log):
    """Starts the peer (peer_cmd; it prints {"port": N} first), runs
    program(port) (an argv) with env, bounded by timeout seconds, then waits
    up to peer_wait seconds for the peer to report every connection and exit.
    Returns a dict: proc (the CompletedProcess, or None if it hung), verdicts,
    summary and bad (the peer's lines), peer_status, peer_stderr, events (the
    library's JSON log at log), seconds, problems (hang, setup)."""
    res = {"problems": [], "proc": None}
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+") as err:
        peer = subprocess.Popen(peer_cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                env=clean_env())
        reader = PeerReader(peer)
        try:
            port = read_line(peer, "peer")["port"]
            reader.start()
            argv = program(port)
            try:
                res["proc"] = subprocess.run(argv, env=env, capture_output=True, text=True,
                                             timeout=timeout)
            except subprocess.TimeoutExpired as e:
                res["problems"].append(f"{os.path.basename(argv[0])} hung: killed after "
                                       f"{timeout}s (stdout {e.stdout!r}, stderr {e.stderr!r})")
            # The program's exit ended whatever it had left open: the peer
            # then reports every connection and exits.
            reader.join(peer_wait)
            if reader.is_alive():
                res["problems"].append(f"the peer did not finish within {peer_wait}s after "
                                       f"the program: {len(reader.verdicts)} verdicts")
        except (RuntimeError, ValueError, KeyError) as e:
            res["problems"].append(f"setup: {e}")
        finally:
            reap(peer)
            reader.join(5)
        err.seek(0)
        res["peer_stderr"] = err.read()
    res["seconds"] = time.monotonic() - start
    res["verdicts"], res["summary"], res["bad"] = reader.verdicts, reader.summary, reader.bad
    res["peer_status"] = peer.returncode
    res["events"] = read_events(log)
    return res


def peer_report_problems(res, count):
    """Problems with what a run_with_peer() peer reported for count
    connections numbered from 1: exactly one verdict each, no corrupted line,
    a clean exit of the peer."""
    problems = []
    conns = collections.Counter(v.get("conn") for v in res["verdicts"])
    if len(res["verdicts"]) != count:
        problems.append(f"{len(res['verdicts'])} verdicts, expected {count}")
    dup = sorted(c for c, n in conns.items() if n > 1)
    missing = sorted(set(range(1, count + 1)) - set(conns))
    if dup:
        problems.append(f"connections reported twice: {dup[:20]}")
    if missing:
        problems.append(f"connections without a verdict: {missing[:20]}"
                        f"{' ...' if len(missing) > 20 else ''}")
    if res["bad"]:
        problems.append(f"{len(res['bad'])} corrupted (non-JSON) lines: {res['bad'][:3]}")
    if res["peer_status"] != 0:
        problems.append(f"peer exit status {res['peer_status']}")
    if res["peer_stderr"].strip():
        problems.append(f"peer stderr: {res['peer_stderr'].strip()[:2000]}")
    return problems


def event_pid(e):
    """The process id of a JSON event line."""
    return e.get("pid")


def final_event_problems(events, per_process=None):
    """Problems with the final events (sent, skipped) and the exit summaries
    of a run's JSON events (tlsclose(7), EVENTS): per process, at most one summary,
    which adds up (connections = sent + skipped + open, open 0 at a normal
    exit, by_program part of skipped) and counts exactly the final events
    logged (one per connection: the log must be at debug level to show
    them all). per_process: the connections each process had, when known
    (checked also where a process wrote no summary)."""
    problems = []
    by_pid = collections.defaultdict(list)
    for e in events:
        if "event" in e:
            by_pid[event_pid(e)].append(e)
    for pid, evs in by_pid.items():
        finals = [e for e in evs if e["event"] in ("sent", "skipped")]
        shown = [(e["event"], e.get("trigger") or e.get("reason")) for e in finals]
        summaries = [e for e in evs if e["event"] == "summary"]
        if per_process is not None and len(finals) > per_process:
            problems.append(f"process {pid}: {len(finals)} final events for {per_process} "
                            f"connection(s): {shown}")
        if len(summaries) > 1:
            problems.append(f"process {pid}: {len(summaries)} summaries")
        if not summaries:
            continue
        # Missing keys are the schema's to report: counted as 0 here.
        s = collections.defaultdict(int, summaries[0])
        if s["connections"] != s["sent"] + s["skipped"] + s["open"]:
            problems.append(f"process {pid}: the summary does not add up: {summaries[0]}")
        if s["open"] != 0:
            problems.append(f"process {pid}: connections left open at exit: {summaries[0]}")
        if s["by_program"] > s["skipped"]:
            problems.append(f"process {pid}: by_program > skipped: {summaries[0]}")
        counted = {
            "connections": len(finals),
            "sent": sum(e["event"] == "sent" for e in finals),
            "skipped": sum(e["event"] == "skipped" for e in finals),
            "by_program": sum(e.get("reason") == "sent by program" for e in finals),
        }
        for k, n in counted.items():
            if s[k] != n:
                problems.append(f"process {pid}: summary {k}={s[k]}, final events logged: "
                                f"{n} {shown}")
    return problems


def tally(verdicts):
    """Many verdicts in one line: how the connections ended, what followed
    close_notify, how many had extra bytes, which TLS versions."""
    kinds = collections.Counter(v.get("verdict") for v in verdicts)
    after = collections.Counter(v.get("after") for v in verdicts
                                if v.get("verdict") == "close_notify")
    extra = sum(1 for v in verdicts if v.get("extra", 0) > 0)
    tls = collections.Counter(v.get("tls") for v in verdicts)
    return (f"verdicts {dict(kinds)}, after close_notify {dict(after)}, "
            f"extra>0 {extra}, tls {dict(tls)}")


def markdown_cell(text):
    """A table cell's text: a "|" would end the cell."""
    return str(text).replace("|", "\\|")


def write_table(path, header, rows):
    """Writes a Markdown table (header: the column titles; rows: lists of
    cells) to path: the runners' result tables, which doc/results.md
    takes in (make readme-tables)."""
    lines = ["| " + " | ".join(map(markdown_cell, header)) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(markdown_cell, row)) + " |" for row in rows]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
