"""Shared pieces of the end-to-end test runners (scenarios.py, receive.py):
TAP output, the process environment, reading the peers' JSON lines."""

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile

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
        self.lib = os.environ.get("TLSCLOSE_PRELOAD") or os.environ["TLSCLOSE_LIBRARY"]
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
