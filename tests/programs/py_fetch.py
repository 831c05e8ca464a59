"""py_fetch: fetch https://127.0.0.1:PORT/ as a Python program would,
without certificate verification and with suppress_ragged_eofs at its
default: with urllib, or with --read-loop as a plain ssl socket read loop
(an HTTP/1.0 request, then recv() until it returns b""). Prints the bytes
read, or the exception, and exits 1 on any error.

usage: py_fetch.py --port=N [--read-loop]
"""
import socket
import ssl
import sys
import urllib.request


def urllib_fetch(port, ctx):
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=ctx, timeout=10) as r:
        return len(r.read())


def read_loop(port, ctx):
    received = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as tls:
            tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while True:
                data = tls.recv(4096)
                if not data:
                    return received
                received += len(data)


def main(argv):
    port = int(next(a.split("=", 1)[1] for a in argv[1:] if a.startswith("--port=")))
    fetch = read_loop if "--read-loop" in argv[1:] else urllib_fetch
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        received = fetch(port, ctx)
    except Exception as e:  # the program's own report is what the test looks at
        print(f"py_fetch: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok {received} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
