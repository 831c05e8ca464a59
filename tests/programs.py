#!/usr/bin/env python3
"""Real, unmodified programs under tlsclose, printed as TAP (issue: real programs).

For each program, on the OpenSSL given (3: Debian 12's own binaries; 1.1.1:
Debian 11's binaries, downloaded with tests/fetch-bullseye and run with their
own libraries, no OpenSSL 3 in the process):

1. Sending: the program talks to the strict peer and ends the connection its
   usual way, bare and under the library. Under the library the peer must
   see exactly one close_notify; a program that already sends one must be
   unchanged (the library sends nothing). nginx, stopped with SIGTERM while
   a keep-alive connection is idle, must end that one with close_notify too.
2. Receiving (clients): the peer sends part of a response and a FIN without
   close_notify, with a Content-Length and close-delimited. With
   TLSCLOSE_EOF=error the program must fail (exit non-zero; a tunnel's
   plaintext client must not get a clean EOF) and print the library's own
   error; with clean it must not report a TLS-level EOF (and succeed when
   only close_notify could tell); with warn it behaves exactly as bare. The
   log carries a truncation event naming the peer and the exact byte count.
   The clients: curl, s_client, socat, Python's urllib and Perl's HTTP::Tiny
   (IO::Socket::SSL, Net::SSLeay); on the close-delimited body only, a plain
   Python ssl read loop, urllib and the read loop on the python3 first on
   PATH when it is another interpreter on the system's libssl, and stunnel
   in client mode.
3. No harm: same exit status, output and files written as bare where
   nothing was wrong (and under TLSCLOSE_EOF=warn); no death by SIGPIPE;
   every run bounded.
0. First, which programs these are: their versions (curl 7.88 / 7.74,
   stunnel, the OpenSSL of Python's and Perl's bindings, ...) and the
   OpenSSL objects the dynamic loader really maps when they run under the
   library (LD_DEBUG=files): only OpenSSL 3 or only 1.1.1.

usage: programs.py --openssl=3|1.1.1 [--table=FILE]
Environment: TC_SRCDIR, TC_BUILDDIR, TLSCLOSE_LIBRARY (from make check).
"""

import argparse
import functools
import json
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import sys
import sysconfig
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Suite, TIMEOUT, Tap, clean_env, describe, preload_env,  # noqa: E402
                     read_events, reap, system_openssl3, write_table)

# Debian 11's programs and the libraries they need that a newer Debian does
# not have (libpcre3), does not install (libgcrypt20 and libgpg-error0 on a
# Debian 13 without systemd), or builds against OpenSSL 3 (libsasl2-2: its
# Debian 13 build would bring libcrypto.so.3 into curl 7.74).
BULLSEYE_PACKAGES = ["openssl", "libssl1.1", "curl", "libcurl4", "libssh2-1", "libldap-2.4-2",
                     "socat", "python3.9-minimal", "libpython3.9-minimal",
                     "libpython3.9-stdlib", "libmpdec3", "libffi7", "nginx-light",
                     "libgcrypt20", "libgpg-error0", "libpcre3", "libsasl2-2",
                     # Perl 5.32 whole (an XS module is tied to its perl) and
                     # its bindings; stunnel 5.56.
                     "perl-base", "perl-modules-5.32", "libnet-ssleay-perl",
                     "libio-socket-ssl-perl", "liburi-perl", "stunnel4"]
PARTIAL = 100          # body bytes the truncating peer sends
ANNOUNCED = 1000       # its Content-Length
# How the clients word a TLS-level EOF without close_notify, bare: OpenSSL
# 3's reason string, Python's names for it on 3.x and 1.1.1, s_client
# 1.1.1's. Under clean no client may print it (nor OWN_EOF_TEXT).
EOF_TEXT = re.compile(r"unexpected eof|EOF occurred in violation of protocol|"
                      r"SSL_ERROR_SYSCALL|UNEXPECTED_EOF", re.I)
# The library's own error (doc/design.md, Receiving), which every client here
# prints under TLSCLOSE_EOF=error where it prints an SSL error at all (all of
# them do: from the error queue, or as the binding's exception text).
OWN_EOF_TEXT = re.compile(r"connection ended without close_notify")
# How they word a body shorter than its Content-Length: an HTTP matter, which
# a clean TLS end cannot hide (the bytes are missing either way).
SHORT_BODY_TEXT = re.compile(r"transfer closed with \d+ bytes remaining|IncompleteRead|"
                             r"end of response with \d+ bytes missing")  # curl 7; Python; curl 8


def normalize(output):
    """A program's output without what differs between any two runs: socat's
    timestamps, process ids, the thread id OpenSSL prints before an error."""
    text = output.decode(errors="replace") if isinstance(output, bytes) else output
    text = re.sub(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(\.\d+)? ", "", text)
    text = re.sub(r"(?m)^[0-9A-Fa-f]+:error:", "<thread>:error:", text)
    return re.sub(r"\[\d+\]", "[pid]", text)


def excerpt(text):
    """A program's output for a diagnostic: its start and its end (where a
    log has the error)."""
    return text if len(text) <= 600 else f"{text[:200]} [...] {text[-400:]}"


def http_head(content_length):
    """The head tests/peer --http sends before its body."""
    if content_length is None:
        return "HTTP/1.0 200 OK\r\nConnection: close\r\n\r\n"
    return f"HTTP/1.0 200 OK\r\nContent-Length: {content_length}\r\nConnection: close\r\n\r\n"


# What each install must be: the versions the suite is about, and the one
# libssl/libcrypto pair its processes may map. The OpenSSL 3 programs are
# the system's, whatever their own versions; the 1.1.1 ones the download's.
V3 = re.escape("%d.%d" % system_openssl3())
EXPECTED = {
    "3": {"curl": rf"^curl \d+\.\d+\.\d+ .*OpenSSL/{V3}\.", "openssl": rf"^OpenSSL {V3}\.",
          "python": rf"^OpenSSL {V3}\.", "nginx": rf"built with OpenSSL {V3}\.",
          "perl": rf"^OpenSSL {V3}\.", "stunnel": rf"Running +with OpenSSL {V3}\.",
          "objects": {"libssl.so.3", "libcrypto.so.3"}},
    "1.1.1": {"curl": r"^curl 7\.74\.0 .*OpenSSL/1\.1\.1w", "openssl": r"^OpenSSL 1\.1\.1w",
              "python": r"^OpenSSL 1\.1\.1w", "nginx": r"built with OpenSSL 1\.1\.1",
              "perl": r"^OpenSSL 1\.1\.1w", "stunnel": r"Running +with OpenSSL 1\.1\.1w",
              "objects": {"libssl.so.1.1", "libcrypto.so.1.1"}},
}


class Install:
    """Where the programs of one OpenSSL version come from."""

    def __init__(self, openssl, build, src):
        self.openssl = openssl
        self.root = None
        self.env = {}
        if openssl == "1.1.1":
            out = subprocess.run(
                [os.path.join(src, "tests", "fetch-bullseye"),
                 os.path.join(build, "tests", "bullseye")] + BULLSEYE_PACKAGES,
                capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr else
                                   "fetch-bullseye failed")
            self.root = out.stdout.strip()
            multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
            lib = ":".join(os.path.join(self.root, d, "lib", multiarch) for d in ("usr", ""))
            # Debian 11's perl looks for its modules where Debian puts them:
            # the download's copies of those directories come first.
            perl = ":".join(os.path.join(self.root, d) for d in (
                f"usr/lib/{multiarch}/perl5/5.32", "usr/share/perl5",
                f"usr/lib/{multiarch}/perl-base", f"usr/lib/{multiarch}/perl/5.32",
                "usr/share/perl/5.32"))
            self.env = {"LD_LIBRARY_PATH": lib, "PYTHONHOME": os.path.join(self.root, "usr"),
                        "PERL5LIB": perl}
        self.pythons = [("python3", self.python())]
        if openssl == "3":
            other = path_python(self.python())
            if other:
                self.pythons.append(other)

    def bin(self, name):
        if self.root:
            return os.path.join(self.root, "usr", "bin", name)
        found = shutil.which(name, path="/usr/bin:/bin:/usr/sbin")
        return found or name

    def sbin(self, name):
        if self.root:
            return os.path.join(self.root, "usr", "sbin", name)
        return shutil.which(name, path="/usr/sbin:/sbin:/usr/bin") or name

    def python(self):
        return self.bin("python3.9") if self.root else "/usr/bin/python3"


PYTHON_PROBE = """
import json, os, platform, ssl, sys
with open("/proc/self/maps") as f:
    libssl = sorted({os.path.realpath(l.split()[-1]) for l in f if "/libssl.so" in l})
print(json.dumps({"exe": os.path.realpath(sys.executable),
                  "version": platform.python_version(), "libssl": libssl}))
"""


def python_probe(python):
    """What a Python is: its real executable, its version, the libssl its ssl
    module maps (None if it cannot run)."""
    try:
        out = subprocess.run([python, "-c", PYTHON_PROBE], capture_output=True, text=True,
                             env=clean_env(), timeout=TIMEOUT)
        return json.loads(out.stdout) if out.returncode == 0 else None
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def path_python(system_python):
    """The python3 first on the PATH of the suite (make check's), when it is
    another interpreter than the system's (a pyenv or /usr/local build, say)
    whose ssl module maps the system's libssl.so.3: then users run it against
    the same OpenSSL, and it is tested too, as ("python3 VERSION (PATH)", its
    real executable). None otherwise."""
    found = shutil.which("python3")
    mine = python_probe(system_python)
    other = python_probe(found) if found else None
    if not mine or not other or other["exe"] == mine["exe"]:
        return None
    if not other["libssl"] or other["libssl"] != mine["libssl"]:
        print(f"# python3 first on PATH ({other['exe']}) maps {other['libssl']}, "
              f"not the system's libssl {mine['libssl']}: not tested")
        return None
    return f"python3 {other['version']} (PATH)", other["exe"]


# --- programs ---------------------------------------------------------------
# A client gets the port; it returns (argv, stdin bytes). wait_end: the
# variant that reads until the server ends the connection (s_client -quiet;
# without it, s_client ends at the end of its stdin, as a user's would).

def curl(inst, port, wait_end=False):
    # The body goes to a file: the runs compare the files written.
    return [inst.bin("curl"), "-sS", "-k", "--max-time", "10", "-o", "response.body",
            f"https://127.0.0.1:{port}/"], b""


def s_client(inst, port, wait_end=False):
    # -quiet implies -ign_eof (wait for the server's end).
    argv = [inst.bin("openssl"), "s_client", "-quiet", "-connect", f"127.0.0.1:{port}"]
    return argv + ([] if wait_end else ["-no_ign_eof"]), b"GET / HTTP/1.0\r\n\r\n"


def socat_client(inst, port, wait_end=False):
    return [inst.bin("socat"), "-t", "2", "-", f"OPENSSL:127.0.0.1:{port},verify=0"], \
        b"GET / HTTP/1.0\r\n\r\n"


def script(name):
    return os.path.join(os.environ["TC_SRCDIR"], "tests", "programs", name)


def py_fetch(inst, port, wait_end=False, python=None):
    return [python or inst.python(), script("py_fetch.py"), f"--port={port}"], b""


def py_read(inst, port, wait_end=False, python=None):
    return [python or inst.python(), script("py_fetch.py"), f"--port={port}",
            "--read-loop"], b""


def perl_fetch(inst, port, wait_end=False):
    return [inst.bin("perl"), script("pl_fetch.pl"), f"--port={port}"], b""


class Tunnel:
    """A client whose plaintext side is a TCP connection, given to it as its
    standard input and output (stunnel in inetd mode): the suite writes the
    request there, and what comes back, and how it ends (clean EOF, reset),
    is the program's output."""

    def __init__(self, request):
        self.request = request


STUNNEL_CONFIG = """\
foreground = yes
pid =
syslog = no
debug = 5
client = yes
connect = 127.0.0.1:{port}
"""


def stunnel_client(inst, port, wait_end=False, config_dir=None):
    # No service section: inetd mode, the plaintext side is stdin/stdout.
    fd, config = tempfile.mkstemp(dir=config_dir, prefix="stunnel-", suffix=".conf")
    with os.fdopen(fd, "w") as f:
        f.write(STUNNEL_CONFIG.format(port=port))
    return [inst.bin("stunnel4"), config], Tunnel(b"GET / HTTP/1.0\r\n\r\n")


# The truncated bodies each client gets: (framing, Content-Length).
BOTH = (("Content-Length", ANNOUNCED), ("close-delimited", None))
CLOSE_DELIMITED = BOTH[1:]

# Every client here is checked sending, and receiving with these framings.
# HTTP::Tiny retries a GET once when the body ends short of its
# Content-Length ("Unexpected end of stream"): against a one-connection peer
# that is "Connection refused" and a port in its message, so close-delimited.
CLIENTS = [("curl", curl, BOTH), ("openssl s_client", s_client, BOTH),
           ("socat OPENSSL:", socat_client, BOTH), ("python3 urllib", py_fetch, BOTH),
           ("perl HTTP::Tiny", perl_fetch, CLOSE_DELIMITED)]


def receivers(inst, tmp):
    """Clients checked on the close-delimited truncation only, where nothing
    but close_notify tells a truncated body from a whole one: a plain Python
    ssl read loop and urllib on each Python of this OpenSSL (the first
    python3 on PATH too when it is another interpreter on the system's
    libssl), and stunnel in client mode (plaintext client -> stunnel ->
    truncating server)."""
    found = []
    for label, python in inst.pythons:
        if python != inst.python():
            found.append((f"{label} urllib", functools.partial(py_fetch, python=python)))
        found.append((f"{label} ssl read loop", functools.partial(py_read, python=python)))
    found.append(("stunnel client", functools.partial(stunnel_client, config_dir=tmp)))
    return found


# A server returns (argv, stream carrying the port, regex for the port,
# whether the peer speaks HTTP to it, whether it serves until stopped: then
# it is stopped with SIGTERM once the connection is over).

def s_server(inst, cert, key):
    return [inst.bin("openssl"), "s_server", "-www", "-accept", "127.0.0.1:0", "-naccept", "1",
            "-cert", cert, "-key", key], "stdout", r"ACCEPT 127\.0\.0\.1:(\d+)", True, False


def py_server(inst, cert, key):
    return [inst.python(), os.path.join(os.environ["TC_SRCDIR"], "tests", "programs",
                                        "py_https_server.py"), f"--cert={cert}", f"--key={key}"], \
        "stdout", r'"port": (\d+)', True, False


def socat_server(inst, cert, key):
    return [inst.bin("socat"), "-d", "-d",
            f"OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,cert={cert},key={key},verify=0",
            # The child reads the request before it answers: a child that
            # exits with "hello" unread resets the socketpair, and socat may
            # then lose "world" (read: Connection reset by peer, exit 1).
            "SYSTEM:read request; echo world"], "stderr", r"listening on .*?127\.0\.0\.1:(\d+)", False, False


def nginx(inst, cert, key):
    # nginx cannot listen on port 0: the launcher binds the port and hands
    # the socket over. It is run by the Python of nginx's own system, so that
    # the environment (LD_LIBRARY_PATH, the library) is right for both.
    return [inst.python(), os.path.join(os.environ["TC_SRCDIR"], "tests", "programs",
                                        "nginx_launch.py"), f"--nginx={inst.sbin('nginx')}",
            f"--cert={cert}", f"--key={key}"], "stdout", r'"port": (\d+)', True, True


SERVERS = [("openssl s_server -www", s_server), ("python3 http.server + ssl", py_server),
           ("socat OPENSSL-LISTEN:", socat_server), ("nginx", nginx)]


def read_port(proc, stream, pattern, what):
    # From the descriptor, not the text file: its readline() may buffer a
    # second line (socat writes two at once), which select() would then
    # wait for in vain.
    fd = getattr(proc, stream).fileno()
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        if not ready:
            raise RuntimeError(f"{what}: no port within {TIMEOUT}s: {buf!r}")
        chunk = os.read(fd, 4096)
        if not chunk:
            raise RuntimeError(f"{what}: exited before listening: {buf!r}")
        buf += chunk
        lines = buf.decode(errors="replace").split("\n")[:-1]  # complete lines only
        m = re.search(pattern, "\n".join(lines))
        if m:
            return int(m.group(1))


def tunnel_run(argv, request, env, cwd):
    """Runs a Tunnel client with a loopback TCP connection as its plaintext
    side; this script is the plaintext client: it sends the request, reads
    to the end, then closes its end as a client would (stunnel waits for
    that). Returns (a CompletedProcess whose stdout says how many bytes the
    plaintext side got and how its stream ended: "eof", "reset" or
    "timeout", and whose stderr is the program's own log with the times,
    ports and paths that differ between runs masked; the bytes received)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        plain = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
        side, _ = listener.accept()
    with plain, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdin=side, stdout=side, stderr=err, env=env, cwd=cwd)
        finally:
            side.close()  # the program holds it now
        got = b""
        try:
            try:
                plain.sendall(request)
                while True:
                    chunk = plain.recv(65536)
                    if not chunk:
                        end = "eof"
                        break
                    got += chunk
            except ConnectionResetError:
                end = "reset"
            except socket.timeout:
                end = "timeout"
            except OSError as e:
                end = f"error ({e.strerror})"
            plain.close()
            proc.wait(timeout=TIMEOUT)
        finally:
            reap(proc)
        err.seek(0)
        log = err.read().decode(errors="replace").replace(argv[-1], "<config>")
    log = re.sub(r"\d{4}\.\d\d\.\d\d \d\d:\d\d:\d\d ", "", log)  # stunnel's times
    log = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", log)
    out = f"plaintext side: {len(got)} bytes, then {end}\n"
    return subprocess.CompletedProcess(argv, proc.returncode, out.encode(), log.encode()), got


# --- a keep-alive connection, this script as the client -----------------------
# The peer's client mode reads to the end after one request, so a connection
# left idle between requests is played here, with /usr/bin/python3's ssl
# (never preloaded) as the strict observer.

def strict_client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # Python >= 3.10 sets it: a bare FIN would then read as a clean b"", not
    # to be told from close_notify.
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def read_response(tls):
    """One HTTP/1.1 response, framed by its Content-Length; its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(4096)
        if not chunk:
            raise RuntimeError(f"connection ended in the response headers: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
    if not m:
        raise RuntimeError(f"no Content-Length: {head!r}")
    while len(body) < int(m.group(1)):
        chunk = tls.recv(4096)
        if not chunk:
            raise RuntimeError(f"connection ended in the response body: {body!r}")
        body += chunk
    return body


def read_end(tls):
    """How the server ends the connection, as the peer reports it."""
    try:
        extra = tls.recv(4096)
        if extra:
            return {"verdict": f"unexpected data: {extra[:60]!r}"}
        return {"verdict": "close_notify", "after": after_close_notify(tls)}
    except ssl.SSLZeroReturnError:
        return {"verdict": "close_notify", "after": after_close_notify(tls)}
    except ssl.SSLEOFError:
        return {"verdict": "eof"}
    except ssl.SSLError as e:
        return {"verdict": "eof" if "UNEXPECTED_EOF" in str(e) else f"TLS error: {e}"}
    except ConnectionResetError:
        return {"verdict": "reset"}
    except socket.timeout:
        return {"verdict": "timeout"}


def after_close_notify(tls):
    """What follows close_notify on the TCP stream: a FIN is expected."""
    tls.settimeout(3)  # as the peer's --timeout=3000
    try:
        return "data" if socket.socket.recv(tls, 1) else "fin"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"


class Runner(Suite):
    def __init__(self, args):
        super().__init__(args, "programs")
        self.rows = {}

    def env(self, inst, policy, notify="on"):
        if policy is None:
            return preload_env(None, extra=inst.env), None
        log = os.path.join(self.tmp, f"log-{len(os.listdir(self.tmp))}")
        return preload_env(self.lib, log, "info", dict(inst.env, TLSCLOSE_EOF=policy,
                                                       TLSCLOSE_NOTIFY=notify)), log

    def unrunnable(self, tap, inst, name, what):
        """Debian 12's curl hangs at start-up with the ASan runtime preloaded
        (tlsclose or not): in sanitizer builds it cannot be run at all."""
        if name == "curl" and inst.openssl == "3" and "libasan" in self.lib:
            tap.skip(f"{name}: {what}", "curl 7.88 hangs with the ASan runtime preloaded")
            return True
        return False

    def client_run(self, inst, client, peer_args, policy, wait_end=False):
        """Runs the client once against a fresh peer, in an empty working
        directory of its own. Returns (process, the peer's verdict, the
        library's events, {file name: contents} of what it wrote there)."""
        cwd = tempfile.mkdtemp(dir=self.tmp, prefix="cwd-")
        peer = subprocess.Popen([self.peer, "server", f"--cert={self.cert}", f"--key={self.key}",
                                 "--timeout=3000"] + peer_args,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=clean_env())
        try:
            port = read_port(peer, "stdout", r'"port":(\d+)', "peer")
            argv, stdin = client(inst, port, wait_end)
            env, log = self.env(inst, policy)
            if isinstance(stdin, Tunnel):
                proc, plaintext = tunnel_run(argv, stdin.request, env, cwd)
            else:
                proc = subprocess.run(argv, input=stdin, capture_output=True, env=env,
                                      cwd=cwd, timeout=TIMEOUT)
            ready, _, _ = select.select([peer.stdout], [], [], TIMEOUT)
            verdict = json.loads(peer.stdout.readline()) if ready else {"verdict": "no verdict"}
        finally:
            reap(peer)
        files = {}
        for f in sorted(os.listdir(cwd)):
            with open(os.path.join(cwd, f), "rb") as fh:
                files[f] = fh.read()
        if isinstance(stdin, Tunnel):
            files["(plaintext side)"] = plaintext
        return proc, verdict, read_events(log), files

    def server_run(self, inst, server, policy, notify="on"):
        argv, stream, pattern, http, until_stopped = server(inst, self.cert, self.key)
        env, log = self.env(inst, policy, notify)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        try:
            port = read_port(proc, stream, pattern, argv[0])
            peer = subprocess.run([self.peer, "client", f"--port={port}", "--timeout=3000"] +
                                  (["--http"] if http else []),
                                  capture_output=True, text=True, timeout=TIMEOUT,
                                  env=clean_env())
            verdict = json.loads(peer.stdout.splitlines()[0])
            if until_stopped:  # the connection is over: stop it
                proc.terminate()
            try:  # each other server ends after its one connection
                proc.communicate(timeout=TIMEOUT if until_stopped else 5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.communicate(timeout=TIMEOUT)
        finally:
            reap(proc)
        return proc.returncode, verdict, read_events(log)

    def versions(self, tap, inst):
        """Each program's version, and the OpenSSL objects the loader maps
        into it when it runs under the library (LD_DEBUG=files lists every
        object loaded, dlopen()ed ones included): exactly one libssl and one
        libcrypto, of the version of this suite."""
        want = EXPECTED[inst.openssl]
        checks = [("curl", [inst.bin("curl"), "--version"], want["curl"]),
                  ("openssl", [inst.bin("openssl"), "version"], want["openssl"]),
                  ("python", [inst.python(), "-c", "import ssl, urllib.request; "
                              "print(ssl.OPENSSL_VERSION)"], want["python"]),
                  ("nginx", [inst.sbin("nginx"), "-V"], want["nginx"]),
                  ("socat", [inst.bin("socat"), "-V"], r"^socat version "),
                  # The modules pl_fetch.pl loads, and the OpenSSL they run on.
                  ("perl", [inst.bin("perl"), "-MHTTP::Tiny", "-MIO::Socket::SSL", "-e",
                            "print Net::SSLeay::SSLeay_version(0), qq(\\n)"], want["perl"]),
                  ("stunnel", [inst.bin("stunnel4"), "-version"], want["stunnel"])]
        checks += [(label, [python, "-c", "import ssl, urllib.request; "
                            "print(ssl.OPENSSL_VERSION)"], want["python"])
                   for label, python in inst.pythons if python != inst.python()]
        for name, argv, pattern in checks:
            what = f"{name} (OpenSSL {inst.openssl} suite): version and OpenSSL objects loaded"
            if self.unrunnable(tap, inst, name, what):
                continue
            env, _ = self.env(inst, "warn")
            env["LD_DEBUG"] = "files"
            try:
                out = subprocess.run(argv, capture_output=True, text=True, env=env,
                                     timeout=TIMEOUT)
            except (subprocess.TimeoutExpired, OSError) as e:
                tap.result(False, what, [f"{type(e).__name__}: {e}"])
                continue
            loaded = set(re.findall(r"file=\S*?(lib(?:ssl|crypto)\.so\.[\d.]+) ",
                                    out.stderr))
            version = [line for line in (out.stdout + out.stderr).splitlines()
                       if re.search(pattern, line)]
            problems = []
            if not version:
                problems.append(f"no line matching {pattern!r}: "
                                f"{(out.stdout + out.stderr)[:300]!r}")
            if loaded != want["objects"]:
                problems.append(f"OpenSSL objects loaded: {sorted(loaded)}, expected "
                                f"{sorted(want['objects'])}")
            tap.result(out.returncode == 0 and not problems,
                       f"{what}: {version[0].strip()[:60] if version else '?'}",
                       problems + [f"exit status {out.returncode}"])

    def no_openssl3(self, tap, inst):
        """The Debian 11 programs must run on OpenSSL 1.1.1 alone: a library
        of Debian 12's (libssh2, say) would bring OpenSSL 3 into the process.
        Checked with the dynamic loader's --list, as they are run."""
        loader = "/lib64/ld-linux-x86-64.so.2"
        lib = inst.env["LD_LIBRARY_PATH"]
        objects = [inst.bin(p) for p in ("curl", "socat", "openssl", "python3.9", "perl",
                                         "stunnel4")]
        objects.append(inst.sbin("nginx"))
        objects += [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(
            inst.root, "usr", "lib", "python3.9", "lib-dynload")) for f in fs if f.startswith("_ssl")]
        objects += [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(
            inst.root, "usr", "lib")) for f in fs if f == "SSLeay.so"]
        for obj in objects:
            out = subprocess.run([loader, "--list", obj], capture_output=True, text=True,
                                 env=dict(clean_env(), LD_LIBRARY_PATH=lib), timeout=TIMEOUT)
            bad = re.findall(r"lib(?:ssl|crypto)\.so\.3\b", out.stdout)
            # python3.9 and perl themselves link no libssl: their _ssl and
            # Net::SSLeay modules do.
            links_ssl = not obj.endswith(("python3.9", "perl"))
            ok = out.returncode == 0 and not bad and "not found" not in out.stdout and \
                (not links_ssl or "libssl.so.1.1" in out.stdout)
            tap.result(ok, f"{os.path.basename(obj)} (Debian 11) loads OpenSSL 1.1.1 only",
                       [out.stdout, out.stderr])

    # --- 1. sending -----------------------------------------------------------

    @staticmethod
    def differences(bare, shim, require_output=False):
        """bare and shim: (process, files written). What differs in exit
        status, standard output, standard error (pids and timestamps aside)
        and files written."""
        (bp, bfiles), (sp, sfiles) = bare, shim
        problems = []
        if sp.returncode != bp.returncode:
            problems.append(f"exit status {sp.returncode}, bare {bp.returncode}")
        for stream in ("stdout", "stderr"):
            b, s = (normalize(getattr(p, stream)) for p in (bp, sp))
            if b != s:
                problems.append(f"{stream} differs: bare {b[:300]!r}, shim {s[:300]!r}")
        if bfiles != sfiles:
            problems.append(f"files written differ: bare "
                            f"{ {k: v[:80] for k, v in bfiles.items()} }, shim "
                            f"{ {k: v[:80] for k, v in sfiles.items()} }")
        if require_output and not (bp.stdout.strip() or bfiles):
            problems.append("the bare run produced no output to compare")
        return problems

    def check_sending(self, tap, name, bare, shim, events, bare_status, shim_status):
        problems = []
        sent = [e for e in events if e.get("event") == "sent"]
        if shim.get("verdict") != "close_notify" or shim.get("extra"):
            problems.append(f"under the library the peer saw {describe(shim)}")
        if bare.get("verdict") == "close_notify" and sent:
            problems.append(f"the program sends close_notify itself, yet the library sent: {sent}")
        if bare.get("verdict") != "close_notify" and not sent:
            problems.append("no sent event for the close_notify the library added")
        if shim_status != bare_status:
            problems.append(f"exit status {shim_status}, bare {bare_status}")
        if shim_status in (-13, 141):
            problems.append("killed by SIGPIPE")
        tap.result(not problems, f"{name}: ends with close_notify under tlsclose "
                   f"(bare: {describe(bare)})",
                   problems + [json.dumps(bare), json.dumps(shim), json.dumps(events)])
        self.row(name)["bare"] = describe(bare)
        self.row(name)["shim"] = describe(shim) + (" (added)" if sent else " (unchanged)")

    def sending(self, tap, inst):
        # Complete response (Content-Length matches): the client ends normally.
        for name, client, _ in CLIENTS:
            args = ["--http", "--response=6", "--content-length=6"]
            if self.unrunnable(tap, inst, name, "sending"):
                continue
            try:
                bp, bare, _, bfiles = self.client_run(inst, client, args, None)
                sp, shim, events, sfiles = self.client_run(inst, client, args, "warn")
                self.check_sending(tap, name, bare, shim, events, bp.returncode, sp.returncode)
                if name == "openssl s_client":
                    # Ending at the end of its stdin, it quits before or
                    # after the response arrived: its output differs from run
                    # to run, bare too. Compared where it reads to the
                    # server's end instead, a close_notify after the response.
                    close = ["--mode=close"] + args
                    bp, _, _, bfiles = self.client_run(inst, client, close, None, wait_end=True)
                    sp, _, _, sfiles = self.client_run(inst, client, close, "warn", wait_end=True)
                problems = self.differences((bp, bfiles), (sp, sfiles), require_output=True)
                tap.result(not problems, f"{name}: output, exit status and files unchanged",
                           problems)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as e:
                tap.result(False, f"{name}: sending", [f"{type(e).__name__}: {e}"])
        for name, server in SERVERS:
            try:
                bs, bare, _ = self.server_run(inst, server, None)
                ss, shim, events = self.server_run(inst, server, "warn")
                if any(e.get("reason") == "quiet" for e in events):
                    # The program chose no close_notify (SSL_set_shutdown
                    # idiom, quiet shutdown): respected by default, overridden
                    # with TLSCLOSE_NOTIFY=always.
                    tap.result(shim.get("verdict") != "close_notify",
                               f"{name}: its deliberate quiet shutdown is respected by default",
                               [json.dumps(shim)])
                    self.row(name)["bare"] = describe(bare)
                    self.row(name)["shim"] = describe(shim) + " (its quiet shutdown respected)"
                    name += " (notify=always)"
                    ss, shim, events = self.server_run(inst, server, "warn", "always")
                self.check_sending(tap, name, bare, shim, events, bs, ss)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError,
                    IndexError) as e:
                tap.result(False, f"{name}: sending", [f"{type(e).__name__}: {e}"])

        self.stopped_while_idle(tap, inst)

    def idle_run(self, inst, policy):
        """nginx answers an HTTP/1.1 request and keeps the connection (keep-
        alive); while it is idle, nginx is stopped with SIGTERM (passed on by
        the launcher): how the connection ends, seen by this script."""
        argv, stream, pattern, _, _ = nginx(inst, self.cert, self.key)
        env, log = self.env(inst, policy)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env)
        try:
            port = read_port(proc, stream, pattern, "nginx")
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
                with strict_client_context().wrap_socket(raw, suppress_ragged_eofs=False) as tls:
                    tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    body = read_response(tls)
                    if body != b"world\n":
                        raise RuntimeError(f"unexpected response body {body[:60]!r}")
                    # The whole response is here: the connection is idle.
                    proc.terminate()
                    verdict = read_end(tls)
            _, err = proc.communicate(timeout=TIMEOUT)
        finally:
            reap(proc)
        return proc.returncode, verdict, read_events(log), err

    def stopped_while_idle(self, tap, inst):
        name = "nginx, SIGTERM with an idle keep-alive connection"
        try:
            bs, bare, _, _ = self.idle_run(inst, None)
            ss, shim, events, err = self.idle_run(inst, "warn")
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as e:
            tap.result(False, f"{name}: sending", [f"{type(e).__name__}: {e}"])
            return
        self.check_sending(tap, name, bare, shim, events, bs, ss)
        # nginx's worker exits without ending its idle connections: only the
        # library's exit handler can send the close_notify.
        sent = [e for e in events if e.get("event") == "sent"]
        tap.result(bare.get("verdict") == "close_notify" or
                   [e.get("trigger") for e in sent] == ["exit"],
                   f"{name}: close_notify sent when the worker exits",
                   [json.dumps(events), err[-2000:]])

    # --- 2. receiving ---------------------------------------------------------

    def clients(self, inst):
        """Every client and the truncated bodies it gets."""
        return CLIENTS + [(name, client, CLOSE_DELIMITED)
                          for name, client in receivers(inst, self.tmp)]

    def receiving(self, tap, inst):
        for name, client, framings in self.clients(inst):
            if self.unrunnable(tap, inst, name, "receiving"):
                continue
            for framing, length in framings:
                args = ["--mode=truncate", "--http", f"--response={PARTIAL}"] + \
                    ([f"--content-length={length}"] if length else [])
                label = f"{name}, truncated {framing} body"
                try:
                    runs = {p: self.client_run(inst, client, args, p, wait_end=True)
                            for p in (None, "warn", "error", "clean")}
                except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as e:
                    tap.result(False, label, [f"{type(e).__name__}: {e}"])
                    continue
                self.check_receiving(tap, name, label, framing, length, runs)

    def check_receiving(self, tap, name, label, framing, length, runs):
        """Each policy against bare. warn: the program behaves exactly as
        bare. error: it fails (exits non-zero; a tunnel's plaintext client
        gets no clean EOF), and says why: the library's own error text,
        which names the missing close_notify. clean: no TLS-level EOF is
        reported; a close-delimited body is a success, a body short of its
        Content-Length stays the HTTP error it is. Every policy: one
        truncation event naming the peer and the exact bytes read (the HTTP
        head and the partial body)."""
        def text(proc):
            return (proc.stdout + proc.stderr).decode(errors="replace")

        def failed(proc, files):
            if "(plaintext side)" in files:
                return not proc.stdout.endswith(b", then eof\n")
            return proc.returncode != 0

        def outcome(proc, files):
            """The table's cell: the exit status; for a tunnel, how the
            plaintext side's stream ended."""
            if "(plaintext side)" in files:
                return proc.stdout.decode().rsplit("then ", 1)[-1].strip()
            return str(proc.returncode)

        bare, _, _, bare_files = runs[None]
        received = len(http_head(length)) + PARTIAL
        cells = {}
        for policy in ("warn", "error", "clean"):
            proc, verdict, events, files = runs[policy]
            problems = []
            trunc = [e for e in events if e.get("event") == "truncation"]
            if len(trunc) != 1 or trunc[0].get("policy") != policy or \
               trunc[0].get("bytes_read") != received:
                problems.append(f"expected one truncation event, policy {policy}, "
                                f"bytes_read {received}: {trunc}")
            elif not str(trunc[0].get("peer", "")).startswith("127.0.0.1:"):
                problems.append(f"the truncation event does not name the peer: {trunc}")
            if proc.returncode in (-13, 141):
                problems.append("killed by SIGPIPE")
            if policy == "warn":
                problems += [f"warn: {d}" for d in
                             self.differences((bare, bare_files), (proc, files))]
            if policy == "error":
                if not failed(proc, files):
                    problems.append("error: the program does not fail: "
                                    f"{proc.stdout.decode(errors='replace').strip()[:100]}, "
                                    f"exit {proc.returncode}")
                if not OWN_EOF_TEXT.search(text(proc)):
                    problems.append("error: the program does not print the library's error "
                                    f"({OWN_EOF_TEXT.pattern!r})")
            if policy == "clean":
                if EOF_TEXT.search(text(proc)) or OWN_EOF_TEXT.search(text(proc)):
                    problems.append("clean: the program reports a TLS-level EOF")
                if framing == "close-delimited" and (proc.returncode != 0 or
                                                     failed(proc, files)):
                    problems.append(f"clean: the close-delimited body fails: "
                                    f"{proc.stdout.decode(errors='replace').strip()[:100]}, "
                                    f"exit {proc.returncode}")
                if framing == "Content-Length" and proc.returncode != 0 and \
                        not SHORT_BODY_TEXT.search(text(proc)):
                    problems.append(f"clean: exit {proc.returncode}, and not for the short body")
            what = "plaintext side" if "(plaintext side)" in files else "exit"
            tap.result(not problems, f"{label}: TLSCLOSE_EOF={policy} ({what} "
                       f"{outcome(proc, files)}, bare {outcome(bare, bare_files)})",
                       problems + [f"bare: {excerpt(text(bare))}",
                                   f"{policy}: {excerpt(text(proc))}", json.dumps(events)])
            cells[policy] = outcome(proc, files)
        self.row(name)[framing] = f"{outcome(bare, bare_files)} / {cells['warn']} / " \
                                  f"{cells['error']} / {cells['clean']}"

    def row(self, name):
        return self.rows.setdefault(name, {})

    def write_table(self):
        columns = ("bare", "shim", "Content-Length", "close-delimited")
        write_table(self.args.table,
                    [f"program (OpenSSL {self.args.openssl})", "peer saw, bare", "under tlsclose",
                     "truncated, Content-Length: exit bare / warn / error / clean",
                     "truncated, close-delimited: exit bare / warn / error / clean"],
                    [[name] + [r.get(c, "n/a") for c in columns] for name, r in self.rows.items()])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openssl", choices=("3", "1.1.1"), required=True)
    ap.add_argument("--table")
    ap.add_argument("--samples", help="unused")
    ap.add_argument("--python", help="unused")
    ap.add_argument("--python-env", action="append", default=[], help="unused")
    args = ap.parse_args()
    tap = Tap()
    runner = Runner(args)
    try:
        inst = Install(args.openssl, runner.build, runner.src)
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        if args.openssl == "1.1.1" and os.environ.get("TC_TEST_REQUIRE_OPENSSL111") != "1":
            print(f"1..0 # SKIP Debian 11 programs unavailable: {e}")
            return 0
        tap.result(False, "Debian 11 programs", [str(e)])
        tap.done()
        return 0
    missing = [p for p in ("curl", "socat", "openssl", "perl", "stunnel4")
               if not os.path.exists(inst.bin(p))]
    missing += [p for p in ("nginx",) if not os.path.exists(inst.sbin(p))]
    if missing:
        tap.result(False, f"programs installed: missing {', '.join(missing)}")
    for name, _, _ in runner.clients(inst):  # the table's rows: the clients first
        runner.row(name)
    runner.versions(tap, inst)
    if inst.root:
        runner.no_openssl3(tap, inst)
    runner.sending(tap, inst)
    runner.receiving(tap, inst)
    if args.table:
        runner.write_table()
    runner.finish(tap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
