/* check.c: "tlsclose --check COMMAND": the facts, one level of the "#!"
 * chain after the other, and the verdict (yes 0, no 1, maybe 3; see
 * analysis.h for the order of the reasons). Reads files and runs a trusted
 * loader in list mode; never runs COMMAND. */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "chain.h"
#include "inspect.h"
#include "privilege.h"
#include "resolve.h"

static void fact(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A line of the report, made printable (names and paths are the files'). */
static void line(const char *fmt, ...)
{
    char text[3 * PATH_MAX], shown[3 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    printf("%s\n", printable(text, shown, sizeof shown));
}

/* One fact of the current level: "  key: value", on one line whatever
 * the file holds (an interpreter path or a soname is the file's text). */
static void fact(const char *key, const char *fmt, ...)
{
    char text[3 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    line("  %s: %s", key, text);
}

static const char *yes_no(unsigned symbols, unsigned bit)
{
    return symbols & bit ? "yes" : "no";
}

/* The first reason, at any level, why the loader ignores LD_PRELOAD. */
struct outcome {
    enum verdict verdict;
    char reason[600];
    const char *subject; /* the file the verdict is about */
};

static void no(struct outcome *o, const char *subject, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void no(struct outcome *o, const char *subject, const char *fmt, ...)
{
    va_list ap;
    if (o->reason[0])
        return; /* the first reason wins */
    o->verdict = VERDICT_NO;
    o->subject = subject;
    va_start(ap, fmt);
    vsnprintf(o->reason, sizeof o->reason, fmt, ap);
    va_end(ap);
}

static void privilege_facts(const char *path, struct outcome *o)
{
    struct privilege p;
    privilege_of(path, &p);
    if (p.mode) {
        fact("setuid/setgid", "%s: the dynamic loader ignores LD_PRELOAD for it", p.mode);
        no(o, path, "%s program: the dynamic loader ignores LD_PRELOAD for it", p.mode);
    } else {
        fact("setuid/setgid", "no");
    }
    if (p.caps[0]) {
        fact("file capabilities", "%s: the dynamic loader ignores LD_PRELOAD for it", p.caps);
        no(o, path, "program with file capabilities (%s): the dynamic loader ignores LD_PRELOAD for it",
           p.caps);
    } else {
        fact("file capabilities", p.caps_unknown ? "unknown (cannot read them)" : "none");
    }
}

static void library_facts(const struct analysis *a)
{
    const struct elf_file *e = &a->elf;
    size_t n = analysis_libraries(a);

    if (a->closure)
        fact("libraries", "%zu, as %s --list finds them", n, a->deps.loader);
    else if (a->closure_tried && a->deps.status == DEPS_NO_LOADER)
        fact("libraries", "%zu direct ones (DT_NEEDED; no system loader of its machine to list all)", n);
    else if (a->closure_tried)
        fact("libraries", "%zu direct ones (DT_NEEDED; %s --list failed: %s)", n, a->deps.loader,
             a->deps.why);
    if (e->runpath)
        fact("runpath", "%s", e->runpath);
    int tls = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = analysis_library_name(a, i), *path = analysis_library_path(a, i);
        struct tls_name t = tls_library(name);
        char where[PATH_MAX + 8] = "";
        if (a->closure)
            snprintf(where, sizeof where, " => %s", path ? path : "not found");
        if (t.kind == TLS_OPENSSL && a->closure && !path)
            fact("libssl", "%s => not found: the program cannot start", name);
        else if (t.kind == TLS_OPENSSL)
            fact("libssl", "%s%s (%s, supported)", name, where, t.what);
        else if (t.kind == TLS_OPENSSL_OTHER)
            fact("libssl", "%s%s (%s: not supported)", name, where, t.what);
        else if (t.kind == TLS_FOREIGN)
            fact("TLS library", "%s%s (%s): connections made through it are out of the library's reach",
                 name, where, t.what);
        tls += t.kind != TLS_NONE;
    }
    if (!tls)
        fact("TLS libraries", "none among its libraries");
    if (a->ssl_in_library)
        fact("OpenSSL in a library", "%s defines SSL_read", a->ssl_in_library);
}

static void elf_facts(const char *path, struct outcome *o)
{
    struct analysis a;
    char machine[32];

    analyse_elf(path, true, &a);
    const struct elf_file *e = &a.elf;
    if (a.unreadable) {
        fact("type", "ELF, unreadable (%s)", a.why);
    } else {
        fact("type", "ELF %d-bit %s %s%s", e->bits, elf_machine_name(e->machine, machine, sizeof machine),
             e->type == 2 /* ET_EXEC */ ? "executable" : e->pie || e->interp ? "position-independent executable" : "shared object",
             e->go ? ", built by Go" : "");
    }
    privilege_facts(path, o);
    if (!a.unreadable) {
        if (e->interp)
            fact("linking", "dynamic (program interpreter %s)", e->interp);
        else
            fact("linking", "static (no program interpreter): LD_PRELOAD has no effect on it");
    }
    if (!a.unreadable && !a.other_machine && e->interp) {
        library_facts(&a);
        if (e->symbols_read) {
            fact("OpenSSL in the executable", "%s", e->symbols & ELF_DEFINES_SSL_READ
                 ? "yes (it defines SSL_read itself)" : "no (it does not define SSL_read)");
            fact("loads libraries at run time", "%s (%s)", yes_no(e->symbols, ELF_IMPORTS_DLOPEN),
                 e->symbols & ELF_IMPORTS_DLOPEN ? "imports dlopen" : "does not import dlopen");
            fact("runs other programs", "%s (%s)", yes_no(e->symbols, ELF_IMPORTS_EXEC),
                 e->symbols & ELF_IMPORTS_EXEC ? "imports exec, posix_spawn, system or popen"
                                               : "imports none of exec, posix_spawn, system, popen");
        } else {
            fact("symbols", "unknown (no dynamic symbol table found)");
        }
        if (a.runtime.name && !a.libssl && !(e->symbols & ELF_DEFINES_SSL_READ))
            fact("runtime", "%s%s%s: %s %s", a.runtime.name, a.runtime_library ? ", through " : "",
                 a.runtime_library ? a.runtime_library : "",
                 a.runtime.tls == RUNTIME_OWN_TLS ? "its TLS is" : "loads libssl at run time",
                 a.runtime.how);
    }
    if (!o->reason[0]) {
        o->verdict = a.verdict;
        o->subject = path;
        snprintf(o->reason, sizeof o->reason, "%s", a.reason);
    }
    analysis_free(&a);
}

static const char *level_label(const struct chain *c, int i)
{
    const struct link *l = &c->link[i];
    if (i == 0)
        return l->kind == LINK_SCRIPT ? "script" : "program";
    if (l->by_env)
        return "program run by env";
    if (l->by_shell)
        return "shell";
    return "interpreter";
}

static void link_facts(const struct chain *c, int i, struct outcome *o)
{
    const struct link *l = &c->link[i];
    char real[PATH_MAX];

    line("%s: %s", level_label(c, i), l->path);
    if (l->kind == LINK_MISSING) {
        fact("type", "not found%s", l->by_env ? " in PATH" : "");
        no(o, l->path, "%s %s not found", l->by_env ? "the program env runs," : "its interpreter", l->path);
        return;
    }
    if (realpath(l->path, real) && strcmp(real, l->path) != 0)
        fact("resolves to", "%s", real);
    switch (l->kind) {
    case LINK_DIRECTORY:
        fact("type", "directory");
        no(o, l->path, "%s is a directory, not an executable file", l->path);
        return;
    case LINK_NOT_EXECUTABLE:
        fact("type", "not executable");
        no(o, l->path, "%s is not an executable file", l->path);
        return;
    case LINK_UNREADABLE:
        fact("type", "unreadable, cannot inspect it");
        no(o, l->path, "cannot read %s", l->path);
        return;
    case LINK_EMPTY:
        fact("type", "empty file");
        no(o, l->path, "%s is an empty file", l->path);
        return;
    default:
        break;
    }
    if (l->kind == LINK_SCRIPT)
        fact("type", "script (#!%s)", l->line);
    else if (l->kind == LINK_OTHER)
        fact("type", "neither ELF nor a #! script: a shell runs it with /bin/sh");
    else if (i + 1 < c->n)
        fact("type", "ELF, env(1): runs the next program, which it finds in PATH");
    if (l->kind == LINK_ELF && i + 1 == c->n)
        elf_facts(l->path, o); /* type, privileges, linking, ... */
    else
        privilege_facts(l->path, o);
}

int check_command(const char *command)
{
    char path[PATH_MAX], shown[256];
    struct chain c;
    struct outcome o = { VERDICT_NO, "", NULL };
    int quiet, status;

    if ((status = validate_environment(&quiet)) != 0)
        return status;
    if (resolve_command(command, path, sizeof path) == RESOLVE_NOT_FOUND) {
        message("%s: command not found", printable(command, shown, sizeof shown));
        return EXIT_USAGE;
    }
    chain_follow(path, &c);
    for (int i = 0; i < c.n; i++)
        link_facts(&c, i, &o);
    if (c.too_deep)
        no(&o, path, "more than 5 levels of #! scripts: the kernel refuses to run it");
    const char *subject = o.subject ? o.subject : path;
    char about[2 * PATH_MAX + 64];
    if (strcmp(subject, path) == 0)
        snprintf(about, sizeof about, "%s", subject);
    else
        snprintf(about, sizeof about, "%s (the interpreter of %s)", subject, path);
    switch (o.verdict) {
    case VERDICT_YES:
        line("verdict: yes: the library can act on %s: %s", about, o.reason);
        break;
    case VERDICT_MAYBE:
        line("verdict: maybe: %s: %s", about, o.reason);
        break;
    default:
        line("verdict: no: the library cannot act on %s: %s", about, o.reason);
        break;
    }
    return (int)o.verdict;
}
