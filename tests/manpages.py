"""The manual pages in doc/ (TAP): each one is lint-clean for groff, and the
pages cannot silently go stale: every option, value, variable and exit
status of the wrapper (tools/tlsclose.in) appears in tlsclose(1), and every
variable, value, event, event field, trigger, skip reason and interposed
function of the library (shim/*.c) appears in tlsclose(7). The names are
taken from the sources, not from a list kept here.

Pages other than those two (tlsclose-probe(1)) are linted and checked for
their standard sections."""

import glob
import os
import re
import shutil
import subprocess
import sys

from harness import Tap, clean_env

SRC = os.environ.get("TC_SRCDIR") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("TC_BUILDDIR") or SRC
DOC = os.path.join(SRC, "doc")
TIMEOUT = 60  # seconds: hang guard for one groff run


def read(path):
    with open(os.path.join(SRC, path), encoding="utf-8") as f:
        return f.read()


def groff(args, page):
    return subprocess.run(["groff"] + args + [page], capture_output=True, text=True,
                          env=clean_env(), timeout=TIMEOUT)


def flat(text):
    """Whitespace runs collapsed to one space, so that a phrase broken across
    lines still matches."""
    return re.sub(r"\s+", " ", text)


def render(page):
    """The page as plain text (hyphenation off): the whole text, and its
    sections by title (titles are the lines that start in column 0)."""
    r = groff(["-man", "-Tascii", "-P-c", "-P-b", "-P-o", "-P-u", "-rHY=0"], page)
    sections, title = {}, None
    for line in r.stdout.splitlines():
        if re.match(r"^[A-Z][A-Z ]*[A-Z]$", line):
            title = line
            sections[title] = ""
        elif title:
            sections[title] += line + "\n"
    return flat(r.stdout), {t: flat(body) for t, body in sections.items()}


def has_word(text, word):
    """word appears, not as part of a longer option or name."""
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(word), text) is not None


def check_missing(tap, what, page, names, text, match=has_word):
    names = sorted(set(names))
    missing = [n for n in names if not match(text, n)]
    tap.result(bool(names) and not missing,
               f"{os.path.basename(page)} documents every {what} ({len(names)})",
               [f"not found: {', '.join(missing)}"] if missing else
               ["none found in the sources: the test's parser is out of date"] if not names else [])


# --- names from the wrapper --------------------------------------------------------

def wrapper_facts():
    text = read("tools/tlsclose.in")
    main = text.split("# --- main", 1)[1]
    # The option patterns of the main loop: one tab, then "-...)".
    options = []
    for pattern in re.findall(r"^\t(-[^)\s]*)\)", main, re.M):
        for alt in pattern.split("|"):
            alt = re.sub(r"=?\*$", "", alt)
            if alt and alt != "--" and "?" not in alt:
                options.append(alt)
    # The values each option accepts (_tc_set's case arms): "--opt=a|b|c".
    setter = text.split("_tc_set() {", 1)[1].split("\n}\n", 1)[0]
    values = [f"{opt}={vals}" for opt, vals in
              re.findall(r"^\t(--[a-z-]+)\)\n\t\tcase \$_tc_lc in\n\t\t([a-z|]+)\)", setter, re.M)]
    variables = re.findall(r"\b(TLSCLOSE_[A-Z0-9_]+|LD_PRELOAD)\b", text)
    statuses = re.findall(r"(?:_tc_die|exit) ([0-9]+)\b", text)
    pages = re.findall(r"\b([a-z][a-z0-9_.-]*)\(([1-8])\)", text)
    return options, values, variables, statuses, pages


# --- names from the library --------------------------------------------------------

def shim_text():
    return "\n".join(read(p) for p in sorted(
        os.path.relpath(f, SRC) for f in glob.glob(os.path.join(SRC, "shim", "*.[ch]"))))


def library_facts():
    shim = shim_text()
    policy = read("shim/policy.c")
    variables = re.findall(r'"(TLSCLOSE_[A-Z0-9_]+)"', shim)
    # Each variable with choices: "VAR=a|b|c" in the order of its choices
    # array (default first), taken from the first *_choices array used after
    # the variable's name and before the next variable's.
    arrays = {name: re.findall(r'\{ "([a-z0-9]+)", ', body) for name, body in
              re.findall(r"static const struct choice (\w+)\[\] = \{(.*?)\};", policy, re.S)}
    # The rows of the variables[] table that parse a choice: CHOICE(field, list).
    table = re.search(r"variables\[TC_CONFIG_VARIABLES\] = \{(.*?)\n\};", policy, re.S).group(1)
    choices = [f"{var}={'|'.join(arrays[array])}" for var, array in
               re.findall(r'\{ "(TLSCLOSE_[A-Z0-9_]+)",[^{}]*?CHOICE\(\w+, (\w+_choices)\)',
                          table, re.S)]
    wait_max = re.search(r"#define TC_WAIT_MS_MAX ([0-9]+)", read("shim/policy.h")).group(1)

    events = re.findall(r'\.name = "([a-z_]+)"', shim)
    # report, report_wait, tc_report (c, ssl, "NAME"), tc_report_fd ("NAME")
    events += re.findall(r'\b(?:tc_)?report(?:_wait)?\(\s*\w+,\s*\w+,\s*"([a-z_]+)"', shim)
    events += re.findall(r'\btc_report_fd\(\s*"([a-z_]+)"', shim)
    keys = re.findall(r'\.key = "([a-z_]+)"', shim)
    keys += re.findall(r'TC_LEVEL_\w+,\s*"([a-z_]+)",', shim)
    fields = re.findall(r'\\"([a-z_]+)\\":', read("shim/log.c"))

    closing = read("shim/closing.c")
    triggers = re.findall(r'"([a-z]+)"', re.search(r"trigger_names\[\] = \{(.*?)\};", closing).group(1))
    reasons = re.findall(r'\bskipped\(\s*\w+,\s*\w+,\s*"([a-z ]+)"', closing)
    # The decision's table of reasons (closing.c: skips[]; NULL: never logged).
    skips = re.search(r"\} skips\[\] = \{(.*?)\n\};", closing, re.S).group(1)
    reasons += re.findall(r'\] = \{ "([a-z_ ]+)",', skips)
    reasons += re.findall(r'"reason",\s*"([a-z ]+)"', shim)
    # The final skips (tc_report_skipped, every file): each string before
    # the level, a choice included; reasons chosen into a variable first;
    # the program's own close_notify.
    for args in re.findall(r'\btc_report_skipped\(\s*\w+,\s*\w+,(.*?)TC_LEVEL_', shim, re.S):
        reasons += re.findall(r'"([A-Za-z ]+)"', args)
    reasons += re.findall(r'tc_reason_by_program\[\] = "([a-z ]+)"', shim)
    replies = re.findall(r'"([a-z ]+)"', re.search(r'"reply",(.*?)c->fd', shim, re.S).group(1))

    exported = read("tests/exported-symbols.txt").split()
    # The record's size, which the build checks against sizeof on x86-64.
    record_bytes = re.search(r"#define TC_RECORD_BYTES ([0-9]+)", read("shim/record.h")).group(1)
    return dict(variables=variables, choices=choices, wait_max=wait_max, events=events,
                keys=keys, fields=fields, triggers=triggers, reasons=reasons,
                replies=replies, exported=exported, record_bytes=record_bytes)


# --- the test ------------------------------------------------------------------------

def lint(tap, page):
    name = os.path.basename(page)
    for args in (["-ww", "-z", "-man"], ["-ww", "-z", "-Tutf8", "-man"]):
        r = groff(args, page)
        tap.result(r.returncode == 0 and not r.stderr.strip(),
                   f"{name}: groff {' '.join(args)} is clean", [r.stderr])
    text, sections = render(page)
    with open(page, encoding="utf-8") as f:
        source = f.read()
    th = re.search(r"^\.TH\s+(\S+)\s+(\S+)", source, re.M)
    stem, sect = os.path.splitext(name)
    tap.result(th is not None and th.group(1).lower() == stem.lower() and th.group(2) == sect[1:],
               f"{name}: .TH names the page and its section",
               [f".TH {th.group(1)} {th.group(2)}" if th else "no .TH"])
    # A page of this package names the package's version (configure.ac).
    tail = re.search(r'^\.TH\s+\S+\s+\S+\s+"[^"]*"\s+"tlsclose ([^"]+)"', source, re.M)
    version = re.search(r"AC_INIT\(\[[^]]*\],\s*\[([^]]+)\]", read("configure.ac"))
    if tail and version:
        tap.result(tail.group(1) == version.group(1),
                   f"{name}: .TH names the version of configure.ac ({version.group(1)})",
                   [f".TH says tlsclose {tail.group(1)}"])
    wanted = ["NAME", "SYNOPSIS", "DESCRIPTION", "SEE ALSO"]
    absent = [s for s in wanted if s not in sections]
    tap.result(not absent, f"{name}: has the sections {', '.join(wanted)}",
               [f"missing: {', '.join(absent)}"])
    return text, sections


def check_paths(tap, pages):
    """The pages that name installed paths name those this build installs
    to (make's pkglibdir, TC_TEST_PKGLIBDIR), whatever --prefix was, and
    keep no @VARIABLE@ unsubstituted."""
    pkglibdir = os.environ.get("TC_TEST_PKGLIBDIR", "")
    for name in sorted(pages):
        with open(pages[name], encoding="utf-8") as f:
            source = f.read()
        left = sorted(set(re.findall(r"@[A-Za-z_]+@", source)))
        tap.result(not left, f"{name}: every @VARIABLE@ substituted",
                   [f"left: {', '.join(left)}"])
        if not pkglibdir:
            tap.skip(f"{name}: names the configured library path", "TC_TEST_PKGLIBDIR not set")
            continue
        text, sections = render(pages[name])
        library = pkglibdir + "/libtlsclose.so"
        files = sections.get("FILES", "")
        others = sorted(set(re.findall(r"/\S*/libtlsclose\.so", text)) - {library})
        tap.result(library in files and not others,
                   f"{name}: FILES and every example name the configured library path {library}",
                   [f"FILES: {files.strip()}"] + [f"another path: {o}" for o in others])


def main():
    tap = Tap()
    if not shutil.which("groff"):
        print("1..0 # SKIP groff not found (Debian package groff-base)")
        return 0
    # doc/NAME.in is a template: the page checked is the one make generated
    # from it in the build tree (the one installed).
    # (In a build in the source tree the generated page is in DOC as well.)
    pages = {os.path.basename(p): p for p in glob.glob(os.path.join(DOC, "*.[1-8]"))}
    for template in glob.glob(os.path.join(DOC, "*.[1-8].in")):
        name = os.path.basename(template)[:-3]
        page = os.path.join(BUILD, "doc", name)
        tap.result(os.path.exists(page), f"doc/{name} is generated from its template",
                   [f"{page} does not exist: run make first"])
        pages.pop(name, None)
        if os.path.exists(page):
            pages[name] = page
    texts = {name: lint(tap, pages[name]) for name in sorted(pages)}
    check_paths(tap, {name: path for name, path in pages.items()
                      if name in ("tlsclose.1", "tlsclose.7")})

    for required in ("tlsclose.1", "tlsclose.7"):
        tap.result(required in texts, f"doc/{required} exists")

    if "tlsclose.1" in texts:
        page, (text, sections) = "tlsclose.1", texts["tlsclose.1"]
        options, values, variables, statuses, refs = wrapper_facts()
        check_missing(tap, "option of the wrapper", page, options, text)
        check_missing(tap, "option value list of the wrapper", page, values, text,
                      match=lambda t, v: v in t)
        check_missing(tap, "variable the wrapper reads or sets", page, variables, text)
        check_missing(tap, "exit status of the wrapper", page, statuses, sections.get("EXIT STATUS", ""))
        absent = [f"{n}({s})" for n, s in set(refs)
              if not glob.glob(os.path.join(DOC, f"{n}.{s}")) + glob.glob(os.path.join(DOC, f"{n}.{s}.in"))]
        tap.result(bool(refs) and not absent, "the pages the wrapper refers to exist in doc/",
                   [f"missing: {', '.join(sorted(absent))}"])

    if "tlsclose.7" in texts:
        page, (text, sections) = "tlsclose.7", texts["tlsclose.7"]
        f = library_facts()
        check_missing(tap, "variable the library reads", page, f["variables"], text)
        # A long list wraps after a "|" (TLSCLOSE_SYSLOG_FACILITY's): flat() made that "| ".
        check_missing(tap, "variable's values, default first", page, f["choices"], text,
                      match=lambda t, v: v in t.replace("| ", "|"))
        tap.result(has_word(text, "TLSCLOSE_WAIT_MS") and has_word(text, f["wait_max"]),
                   f"{page} gives TLSCLOSE_WAIT_MS's maximum ({f['wait_max']})")
        check_missing(tap, "event", page, f["events"], text)
        check_missing(tap, "event key", page, f["keys"], text)
        check_missing(tap, "JSON field", page, f["fields"], text)
        check_missing(tap, "trigger of a sent event", page, f["triggers"], text)
        check_missing(tap, "skip reason", page, f["reasons"], sections.get("EVENTS", ""))
        check_missing(tap, "reply value of peer_close_notify", page, f["replies"], sections.get("EVENTS", ""))
        check_missing(tap, "interposed function", page, f["exported"], text)
        size = f["record_bytes"]
        stated = {doc: re.findall(r"([0-9]+)(?: |-)bytes?\b[^.]*?\bx86-64|record[^.]*?\b([0-9]+) bytes",
                                  " ".join(read(doc).split()))
                  for doc in ("doc/tlsclose.7.in", "doc/design.md")}
        wrong = {doc: sorted({n for pair in found for n in pair if n and n != size})
                 for doc, found in stated.items()}
        tap.result(all(stated.values()) and not any(wrong.values()),
                   f"{page} and doc/design.md state the record's size as shim/record.h does "
                   f"({size} bytes)", [f"{doc}: {found}" for doc, found in stated.items()])

    tap.done()
    return 0


if __name__ == "__main__":
    sys.exit(main())
