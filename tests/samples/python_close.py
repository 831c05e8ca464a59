#!/usr/bin/python3
"""python_close: a Python client that closes its TLS socket without unwrap().

Python's ssl module calls SSL_free (from _ssl) when the socket object goes
away, but never SSL_shutdown unless unwrap() is called. Under the shim the
peer must receive close_notify anyway.
"""
import socket
import ssl
import sys


def main(argv):
    host, port = "127.0.0.1", None
    for arg in argv[1:]:
        if arg.startswith("--port="):
            port = int(arg[len("--port="):])
        elif arg.startswith("--host="):
            host = arg[len("--host="):]
        else:
            print("sample: python_close: unknown argument '%s'" % arg, file=sys.stderr)
            return 2
    if port is None:
        print("sample: python_close: --port=N is required", file=sys.stderr)
        return 2
    print("sample: python_close %s" % ssl.OPENSSL_VERSION, file=sys.stderr, flush=True)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        raw = socket.create_connection((host, port), timeout=10)
        sock = ctx.wrap_socket(raw, server_hostname=host)
        sock.sendall(b"hello\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(64)
            if not chunk:
                break
            data += chunk
    except (OSError, ssl.SSLError) as e:
        print("sample: python_close: %s" % e, file=sys.stderr)
        return 1
    if data != b"world\n":
        print("sample: unexpected response %r" % data, file=sys.stderr)
        return 1
    sock.close()  # deliberately no unwrap(): no close_notify from Python
    print("ok closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
