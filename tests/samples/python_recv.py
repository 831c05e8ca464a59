#!/usr/bin/python3
"""python_recv: a Python client that reads until the server's close_notify.

CPython's recv() returns b'' for a close_notify only while SSL_get_shutdown()
is exactly SSL_RECEIVED_SHUTDOWN; a close_notify sent on the program's behalf
(an immediate reply, TLSCLOSE_REPLY) must not turn that into an exception.
"""
import socket
import ssl
import sys


def main(argv):
    host, port = "127.0.0.1", None
    for arg in argv[1:]:
        if arg.startswith("--port="):
            port = int(arg[len("--port="):])
        else:
            print("sample: python_recv: unknown argument '%s'" % arg, file=sys.stderr)
            return 2
    if port is None:
        print("sample: python_recv: --port=N is required", file=sys.stderr)
        return 2
    print("sample: python_recv %s" % ssl.OPENSSL_VERSION, file=sys.stderr, flush=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=10))
    sock.sendall(b"hello\n")
    received = 0
    try:
        while True:
            data = sock.recv(4096)
            if not data:
                break
            received += len(data)
    except (ssl.SSLError, OSError) as e:
        print("sample: python_recv: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 1
    sock.close()
    print("ok eof after %d bytes" % received, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
