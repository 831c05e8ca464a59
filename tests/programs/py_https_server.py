"""py_https_server: Python's http.server wrapped with ssl, serving one request.

usage: py_https_server.py --cert=F --key=F
Serves a small page on 127.0.0.1, an ephemeral port printed as {"port":N},
for one request, then exits. Ends its connections as http.server does:
close() of the SSL socket, no unwrap().
"""
import functools
import http.server
import json
import os
import ssl
import sys
import tempfile


def main(argv):
    opts = dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts["cert"], opts["key"])
    with tempfile.TemporaryDirectory() as root:
        with open(os.path.join(root, "index.html"), "w") as f:
            f.write("world\n")
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=root)
        handler.log_message = lambda *args: None
        httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        print(json.dumps({"port": httpd.server_address[1]}), flush=True)
        httpd.timeout = 10
        httpd.handle_request()
        httpd.server_close()
    print("ok served", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
