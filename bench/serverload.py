"""bench/serverload.py: item 6 of make bench, real TLS servers under load.

"If I preload it into my nginx or HAProxy, how much slower does it get?"
nginx 1.22 (TLS 1.3, and TLS 1.2) and HAProxy 2.6 terminating TLS 1.3, each
started three times from configurations written into the bench's
temporary directory: bare, with the library preloaded (LD_PRELOAD in the
server's environment; nginx cleans its workers' environment, but a
preloaded library stays mapped across fork(), which /proc/<worker>/maps
confirms), and bare again: the control. All three stay up for the whole
configuration and the client rotates between them (alternate(): the order
rotates and flips every round), so start-up is never part of a round and
the instances see the same machine state.

The control answers "how far apart are two identical servers here?". Each
wall row shows it beside the library's ratio (bare/bare: median and range
over the rounds), and a bar the library's ratio misses while the control
misses it too is marked NOISE rather than MISSED: the machine cannot tell a
difference that small (it still counts as not met). On two shared virtual
cores the control's keep-alive requests/s and p99 wander by 5-20 % round to
round, more than the bars' 1-2 %.

The load generator is wrk (Debian package wrk), one thread, 64 connections:

* keep-alive: 64 connections each sending requests back to back; requests/s
  and the 50 % and 99 % latencies of wrk --latency (h2load, the other
  Debian-packaged candidate, also reconnects after "Connection: close" and
  stops after an exact number of requests, but reports no percentiles,
  only min/mean/max/sd);
* churn: the same with "Connection: close", so the server ends each
  connection after its one response (nginx and HAProxy both send their own
  close_notify) and wrk opens a new one: connections/s, and the server's CPU
  time per connection. At the end of each connection wrk reads the
  response, sends its own close_notify without reading the server's
  (SSL_shutdown once), and close()s; the next connection resumes the TLS
  session (a session ticket), as browsers do (strace of wrk).

The server runs on one core and wrk on the other (sched_setaffinity; the
driver sleeps while wrk runs); --load-pin=off lets the scheduler place them.
Measured once both ways on the two shared cores, the pinned rounds spread
less (server CPU per connection, nginx TLS 1.3: 0.91-1.12 pinned, 0.76-1.46
not). Either way one wrk thread is the slower side here: the server used
about 40 % of its core, so requests/s and connections/s measure the pair,
and server CPU per request or connection is the figure that shows what the
library costs the server.

Server CPU per connection: the server process's on-CPU time from
/proc/<pid>/schedstat (nanoseconds; the 10 ms ticks of /proc/<pid>/stat are
a step of 0.5 % and more at these round lengths; it falls back to stat where
schedstat is missing), before wrk starts and after the server has gone idle again,
divided by the connections wrk completed (up to 63 connections in flight
when wrk stops count in the CPU time and not in the divisor, bare and
shimmed alike).

Counts, the figures that do not wander: the server under callgrind (nginx
with master_process off, so the one process is the server; HAProxy with one
thread), instructions inside its event loop (--toggle-collect on
ngx_process_events_and_timers / run_poll_loop: start-up and exit do not
count), one connection at a time (wrk -c1, stopped by a script after exactly
n responses), dumped (callgrind_control -d) after a short and a longer run
of each shape; the slope between the two removes each run's fixed part (the
first, full handshake, the end of the keep-alive connection), after a
warm-up run. Run to run, the keep-alive figure repeats within a few
instructions, the churn figure within about 1,000 of 2.5 million, mostly
glibc's _int_malloc (its work depends on the heap's history) and whether a
handshake step finds the client's next flight already there. System calls
the same way: strace -c attached to the serving process of the running
instances.
"""

import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import time

from run import (TIMEOUT, Setup, alternate, clean_env, diff_names, free_port, library_own,
                 per_round, ratio_text, strace_counts, syscall_slope, verdict)

CONNECTIONS = 64
WARMUP_SECONDS = 1
# Requests (keep-alive) and connections (churn) of the warm-up run and of
# the two runs of the callgrind slope. A server's first connections
# allocate more (OpenSSL's caches, glibc's heap): the warm-up takes that,
# which would otherwise land in the short run only. The long run is long
# because glibc's _int_malloc does a varying amount of work, by the heap's
# history: some 100,000 instructions either way per run.
COUNT_SIZES = {False: (200, 300, 1500), True: (20, 30, 430)}
# The same for strace's counts.
SYS_SIZES = {False: (200, 1000), True: (50, 250)}
# The servers' event loops, whose inclusive cost callgrind collects.
LOOP = {"nginx": "ngx_process_events_and_timers", "haproxy": "run_poll_loop"}
# The second bare server of each rotation, the control of the wall rows.
CONTROL = "control"
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


# --- processes ---------------------------------------------------------------------

def cores():
    """(server core, client core) when pinning: the first two CPUs this
    process may use; None when there are fewer than two or pinning is off."""
    allowed = sorted(os.sched_getaffinity(0))
    return tuple(allowed[:2]) if len(allowed) >= 2 else None


def pin(core):
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def cpu_seconds(pid):
    """On-CPU time of the process (its one thread): schedstat's first field
    (ns), else utime + stime from stat (clock ticks)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(pid, limit=10.0):
    """Waits until the process has used no CPU for 50 ms (it finished the
    connections wrk left behind), at most `limit` seconds."""
    end = time.monotonic() + limit
    last = cpu_seconds(pid)
    while time.monotonic() < end:
        time.sleep(0.05)
        now = cpu_seconds(pid)
        if now == last:
            return now
        last = now
    return last


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            out.append(int(d))
    return out


def listens(pid, port):
    """Whether process pid holds the socket listening on 127.0.0.1:port (not
    merely whether something accepts there: another process may have taken
    the port between free_port() and the server's bind())."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            p = line.split()
            if p[1] == f"0100007F:{port:04X}" and p[3] == "0A":
                inode = p[9]
    if inode is None:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                return True
        except OSError:
            pass
    return False


def nginx_conf(b, d, port, version, single):
    """One worker (or, single, no master: the process that serves is the one
    started, for callgrind), no access log, a 3-byte response; every path in
    the directory d so that it runs as root without touching /var.
    keepalive_requests is raised from its default of 1000 so that the
    keep-alive shape measures requests only, not a handshake every 1000."""
    return f"""daemon off;
master_process {"off" if single else "on"};
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {b.cert};
        ssl_certificate_key {b.key};
        ssl_protocols TLSv{version};
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def haproxy_conf(d, port, version):
    """One thread (nginx's one worker's match), TLS terminated on the
    frontend, and the same 3-byte response from `http-request return`
    rather than a backend server: a backend would put a third process on
    the two cores (one for the load generator, one for the server) and
    measure its HTTP handling too, while the library acts only on the TLS
    side."""
    return f"""global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend bench
    bind 127.0.0.1:{port} ssl crt {d}/cert+key.pem ssl-min-ver TLSv{version} ssl-max-ver TLSv{version}
    http-request return status 200 content-type text/plain string "ok\\n"
"""


class LoadServer:
    """nginx or HAProxy on a free port (picked again if another process took
    it), bare or with the library preloaded, pinned to the server core;
    `wrap` runs it under valgrind. self.pid is the process that serves: the
    nginx worker, or the started process (HAProxy, nginx without master)."""

    def __init__(self, b, kind, version, shim, core=None, wrap=(), single=False, label=None):
        self.b = b
        label = label or ("shim" if shim else "bare")
        self.dir = os.path.join(b.tmp, f"{kind}-{version}-{label}" + ("-count" if wrap else ""))
        os.makedirs(self.dir, exist_ok=True)
        if kind == "haproxy":
            with open(os.path.join(self.dir, "cert+key.pem"), "w") as out:
                for p in (b.cert, b.key):
                    with open(p) as f:
                        out.write(f.read())
        self.proc = None
        for _ in range(5):
            port = free_port()
            conf = os.path.join(self.dir, f"{kind}.conf")
            with open(conf, "w") as f:
                f.write(haproxy_conf(self.dir, port, version) if kind == "haproxy"
                        else nginx_conf(b, self.dir, port, version, single))
            argv = ([b.haproxy, "-db", "-f", conf] if kind == "haproxy" else
                    [b.nginx, "-p", self.dir + "/", "-e", os.path.join(self.dir, "error.log"),
                     "-c", conf])
            self.proc = subprocess.Popen([*wrap, *argv], env=b.env(shim), stdin=subprocess.DEVNULL,
                                         stdout=b.log, stderr=b.log, preexec_fn=pin(core))
            end = time.monotonic() + 60
            while self.proc.poll() is None and time.monotonic() < end:
                if listens(self.proc.pid, port):
                    break
                time.sleep(0.05)
            if self.proc.poll() is None and listens(self.proc.pid, port):
                break
            self.stop()  # the port was taken (nginx retries bind() for 2.5 s), or it failed
        else:
            raise Setup(f"{kind} did not start (see {b.log.name} and {self.dir})")
        self.port = port
        self.pid = self.proc.pid
        if kind == "nginx" and not single:
            end = time.monotonic() + 30
            while not children(self.proc.pid) and time.monotonic() < end:
                time.sleep(0.05)
            kids = children(self.proc.pid)
            if len(kids) != 1:
                self.stop()
                raise Setup(f"nginx: {len(kids)} worker processes, expected 1")
            self.pid = kids[0]
        with open(f"/proc/{self.pid}/maps") as f:
            mapped = "libtlsclose.so" in f.read()
        if mapped != shim:
            self.stop()
            raise Setup(f"{kind} process {self.pid}: libtlsclose.so "
                        f"{'not ' if shim else ''}mapped in a {'shimmed' if shim else 'bare'} run")

    def stop(self):
        if self.proc and self.proc.returncode is None:
            # SIGTERM: the fast stop of both (nginx's workers end with the master).
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the client ----------------------------------------------------------------------

def seconds(value, unit):
    return float(value) * UNITS[unit]


def wrk(b, port, secs, churn, conns=CONNECTIONS, core=None):
    """One run of wrk; returns requests, requests/s, p50 and p99 (seconds)."""
    argv = [b.wrk, "-t1", f"-c{conns}", f"-d{secs}s", "--latency"]
    if churn:
        argv += ["-H", "Connection: close"]
    argv.append(f"https://127.0.0.1:{port}/")
    p = subprocess.run(argv, env=clean_env(), stdout=subprocess.PIPE, stderr=b.log, text=True,
                       timeout=secs + 120, preexec_fn=pin(core))
    out = p.stdout
    m = re.search(r"^\s*(\d+) requests in", out, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    lat = {int(q): seconds(v, u) for q, v, u in
           re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.M)}
    if p.returncode != 0 or not m or not rps or len(lat) != 2:
        b.log.write(out)
        raise Setup(f"wrk against port {port} failed (exit {p.returncode}; see {b.log.name})")
    # A wrong answer or a refused connection is a broken set-up; a read error
    # or a time-out (-T 2 s) under load is counted and shown in the table.
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if bad or (errs and int(errs.group(1))) or int(m.group(1)) == 0:
        b.log.write(out)
        raise Setup(f"wrk against port {port}: "
                    f"{bad.group(0) if bad else errs.group(0) if errs else 'no response'}")
    return {"requests": int(m.group(1)), "rps": float(rps.group(1)), "p50": lat[50],
            "p99": lat[99], "errors": sum(int(x) for x in errs.groups()) if errs else 0}


# wrk's thread stops after exactly `limit` responses (its main thread would
# sleep until -d is over: SIGINT, once the script says so, makes it report).
STOP_LUA = """-- bench/serverload.py: stop after exactly args[1] responses
local limit, n = 0, 0
function init(args) limit = tonumber(args[1]) end
function response(status, headers, body)
  n = n + 1
  if n == limit then
    wrk.thread:stop()
    io.stderr:write("tlsclose-bench: stopped\\n")
  end
end
"""


def wrk_exact(b, port, n, churn, core):
    """wrk -c1 for exactly n requests (n connections in churn): wrk's own
    -d stops at the first response after the deadline (or mid-connection at
    its 100 ms timer), leaving a connection half done in the server."""
    script = os.path.join(b.tmp, "stop.lua")
    with open(script, "w") as f:
        f.write(STOP_LUA)
    argv = [b.wrk, "-t1", "-c1", f"-d{TIMEOUT}s", "-s", script]
    if churn:
        argv += ["-H", "Connection: close"]
    argv += [f"https://127.0.0.1:{port}/", "--", str(n)]
    p = subprocess.Popen(argv, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=pin(core))
    r, _, _ = select.select([p.stderr], [], [], TIMEOUT)
    line = p.stderr.readline() if r else ""
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    b.log.write(err)
    m = re.search(r"^\s*(\d+) requests in", out, re.M)
    if "stopped" not in line or not m or int(m.group(1)) != n:
        b.log.write(out)
        raise Setup(f"wrk did not stop after {n} requests (see {b.log.name})")
    return n


def load_run(b, srv, secs, churn, core):
    cpu0 = cpu_seconds(srv.pid)
    res = wrk(b, srv.port, secs, churn, core=core)
    res["cpu"] = settle(srv.pid) - cpu0
    return res


# --- counts ------------------------------------------------------------------------

class Dumps:
    """callgrind's dumps of one server process (callgrind_control -d: the
    counts since the previous dump, then zero)."""

    def __init__(self, b, out, pid):
        self.b, self.out, self.pid, self.n = b, out, pid, 0

    def take(self):
        p = subprocess.run([self.b.callgrind_control, "-d", str(self.pid)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=120)
        self.n += 1
        path = f"{self.out}.{self.n}"
        if p.returncode != 0 or not os.path.exists(path):
            raise Setup(f"callgrind_control -d {self.pid} failed: {p.stdout.strip()}")
        own = library_own(path, os.path.basename(self.b.lib))
        with open(path) as f:
            for line in f:
                if line.startswith("totals:") or line.startswith("summary:"):
                    os.unlink(path)
                    return int(line.split()[1]), own
        raise Setup(f"{path}: no totals")


def counts(b, kind, version, shim, srv_core, cli_core):
    """Instructions per keep-alive request and per churn connection of the
    server's event loop: slope between a short and a longer run of wrk -c1."""
    out = os.path.join(b.tmp, "load-callgrind.out")
    srv = LoadServer(b, kind, version, shim, single=True, core=srv_core,
                     wrap=[b.valgrind, "--tool=callgrind", "-q", f"--toggle-collect={LOOP[kind]}",
                           f"--callgrind-out-file={out}"])
    try:
        d = Dumps(b, out, srv.pid)
        settle(srv.pid)
        d.take()  # start-up's loop iterations (the listening check)
        per = {}
        for churn in (False, True):
            points = []
            for n in COUNT_SIZES[churn]:
                wrk_exact(b, srv.port, n, churn, cli_core)
                settle(srv.pid)
                points.append((d.take(), n))
            ((i1, o1), n1), ((i2, o2), n2) = points[1:]
            per[churn] = ((i2 - i1) / (n2 - n1), (o2 - o1) / (n2 - n1))
        return per
    finally:
        srv.stop()
        for f in os.listdir(b.tmp):
            if f.startswith("load-callgrind.out"):
                os.unlink(os.path.join(b.tmp, f))


def syscalls(b, srv, churn, core):
    """System calls of the serving process per keep-alive request or churn
    connection, total and by name: strace -c attached to it for two exact
    runs of wrk -c1, the slope."""
    out = os.path.join(b.tmp, "load-strace.out")

    def measure(n):
        st = subprocess.Popen([b.strace, "-c", "-U", "calls,name", "-o", out, "-p", str(srv.pid)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        r, _, _ = select.select([st.stderr], [], [], 30)
        line = st.stderr.readline() if r else ""
        try:
            if "attached" not in line:
                raise Setup(f"strace -p {srv.pid}: {line.strip() or 'no answer'}")
            wrk_exact(b, srv.port, n, churn, core)
            settle(srv.pid)
        finally:
            st.send_signal(signal.SIGINT)
            b.log.write(st.communicate(timeout=60)[1])
        return strace_counts(out), n

    return syscall_slope(measure, *SYS_SIZES[churn])


# --- the item ----------------------------------------------------------------------

def version_of(argv, pattern):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError:
        return "?"
    m = re.search(pattern, p.stdout)
    return m.group(1) if m else "?"


def item_load(b, t):
    a = b.args
    b.wrk = shutil.which("wrk")
    b.nginx = shutil.which("nginx") or (os.access("/usr/sbin/nginx", os.X_OK) and "/usr/sbin/nginx")
    b.haproxy = (shutil.which("haproxy")
                 or (os.access("/usr/sbin/haproxy", os.X_OK) and "/usr/sbin/haproxy"))
    b.callgrind_control = shutil.which("callgrind_control")
    cpus = cores() if a.load_pin == "on" else None
    srv_core, cli_core = cpus if cpus else (None, None)
    pinned = (f"server on CPU {srv_core}, wrk on CPU {cli_core}" if cpus else "not pinned")
    configs = []
    if b.nginx:
        v = version_of([b.nginx, "-v"], r"nginx/(\S+)")
        configs += [("nginx", "1.3", f"nginx {v} TLS 1.3"), ("nginx", "1.2", f"nginx {v} TLS 1.2")]
    else:
        t.add("6", "nginx TLS 1.3 and 1.2 under load", "-", "-", "-", "report", "-",
              "SKIP: nginx not installed (Debian package nginx)")
    if b.haproxy:
        v = version_of([b.haproxy, "-v"], r"version (\d[^ ]*?)-")
        configs.append(("haproxy", "1.3", f"HAProxy {v} TLS 1.3 (http-request return)"))
    else:
        t.add("6", "HAProxy TLS 1.3 under load", "-", "-", "-", "report", "-",
              "SKIP: haproxy not installed (Debian package haproxy)")
    if not b.wrk:
        t.add("6", "nginx and HAProxy under load", "-", "-", "-", "report", "-",
              "SKIP: wrk not installed (Debian package wrk)")
        return
    for kind, version, name in configs:
        servers = {}
        try:
            for s in (False, True):
                servers[s] = LoadServer(b, kind, version, s, core=srv_core)
            servers[CONTROL] = LoadServer(b, kind, version, False, core=srv_core, label=CONTROL)
            for s in servers:  # warm-up: caches, session tickets, the page cache
                for churn in (False, True):
                    load_run(b, servers[s], WARMUP_SECONDS, churn, cli_core)
            for churn in (False, True):
                runs = alternate({s: (lambda s=s: load_run(b, servers[s], a.load_seconds, churn,
                                                          cli_core))
                                  for s in servers}, a.load_rounds)
                load_rows(b, t, name, churn, runs, pinned)
            if b.strace:
                for churn, what in ((False, "syscalls/request, keep-alive"),
                                    (True, "syscalls/conn, churn")):
                    sc = {s: syscalls(b, servers[s], churn, cli_core) for s in (False, True)}
                    extra = sc[True][0] - sc[False][0]
                    t.add("6", f"{name}: {what} (strace, 1 conn)", f"{sc[False][0]:.2f}",
                          f"{sc[True][0]:.2f}",
                          f"{extra:+.2f} ({diff_names(sc[True][1], sc[False][1])})", "report",
                          "-", "")
            else:
                t.add("6", f"{name}: syscalls/request, /conn", "-", "-", "-", "report", "-",
                      "SKIP: strace not installed")
        finally:
            for srv in servers.values():
                srv.stop()
        if not b.valgrind or not b.callgrind_control:
            t.add("6", f"{name}: instructions/request (keep-alive), /conn (churn)", "-", "-", "-",
                  "report", "-", "SKIP: valgrind not installed")
            continue
        ir = {s: counts(b, kind, version, s, srv_core, cli_core) for s in (False, True)}
        for churn, what in ((False, "instructions/request, keep-alive"),
                            (True, "instructions/conn, churn")):
            (bare, _), (shim, own) = ir[False][churn], ir[True][churn]
            t.add("6", f"{name}: {what} (callgrind, 1 conn)", f"{bare:.0f}", f"{shim:.0f}",
                  f"{shim - bare:+.0f}", "report", "-", "")
            # The library's own instructions (bench/run.py: library_own): the
            # figure that does not move with the server's heap. Per churn
            # connection it has the bar of the server's CPU per connection
            # (<= x1.01), on the count that does not wander: bare + own is
            # the shimmed server without its heap's noise. (Item 3's +1,500
            # is the bar of the smallest correct client, eight wrapped calls
            # per connection; a server makes twice as many: handshake steps
            # and reads that would block, SSL_get_error after each,
            # SSL_set_shutdown, and OpenSSL's own SSL_clear calls.)
            r = (bare + own) / bare
            t.add("6", f"{name}: {what}, the library's own", "", f"{own:.0f}",
                  f"+{own:.0f} (x{r:.4f} of bare)", "<= x1.01" if churn else "report", "-",
                  verdict(b, r <= 1.01, f"{name} churn instructions") if churn else "")


def wall_verdict(b, r, control, ok, what):
    """ok(ratio) is the bar. Met: ok. Missed while the bare-against-bare
    control met it: MISSED, the library's. Missed while the control missed
    it too: NOISE, this machine cannot tell a difference that small (not
    met either: the bar is not shown to hold)."""
    if ok(r):
        return "ok"
    if not ok(control):
        b.failed.append(f"{what} (noise: bare against bare x{control:.3f})")
        return "NOISE"
    return verdict(b, False, what)


def load_rows(b, t, name, churn, runs, pinned):
    """The wall rows of one shape: shimmed/bare per round, and their median
    against the bar; beside it, the control: the second bare server of the
    same rotation against the first (wall_verdict)."""
    def values(key, s):
        if key == "cpu":
            return [x["cpu"] / x["requests"] for x in runs[s]]
        return [x[key] for x in runs[s]]

    def ratios(key, num):
        return per_round({num: values(key, num), False: values(key, False)}, num, False)

    errors = {s: sum(r["errors"] for r in runs[s]) for s in runs}
    errs = (f" (wrk socket errors: {errors[False]} bare, {errors[True]} shimmed, "
            f"{errors[CONTROL]} control)" if any(errors.values()) else "")

    def row(what, key, scale, fmt, bar=None, ok=None):
        shim, ctl = ratios(key, True), ratios(key, CONTROL)
        r, c = statistics.median(shim), statistics.median(ctl)
        t.add("6", f"{name}: {what}", fmt.format(statistics.median(values(key, False)) * scale),
              fmt.format(statistics.median(values(key, True)) * scale),
              f"x{r:.3f}" + (errs if key == "rps" else ""), bar or "report",
              f"{ratio_text(shim)}; bare/bare {ratio_text(ctl)}",
              wall_verdict(b, r, c, ok, f"{name} {what}") if ok else "")

    if not churn:
        row(f"keep-alive {CONNECTIONS} conns: requests/s ({pinned})", "rps", 1, "{:.0f}",
            ">= x0.99", lambda x: x >= 0.99)
        row("keep-alive: p50 latency ms", "p50", 1e3, "{:.2f}")
        row("keep-alive: p99 latency ms", "p99", 1e3, "{:.2f}", "<= x1.02", lambda x: x <= 1.02)
        row("keep-alive: server CPU us/request", "cpu", 1e6, "{:.2f}")
    else:
        row(f"churn {CONNECTIONS} conns, 1 request each: connections/s", "rps", 1, "{:.0f}",
            ">= x0.99", lambda x: x >= 0.99)
        row("churn: server CPU us/conn", "cpu", 1e6, "{:.1f}", "<= x1.01", lambda x: x <= 1.01)
