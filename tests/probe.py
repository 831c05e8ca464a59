#!/usr/bin/env python3
"""Tests of tlsclose-probe (tlsclose-probe(1)), printed as TAP.

The probe runs against the strict peer (tests/peer) in every closing mode,
in TLS 1.2 and 1.3, in both output forms (--json and the table). The peer
serves the probe's two connections with one mode each (--mode=A,B): the
first connection's mode says how the server ends the stream (close_notify,
at warning or fatal level, with data after it; a bare FIN; a reset; nothing),
the second one how it answers the probe's close_notify (answer, FIN without
answer, reset, nothing). Each case checks the probe's verdict fields, its
table rows and its exit status against the mode the peer ran, and what the
peer saw from the probe on the wire (its answer to the server's
close_notify, its close_notify right after the handshake, nothing after a
truncation).

A first connection the server keeps open is "not observed": exit status 3,
"result":"not_observed" in the JSON. Without a request the probe says at
once on stderr that it waits for the server to close on its own: checked
against a server of this script that closes only once it has seen that
line (so the wait is not lengthened), and against the peer keeping the
connection open (one run at the short timeout). A bare --http before the
target sends GET /.

Then the exit status 2 cases: usage errors (among them ports out of range
or not numbers, checked before any connection: a port 65536 above a
listening one must not reach it), a refused connection (a closed ephemeral
port), a handshake that fails (the peer's self-signed certificate without
--ca-file, a name mismatch), each with one line on stderr.

usage: probe.py
Environment: TC_BUILDDIR, TLSCLOSE_LIBRARY (from make check).
"""

import argparse
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Suite, TIMEOUT, Tap, clean_env, read_line, reap  # noqa: E402

# The probe's bound of every wait: a hang guard where the peer ends the
# connection, generous for sanitizer builds.
PROBE_TIMEOUT_MS = 15000
# Where the peer never ends the connection the timeout is the observation.
# The outcome does not depend on it (the peer never answers); only the
# handshake before it must fit in, which takes milliseconds on loopback.
SHORT_TIMEOUT_MS = 2000
PEER_WAIT_MS = 30000  # the peer outlives the probe's waits
DATA_AFTER = 10       # --data-after-close: plaintext bytes after close_notify


# The exit status and the overall result it goes with.
STATUS_RESULT = {0: "clean", 1: "unclean", 3: "not_observed"}
# The table's verdict line for each status.
STATUS_VERDICT = {0: "clean: ", 1: "NOT CLEAN: ", 3: "not observed: "}
# The probe's line on stderr when it has no request to send.
WAITING_LINE = (r"^tlsclose-probe: no request to send: waiting up to {ms} ms for the server "
                r"to close on its own \(for an HTTPS server use --http=/\)$")


class Case:
    """One peer setup and what the probe must report about it.

    server / probe: expected fields of the probe's server_first /
    probe_first objects; ">N" means a number above N; peer: expected
    fields of the peer's verdict lines (connection 1, 2); http_path: the
    path of the GET the probe must send (checked by its length)."""

    def __init__(self, name, modes, server, probe, status, peer, peer_args=(),
                 timeout=PROBE_TIMEOUT_MS, probe_args=("--request=hello\\n",), http_path=None):
        self.name = name
        self.modes = modes
        self.server = server
        self.probe = probe
        self.status = status
        self.peer = peer
        self.peer_args = list(peer_args)
        self.timeout = timeout
        self.probe_args = list(probe_args)
        self.http_path = http_path


CLEAN_CN = {"end": "close_notify", "alert": "close_notify", "alert_level": "warning",
            "after": "fin", "after_bytes": 0, "after_records": 0, "result": "clean"}
# What the peer sees from the probe: its answer to the server's
# close_notify, then its FIN; its own close_notify right after the handshake.
PEER_ANSWERED = {"verdict": "close_notify", "after": "fin", "alerts": ["warning:close notify"]}
PEER_PROBE_FIRST = {"verdict": "close_notify", "stage": "request", "app_in": 0,
                    "alerts": ["warning:close notify"]}


def cases(tls):
    fatal_ok = tls == "1.3"  # TLS 1.3 ignores the level of close_notify
    fatal_cn = dict(CLEAN_CN, alert_level="fatal",
                    result="clean" if fatal_ok else "unclean")
    # one record: more bytes than its plaintext
    data_cn = dict(CLEAN_CN, after_bytes=f">{DATA_AFTER}", after_records=1, result="unclean")
    # --mode=close: the peer ends TCP only after the probe's answer.
    answered = {"answered": True, "waited_for_answer": True}
    return [
        Case("clean close, answer to ours", "close,reply",
             dict(CLEAN_CN, app_in=6, request_bytes=6, **answered),
             dict(CLEAN_CN, app_in=0), 0,
             [PEER_ANSWERED, dict(PEER_PROBE_FIRST, replied=True)]),
        # The peer's FIN follows its close_notify after 1 ms, usually before
        # the probe answers; which comes first is not asserted (timing).
        Case("clean close, FIN right after close_notify", "close,reply",
             dict(CLEAN_CN, answered=True), dict(CLEAN_CN), 0,
             [{"verdict": "close_notify", "alerts": ["warning:close notify"]},
              PEER_PROBE_FIRST],
             peer_args=["--reply-wait=1"]),
        Case("truncation (FIN without close_notify)", "truncate,reply",
             {"end": "eof", "alert": None, "after": None, "answered": None,
              "result": "unclean", "app_in": 6},
             dict(CLEAN_CN), 1,
             # nothing from the probe after the truncation: no alert
             [{"verdict": "eof", "alerts": [], "extra": 0}, PEER_PROBE_FIRST]),
        Case("close_notify at fatal level", "close,reply",
             dict(fatal_cn, answered=fatal_ok, waited_for_answer=True if fatal_ok else None),
             dict(fatal_cn), 0 if fatal_ok else 1,
             # TLS 1.2: OpenSSL cannot answer a fatal close_notify; FIN only
             [PEER_ANSWERED if fatal_ok else {"verdict": "eof", "alerts": []},
              PEER_PROBE_FIRST],
             peer_args=["--alert-level=fatal"]),
        Case("data after close_notify", "close,reply",
             dict(data_cn, **answered), dict(data_cn), 1,
             [PEER_ANSWERED, PEER_PROBE_FIRST],
             peer_args=[f"--data-after-close={DATA_AFTER}"]),
        Case("reset, reset in answer to ours", "reset,abort",
             {"end": "reset", "after": None, "result": "unclean"},
             {"end": "reset", "after": None, "result": "unclean"}, 1,
             [{"verdict": "reset_sent"}, PEER_PROBE_FIRST]),
        Case("no answer to ours: FIN", "close,hangup",
             dict(CLEAN_CN, **answered),
             {"end": "eof", "after": None, "result": "unclean"}, 1,
             [PEER_ANSWERED, dict(PEER_PROBE_FIRST, after=None)]),
        Case("no answer to ours: left open", "close,normal",
             dict(CLEAN_CN, **answered),
             {"end": "timeout", "after": None, "result": "unclean"}, 1,
             [PEER_ANSWERED, PEER_PROBE_FIRST], timeout=SHORT_TIMEOUT_MS),
        # Not observed is not clean: exit status 3.
        Case("server keeps the first connection open", "reply,reply",
             {"end": "timeout", "after": None, "result": "not_observed", "answered": None},
             dict(CLEAN_CN), 3,
             # the probe ends it with close_notify
             [{"verdict": "close_notify", "replied": True},
              dict(PEER_PROBE_FIRST, replied=True)],
             timeout=SHORT_TIMEOUT_MS),
        Case("HTTP request (--http), clean", "close,reply",
             dict(CLEAN_CN, **answered), dict(CLEAN_CN), 0,
             [PEER_ANSWERED, PEER_PROBE_FIRST], peer_args=["--http"],
             probe_args=["--http=/index.html"], http_path="/index.html"),
        # --http right before the target: GET /, the target left alone.
        Case("HTTP request (bare --http HOST:PORT: GET /), clean", "close,reply",
             dict(CLEAN_CN, **answered), dict(CLEAN_CN), 0,
             [PEER_ANSWERED, PEER_PROBE_FIRST], peer_args=["--http"],
             probe_args=["--http"], http_path="/"),
        Case("HTTP request (--http /PATH, separate), clean", "close,reply",
             dict(CLEAN_CN, **answered), dict(CLEAN_CN), 0,
             [PEER_ANSWERED, PEER_PROBE_FIRST], peer_args=["--http"],
             probe_args=["--http", "/a/b"], http_path="/a/b"),
    ]


def http_request_len(path, port, version):
    """The length of the GET the probe sends for path (options.c)."""
    return len(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               f"User-Agent: tlsclose-probe/{version}\r\nAccept: */*\r\n"
               "Connection: close\r\n\r\n")


# ---------------------------------------------------------------------------
# The table

def parse_table(text):
    """{"head": {label: value}, "server": {label: [values]}, "probe": {...},
    "verdict": value} from the probe's table."""
    out = {"head": {}, "server": {}, "probe": {}, "verdict": None}
    section = "head"
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("server closes first"):
            section = "server"
        elif line.startswith("probe closes first"):
            section = "probe"
        elif line.startswith("verdict"):
            out["verdict"] = line.split(None, 1)[1]
        elif section == "head":
            label, value = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            out["head"][label] = value
        else:
            label, value = re.split(r"\s{2,}", line.strip(), maxsplit=1)
            out[section].setdefault(label, []).append(value)
    return out


END_TEXT = {"close_notify": "close_notify ({level} level) after ",
            "eof": "FIN without close_notify after ", "reset": "reset (RST) after ",
            "timeout": "none within "}
RESULT_TEXT = {"clean": "clean", "unclean": "NOT CLEAN", "not_observed": "not observed"}


def table_problems(rows, want, end_label):
    """The table rows of one connection against the expected JSON fields."""
    problems = []

    def one(label):
        values = rows.get(label, [])
        return values[0] if len(values) == 1 else None

    end = one(end_label) or ""
    prefix = END_TEXT[want["end"]].format(level=want.get("alert_level"))
    if not end.startswith(prefix):
        problems.append(f"{end_label} row {end!r}, expected {prefix!r}...")
    if one("result") != RESULT_TEXT[want["result"]]:
        problems.append(f"result row {one('result')!r}, expected {RESULT_TEXT[want['result']]!r}")
    unclean = want["result"] == "unclean"
    if unclean != ("problem" in rows):
        problems.append(f"problem rows {rows.get('problem')}, expected some: {unclean}")
    after = one("after it")
    if want["end"] != "close_notify":
        if after is not None:
            problems.append(f"'after it' row {after!r} without close_notify")
    elif want["after_bytes"] == 0:
        if not (after or "").startswith("no data, then FIN after "):
            problems.append(f"'after it' row {after!r}, expected no data, then FIN")
    elif not re.match(r"\d+ bytes in 1 record, then FIN after ", after or ""):
        problems.append(f"'after it' row {after!r}, expected bytes in 1 record, then FIN")
    if want.get("waited_for_answer") and not (after or "").endswith(" (after our answer)"):
        problems.append(f"'after it' row {after!r}, expected the FIN after our answer")
    if "answered" in want:
        answer = one("our answer")
        expect = ("close_notify" if want["answered"] else "none: ") \
            if want["answered"] is not None else None
        if (answer is None) != (expect is None) or \
                (expect is not None and not answer.startswith(expect)):
            problems.append(f"'our answer' row {answer!r}, expected {expect!r}")
    return problems


# ---------------------------------------------------------------------------

def field_problems(obj, want, what):
    problems = []
    for key, value in want.items():
        got = obj.get(key, "<missing>")
        if isinstance(value, str) and value.startswith(">"):
            ok = isinstance(got, int) and got > int(value[1:])
        else:
            ok = got == value
        if not ok:
            problems.append(f"{what}.{key} = {got!r}, expected {value!r}")
    return problems


class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "probe")
        self.probe = os.path.join(self.build, "tools", "tlsclose-probe")
        self.version = None  # "tlsclose-probe VERSION" (--version), read in main

    def read_version(self):
        out = subprocess.run([self.probe, "--version"], env=clean_env(), capture_output=True,
                             text=True, timeout=TIMEOUT).stdout.split()
        self.version = out[1] if len(out) == 2 else "?"

    def peer_cmd(self, tls, modes, extra=(), count=2):
        cmd = [self.peer, "server", f"--count={count}", f"--cert={self.cert}",
               f"--key={self.key}", f"--mode={modes}", f"--timeout={PEER_WAIT_MS}"]
        if tls:
            cmd.append(f"--tls{tls}")
        return cmd + list(extra)

    def run(self, peer_cmd, probe_args, target="127.0.0.1:{port}", verdicts=2,
            may_not_connect=False):
        """Starts the peer, runs the probe against it; returns (probe process,
        the peer's verdict lines). may_not_connect: a probe that fails (exit
        2) may not have connected at all; a verdict line missing then is
        {"missing": why}, after a short wait."""
        peer = subprocess.Popen(peer_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=clean_env())
        try:
            port = read_line(peer, "peer")["port"]
            proc = subprocess.run([self.probe] + probe_args + [target.format(port=port)],
                                  env=clean_env(), capture_output=True, text=True,
                                  timeout=TIMEOUT + PROBE_TIMEOUT_MS * 6 // 1000)
            lines = []
            for i in range(verdicts):
                if not (may_not_connect and proc.returncode == 2):
                    lines.append(read_line(peer, f"peer verdict {i + 1}"))
                    continue
                try:
                    lines.append(read_line(peer, f"peer verdict {i + 1}", timeout=2))
                except RuntimeError as e:
                    lines.append({"missing": str(e)})
        finally:
            reap(peer)
        return proc, lines

    def case(self, tap, tls, c, form):
        args = [f"--tls{tls}", f"--ca-file={self.cert}", f"--timeout={c.timeout}"] + c.probe_args
        if form == "json":
            args.append("--json")
        proc, peer = self.run(self.peer_cmd(tls, c.modes, c.peer_args), args,
                              may_not_connect=True)
        problems = []
        if proc.returncode != c.status:
            problems.append(f"exit status {proc.returncode}, expected {c.status}")
        if proc.stderr:
            problems.append(f"stderr: {proc.stderr.strip()}")
        if form == "json":
            try:
                out = json.loads(proc.stdout)
            except ValueError:
                out = None
            if out is None or proc.stdout.count("\n") != 1:
                problems.append("not one JSON object on one line")
                out = {}
            problems += field_problems(out, {"tls": f"TLSv{tls}", "verified": True,
                                             "exit": c.status,
                                             "result": STATUS_RESULT[c.status]},
                                       "probe")
            port = out.get("port")
            problems += field_problems(out.get("server_first", {}), c.server, "server_first")
            sent = out.get("server_first", {}).get("request_bytes")
            problems += field_problems(out.get("probe_first", {}), c.probe, "probe_first")
            for side, want in (("server_first", c.server), ("probe_first", c.probe)):
                obj = out.get(side, {})
                if (want["result"] != "clean") != bool(obj.get("problems")):
                    problems.append(f"{side}.problems = {obj.get('problems')!r}")
        else:
            table = parse_table(proc.stdout)
            if not table["head"].get("tls", "").startswith(f"TLSv{tls}, "):
                problems.append(f"tls row {table['head'].get('tls')!r}")
            if table["head"].get("certificate") != "verified":
                problems.append(f"certificate row {table['head'].get('certificate')!r}")
            problems += table_problems(table["server"], c.server, "end")
            request = table["server"].get("request", [""])[0]
            sent = int(request.split()[0]) if request[:1].isdigit() else None
            problems += table_problems(table["probe"], c.probe, "answer")
            verdict = table["verdict"] or ""
            if not verdict.startswith(STATUS_VERDICT[c.status]):
                problems.append(f"verdict {verdict!r}, expected {STATUS_VERDICT[c.status]!r}...")
            port = re.search(r"port (\d+)\)$", table["head"].get("target", ""))
            port = port and int(port.group(1))
        # The request as the peer received it.
        if not sent or sent != peer[0].get("app_in"):
            problems.append(f"request of {sent} bytes, the peer received {peer[0].get('app_in')}")
        if c.http_path is not None and sent != http_request_len(c.http_path, port, self.version):
            problems.append(f"request of {sent} bytes, expected GET {c.http_path} of "
                            f"{http_request_len(c.http_path, port, self.version)}")
        for i, want in enumerate(c.peer):
            problems += field_problems(peer[i], want, f"peer connection {i + 1}")
        tap.result(not problems, f"TLS {tls}, {form}: {c.name}",
                   problems + [proc.stdout, proc.stderr] + [json.dumps(p) for p in peer])

    def ipv6(self, tap):
        """An IPv6 literal; the certificate names localhost, not ::1."""
        name = "[::1] with --sni=localhost: clean"
        if not have_ipv6():
            tap.skip(name, "no IPv6 loopback address")
            return
        proc, peer = self.run(self.peer_cmd(None, "close,reply", ["--ipv6"]),
                              [f"--ca-file={self.cert}", "--sni=localhost", "--json",
                               f"--timeout={PROBE_TIMEOUT_MS}", "--request=hello\\n"],
                              target="[::1]:{port}")
        problems = []
        out = json.loads(proc.stdout) if proc.returncode in (0, 1) else {}
        if proc.returncode != 0:
            problems.append(f"exit status {proc.returncode}: {proc.stderr.strip()}")
        problems += field_problems(out, {"address": "::1", "verified": True, "result": "clean"},
                                   "probe")
        problems += field_problems(peer[0], PEER_ANSWERED, "peer connection 1")
        problems += field_problems(peer[1], PEER_PROBE_FIRST, "peer connection 2")
        tap.result(not problems, name, problems + [proc.stdout])

    # --- exit status 2 ------------------------------------------------------

    def expect_failure(self, tap, name, args, pattern, peer_cmd=None, peer_want=None):
        """The probe exits 2 with one line on stderr matching pattern, nothing
        on stdout; the peer (if any) saw what peer_want says."""
        problems = []
        lines = []
        if peer_cmd is None:
            proc = subprocess.run([self.probe] + args, env=clean_env(), capture_output=True,
                                  text=True, timeout=TIMEOUT)
        else:
            proc, lines = self.run(peer_cmd, args[:-1], target=args[-1], verdicts=1)
            problems += field_problems(lines[0], peer_want, "peer")
        if proc.returncode != 2:
            problems.append(f"exit status {proc.returncode}, expected 2")
        if proc.stdout:
            problems.append(f"stdout not empty: {proc.stdout!r}")
        err = proc.stderr.splitlines()
        if len(err) != 1 or not err[0].startswith("tlsclose-probe: ") or \
                not re.search(pattern, err[0]):
            problems.append(f"stderr {proc.stderr!r}, expected one line matching {pattern!r}")
        tap.result(not problems, f"exit 2: {name}",
                   problems + [json.dumps(line) for line in lines])

    def failures(self, tap):
        self.expect_failure(tap, "no target", ["--json"], r"missing HOST:PORT")
        self.expect_failure(tap, "two versions", ["--tls1.2", "--tls1.3", "h:1"],
                            r"exclude each other")
        self.expect_failure(tap, "bad timeout", ["--timeout=0", "h:1"], r"--timeout")
        self.expect_failure(tap, "bad escape", ["--request=a\\q", "h:1"], r"unknown escape")
        self.expect_failure(tap, "unbracketed IPv6", ["::1:443"], r"\[ADDRESS\]:PORT")
        self.expect_failure(tap, "unknown option", ["--frobnicate", "h:1"], r"unknown option")
        # The target: each problem named, before any connection is tried.
        for target, pattern in (
                ("127.0.0.1:99999", r"'127\.0\.0\.1:99999': port 99999 is out of range 1-65535"),
                ("127.0.0.1:0", r"port 0 is out of range 1-65535"),
                ("[::1]:123456789012345678901", r"port 123456789012345678901 is out of range"),
                ("127.0.0.1:no-such-service", r"port 'no-such-service' is neither a number"),
                ("127.0.0.1:+443", r"port '\+443' is neither a number"),
                ("127.0.0.1: 443", r"port ' 443' is neither a number"),
                ("127.0.0.1:", r"'127\.0\.0\.1:': the port is empty"),
                (":443", r"':443': the host is empty"),
                ("[]:443", r"the host is empty")):
            self.expect_failure(tap, f"target {target!r}", [target], pattern)
        # A value option in the separate form took the target.
        self.expect_failure(tap, "--sni HOST:PORT and no target", ["--sni", "h:1"],
                            r"missing HOST:PORT: --sni took 'h:1' as its value "
                            r"\(write --sni=NAME HOST:PORT\)")
        self.expect_failure(tap, "--request HOST:PORT and no target", ["--json", "--request",
                                                                       "h:1"],
                            r"missing HOST:PORT: --request took 'h:1' as its value")
        self.expect_failure(tap, "--http=PATH without '/'", ["--http=index.html", "h:1"],
                            r"--http: PATH must start with '/'")
        self.port_out_of_range(tap)
        # A port nobody listens on: bound, never listened to, closed.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.expect_failure(tap, "connection refused", [f"127.0.0.1:{port}"],
                            rf"cannot connect to 127\.0\.0\.1:{port}: Connection refused")
        self.expect_failure(tap, "IPv6 literal, refused or unreachable", [f"[::1]:{port}"],
                            rf"cannot connect to \[::1\]:{port}: ")
        handshake = {"stage": "handshake"}
        self.expect_failure(tap, "self-signed certificate, no --ca-file",
                            ["127.0.0.1:{port}"],
                            r"certificate verification failed: self-signed certificate",
                            self.peer_cmd(None, "close", count=1), handshake)
        self.expect_failure(tap, "certificate name mismatch (--sni)",
                            [f"--ca-file={self.cert}", "--sni=example.org", "127.0.0.1:{port}"],
                            r"certificate verification failed: hostname mismatch",
                            self.peer_cmd(None, "close", count=1), handshake)
        self.expect_failure(tap, "version mismatch (--tls1.3 against TLS 1.2 only)",
                            ["--tls1.3", "--insecure", "127.0.0.1:{port}"],
                            r"TLS handshake failed",
                            self.peer_cmd("1.2", "close", count=1), handshake)

    def port_out_of_range(self, tap):
        """A port 65536 above a listening one is a usage error, and nothing
        connects to the listening port (getaddrinfo alone takes the port
        modulo 65536)."""
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            port = listener.getsockname()[1]
            big = port + 65536
            # --timeout bounds a handshake with the listener, which never
            # accepts, should the probe connect.
            self.expect_failure(tap, f"port {big} (65536 above a listening one)",
                                ["--timeout=2000", f"127.0.0.1:{big}"],
                                rf"port {big} is out of range 1-65535")
            # A connection, even one the probe closed, waits in the queue.
            ready, _, _ = select.select([listener], [], [], 0)
            tap.result(not ready, f"port {big}: no connection reached port {port}",
                       [f"a connection to {port} is in the listen queue"])

    # --- no request -----------------------------------------------------------

    def no_request_line(self, tap, tls):
        """Without a request the probe says at once on stderr that it waits
        for the server to close. The server (this script) closes the first
        connection with close_notify only after it has read that line, and
        answers the probe's close_notify on the second: exit 0, clean, and
        the line came while the probe was waiting."""
        name = f"TLS {tls}: no request: the waiting line at once, then a clean close"
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.minimum_version = ctx.maximum_version = \
            ssl.TLSVersion.TLSv1_2 if tls == "1.2" else ssl.TLSVersion.TLSv1_3
        line_seen = threading.Event()
        server_errors = []
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(2)
        listener.settimeout(TIMEOUT)
        port = listener.getsockname()[1]

        def serve():
            try:
                # 1: wait for the line, then close_notify; unwrap() waits for
                # the probe's answer, close() sends the FIN.
                raw, _ = listener.accept()
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(TIMEOUT)
                    if not line_seen.wait(TIMEOUT):
                        server_errors.append("connection 1: no waiting line on stderr")
                    conn.unwrap().close()
                # 2: the probe's close_notify (end of stream), our answer, FIN.
                raw, _ = listener.accept()
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.settimeout(TIMEOUT)
                    data = conn.recv(100)
                    if data:
                        server_errors.append(f"connection 2: {data!r} before close_notify")
                    conn.unwrap().close()
            except (OSError, ValueError) as e:
                server_errors.append(f"server: {e!r}")

        server = threading.Thread(target=serve, daemon=True)
        server.start()
        proc = subprocess.Popen([self.probe, f"--tls{tls}", f"--ca-file={self.cert}",
                                 f"--timeout={PROBE_TIMEOUT_MS}", "--json", f"127.0.0.1:{port}"],
                                env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        problems = []
        try:
            # The line must come while connection 1 is open: the server
            # closes it only after this. Without it the probe waits for its
            # timeout and then ends (EOF).
            ready, _, _ = select.select([proc.stderr], [], [], TIMEOUT)
            first = proc.stderr.readline() if ready else ""
            line_seen.set()
            if not re.match(WAITING_LINE.format(ms=PROBE_TIMEOUT_MS), first.rstrip("\n")):
                problems.append(f"first stderr line {first!r}, expected the waiting line")
            out, rest = proc.communicate(timeout=TIMEOUT + PROBE_TIMEOUT_MS * 6 // 1000)
        finally:
            line_seen.set()
            reap(proc)
            server.join(TIMEOUT)
            listener.close()
        problems += server_errors
        if rest:
            problems.append(f"more on stderr: {rest!r}")
        if proc.returncode != 0:
            problems.append(f"exit status {proc.returncode}, expected 0")
        try:
            out = json.loads(out)
        except ValueError:
            problems.append("not one JSON object")
            out = {}
        problems += field_problems(out, {"result": "clean", "exit": 0, "tls": f"TLSv{tls}"},
                                   "probe")
        problems += field_problems(out.get("server_first", {}),
                                   dict(CLEAN_CN, request_bytes=0, app_in=0, answered=True,
                                        waited_for_answer=True, problems=[]), "server_first")
        problems += field_problems(out.get("probe_first", {}), dict(CLEAN_CN, problems=[]),
                                   "probe_first")
        tap.result(not problems, name, problems + [json.dumps(out)])

    def no_request_open(self, tap):
        """Without a request, against a server that waits for one (the peer
        keeps the connection open): the waiting line, "not observed" with
        its hint in the table, exit status 3. One run at the short timeout."""
        proc, peer = self.run(self.peer_cmd(None, "reply,reply"),
                              [f"--ca-file={self.cert}", f"--timeout={SHORT_TIMEOUT_MS}"])
        problems = []
        if proc.returncode != 3:
            problems.append(f"exit status {proc.returncode}, expected 3")
        err = proc.stderr.splitlines()
        if len(err) != 1 or not re.match(WAITING_LINE.format(ms=SHORT_TIMEOUT_MS), err[0]):
            problems.append(f"stderr {proc.stderr!r}, expected the waiting line only")
        table = parse_table(proc.stdout)
        server = table["server"]
        want = {"request": ["none"], "result": ["not observed"],
                "note": [f"the server did not close the connection within {SHORT_TIMEOUT_MS} ms",
                         "no request was sent, and a server that waits for one does not "
                         "close: use --http=/PATH (HTTPS) or --request=TEXT"]}
        for label, values in want.items():
            if server.get(label) != values:
                problems.append(f"{label} rows {server.get(label)!r}, expected {values!r}")
        if not (table["verdict"] or "").startswith(STATUS_VERDICT[3]):
            problems.append(f"verdict {table['verdict']!r}")
        # The peer waited for a request and got the probe's close_notify.
        problems += field_problems(peer[0], {"verdict": "close_notify", "app_in": 0,
                                             "replied": True}, "peer connection 1")
        problems += field_problems(peer[1], PEER_PROBE_FIRST, "peer connection 2")
        tap.result(not problems, "no request, the server keeps the connection open: "
                   "the waiting line, not observed, exit 3", problems + [proc.stdout])

    # --- other successes ------------------------------------------------------

    def names_and_trust(self, tap):
        """A name (localhost: the certificate's DNS name) and --insecure;
        the request written with hex and octal escapes ("hello\\n", which the
        peer reads up to the newline)."""
        for args, target, verified in (([f"--ca-file={self.cert}"], "localhost:{port}", True),
                                       (["--insecure"], "127.0.0.1:{port}", False)):
            proc, peer = self.run(self.peer_cmd(None, "close,reply"),
                                  args + [f"--timeout={PROBE_TIMEOUT_MS}", "--json",
                                          "--request=hel\\x6co\\012"],
                                  target=target)
            problems = []
            out = json.loads(proc.stdout) if proc.returncode in (0, 1) else {}
            if proc.returncode != 0:
                problems.append(f"exit status {proc.returncode}: {proc.stderr.strip()}")
            problems += field_problems(out, {"verified": verified, "address": "127.0.0.1",
                                             "result": "clean"}, "probe")
            problems += field_problems(out.get("server_first", {}), {"request_bytes": 6},
                                       "server_first")
            problems += field_problems(peer[0], dict(PEER_ANSWERED, app_in=6),
                                       "peer connection 1")
            problems += field_problems(peer[1], PEER_PROBE_FIRST, "peer connection 2")
            option = args[0].split("=")[0]
            tap.result(not problems, f"{target.split(':')[0]} with {option}: clean",
                       problems + [proc.stdout])


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser()
    args = parser.parse_args()
    runner = Runner(args)
    tap = Tap()
    if not os.path.exists(runner.probe):
        tap.skip("tlsclose-probe", "tools/tlsclose-probe not built")
        runner.finish(tap)
        return 0
    runner.read_version()
    for tls in ("1.2", "1.3"):
        for c in cases(tls):
            for form in ("json", "table"):
                runner.case(tap, tls, c, form)
    for tls in ("1.2", "1.3"):
        runner.no_request_line(tap, tls)
    runner.no_request_open(tap)
    runner.names_and_trust(tap)
    runner.ipv6(tap)
    runner.failures(tap)
    runner.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
