"""nginx_launch: an unmodified nginx serving HTTPS on 127.0.0.1:<ephemeral port>.

usage: nginx_launch.py --nginx=PATH --cert=F --key=F [--lifetime=S]

nginx cannot listen on port 0, and choosing a free port for it to bind is
racy. So this launcher binds 127.0.0.1:0 itself and hands the listening
socket to nginx through nginx's own inheritance variable (NGINX="fd;", what
nginx uses for binary upgrades). The master process is on (with
master_process off, nginx 1.22 crashed with an inherited socket), in the
foreground (daemon off), in its own session so that the whole group can be
killed if it must be. Config, pid and temp files live in a temporary
directory, removed at the end; errors go to stderr.

Prints {"port": N} once nginx is started (the socket is already listening, a
connection waits in its queue), then waits for nginx. SIGTERM, SIGINT,
SIGQUIT and SIGHUP are passed on to nginx's master; the launcher exits with
nginx's status. Bounded: after --lifetime seconds (default 60) nginx gets
SIGTERM, 5 seconds later its group gets SIGKILL.

The launcher's environment (LD_PRELOAD, LD_LIBRARY_PATH, TLSCLOSE_*) is
nginx's: run it with the Python of the same system as the nginx.
"""
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

CONFIG = """\
daemon off;
master_process on;
worker_processes 1;
{user}pid {dir}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 64; }}
http {{
    access_log off;
    default_type text/plain;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout 20s;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        root {dir}/html;
    }}
}}
"""


def has_e_option(nginx):
    """-e (error log at startup) exists from nginx 1.19.5: Debian 12's 1.22 has
    it, Debian 11's 1.18 has not (it logs its first lines, such as 'using
    inherited sockets', to the compiled-in /var/log/nginx/error.log, or
    prints an alert on stderr if it cannot open it: harmless)."""
    env = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("TLSCLOSE_")}  # not a run under test
    out = subprocess.run([nginx, "-v"], capture_output=True, text=True, env=env, timeout=10)
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out.stderr)
    return bool(m) and tuple(map(int, m.groups())) >= (1, 19, 5)


def write_config(d, port, cert, key):
    os.makedirs(os.path.join(d, "html"))
    with open(os.path.join(d, "html", "index.html"), "w") as f:
        f.write("world\n")
    # Workers run as nobody when the master is root; nobody could not write
    # the TLSCLOSE_LOG file in the suite's private (0700) directory. As root,
    # keep the workers root: nothing else to arrange. Otherwise the workers
    # are the launcher's user anyway (nginx ignores "user" then, with a
    # warning: hence only as root).
    user = "user root;\n" if os.geteuid() == 0 else ""
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(CONFIG.format(user=user, dir=d, port=port, cert=os.path.abspath(cert),
                              key=os.path.abspath(key)))


def die_with_parent():
    """In nginx's master (before exec): SIGTERM when the launcher dies, even
    by SIGKILL, so that no nginx outlives it (PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    return lambda: libc.prctl(1, signal.SIGTERM, 0, 0, 0)


def stop(proc, lifetime):
    """Waits for nginx, at most lifetime seconds, then stops it; its status."""
    try:
        return proc.wait(timeout=lifetime)
    except subprocess.TimeoutExpired:
        print(f"nginx_launch: nginx still running after {lifetime}s: stopping it",
              file=sys.stderr, flush=True)
        proc.terminate()
    try:
        return proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait()


def main(argv):
    opts = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
    nginx, lifetime = opts["nginx"], float(opts.get("lifetime", 60))
    d = tempfile.mkdtemp(prefix="tlsclose-nginx-")
    proc = None
    try:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        write_config(d, port, opts["cert"], opts["key"])
        argv = [nginx, "-p", d + "/", "-c", os.path.join(d, "nginx.conf")]
        if has_e_option(nginx):
            argv += ["-e", "stderr"]
        env = dict(os.environ, NGINX=f"{listener.fileno()};")

        pending = []  # a signal that comes before nginx is passed on once it runs

        def forward(sig, _frame):
            if proc is None:
                pending.append(sig)
            else:
                proc.send_signal(sig)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGHUP):
            signal.signal(sig, forward)
        proc = subprocess.Popen(argv, env=env, pass_fds=[listener.fileno()],
                                start_new_session=True, preexec_fn=die_with_parent())
        for sig in pending:
            proc.send_signal(sig)
        listener.close()  # nginx holds it now: the port ends with nginx
        print(json.dumps({"port": port}), flush=True)
        status = stop(proc, lifetime)
        return status if status >= 0 else 128 - status
    finally:
        if proc is not None:
            try:  # no worker may outlive the launcher
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if proc.returncode is None:
                proc.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
