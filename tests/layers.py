#!/usr/bin/env python3
"""tests/layers.py: the layers of shim/ run one way (doc/design.md, Layers of
shim/). A module is a .c file with its .h; a module depends on another when
it includes its header or, in the built library's objects, refers to a
symbol the other defines (which catches a declaration written by hand
instead of an include). The dependency graph must have no cycle.

Usage: layers.py [SRCDIR [BUILDDIR]] (default: TC_SRCDIR and TC_BUILDDIR,
which make check sets). TAP output."""

import glob
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)\.h"', re.M)


def modules(shim):
    names = {os.path.splitext(os.path.basename(p))[0]
             for p in glob.glob(os.path.join(shim, "*.[ch]"))}
    names.discard("config")  # Autoconf's, not a module
    return names


def include_edges(shim, names):
    edges = set()
    for path in glob.glob(os.path.join(shim, "*.[ch]")):
        mod = os.path.splitext(os.path.basename(path))[0]
        with open(path) as f:
            for inc in INCLUDE.findall(f.read()):
                if inc in names and inc != mod:
                    edges.add((mod, inc, "includes"))
    return edges


def symbol_edges(objdir, names):
    """(module, module, symbol) from nm of the library's objects, or None
    when they are not built."""
    objs = {}
    # The internals are compiled into shim/libtlsclose_core.la, the
    # exported wrappers into libtlsclose.la itself (Makefile.am); the newest
    # object of a module wins over one a build before that split left.
    for path in sorted(glob.glob(os.path.join(objdir, "libtlsclose*_la-*.o")),
                       key=os.path.getmtime):
        m = re.fullmatch(r"libtlsclose(?:_core)?_la-(\w+)\.o", os.path.basename(path))
        if m and m.group(1) in names:
            objs[m.group(1)] = path
    if not objs:
        return None
    defined, used = {}, {}
    for mod, path in objs.items():
        out = subprocess.run(["nm", path], stdout=subprocess.PIPE, text=True, check=True).stdout
        used[mod] = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBRVWC":
                defined[parts[2]] = mod
            elif len(parts) == 2 and parts[0] == "U":
                used[mod].add(parts[1])
    return {(mod, defined[s], s) for mod, syms in used.items() for s in syms
            if s in defined and defined[s] != mod}


def find_cycle(nodes, graph):
    """A cycle as a list of modules, or None (depth-first search)."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(nodes):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def main():
    args = sys.argv[1:] + [None, None]
    src = args[0] or os.environ.get("TC_SRCDIR", ".")
    build = args[1] or os.environ.get("TC_BUILDDIR", ".")
    shim = os.path.join(src, "shim")
    names = modules(shim)
    edges = include_edges(shim, names)
    syms = symbol_edges(os.path.join(build, "shim", ".libs"), names)
    if syms is None:
        syms = symbol_edges(os.path.join(build, "shim"), names)
    print("1..2")
    graph = {}
    why = {}
    for a, b, w in edges:
        graph.setdefault(a, set()).add(b)
        why.setdefault((a, b), w)
    cycle = find_cycle(names, graph)
    print(("ok" if not cycle else "not ok") + " 1 - no include cycle inside shim/"
          + (f": {' -> '.join(cycle)}" if cycle else ""))
    if syms is None:
        print("ok 2 # SKIP the library's objects are not built")
        return 0
    for a, b, s in syms:
        graph.setdefault(a, set()).add(b)
        why.setdefault((a, b), f"uses {s}")
    cycle = find_cycle(names, graph)
    detail = ""
    if cycle:
        detail = ": " + ", ".join(f"{a} -> {b} ({why[(a, b)]})" for a, b in zip(cycle, cycle[1:]))
    print(("ok" if not cycle else "not ok") + " 2 - no cycle of includes and symbol references"
          + detail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
