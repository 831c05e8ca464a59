"""py_read: a plain Python ssl read loop, as a script would write it: sends
an HTTP/1.0 request to 127.0.0.1:PORT over a default client context (no
certificate verification; suppress_ragged_eofs at its default) and reads
until recv() returns b"". Prints the bytes read, or the exception, and exits
1 on any error.

usage: py_read.py --port=N
"""
import socket
import ssl
import sys


def main(argv):
    port = int(next(a.split("=", 1)[1] for a in argv[1:] if a.startswith("--port=")))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    received = 0
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with ctx.wrap_socket(raw) as tls:
                tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
                while True:
                    data = tls.recv(4096)
                    if not data:
                        break
                    received += len(data)
    except Exception as e:  # the program's own report is what the test looks at
        print(f"py_read: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok {received} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
