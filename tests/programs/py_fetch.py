"""py_fetch: fetch https://127.0.0.1:PORT/ with urllib, as a Python program
would, without certificate verification. Prints the body length, or the
exception, and exits 1 on any error.

usage: py_fetch.py --port=N
"""
import ssl
import sys
import urllib.request


def main(argv):
    port = next(a.split("=", 1)[1] for a in argv[1:] if a.startswith("--port="))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=ctx, timeout=10) as r:
            body = r.read()
    except Exception as e:  # the program's own report is what the test looks at
        print(f"py_fetch: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"ok {len(body)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
