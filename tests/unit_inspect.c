/* unit_inspect: the parts of the wrapper's helper (tools/inspect/) that
 * need no program built for them: library names, ELF files that are not
 * what they claim, "#!" lines, PATH look-ups. The verdicts on real
 * programs are tests/inspect.test's. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tools/inspect/chain.h"
#include "../tools/inspect/elf_file.h"
#include "../tools/inspect/resolve.h"
#include "../tools/inspect/tls_libs.h"
#include "tap.h"

static char dir[] = "/tmp/unit_inspect.XXXXXX";

/* dir/name with the given bytes and mode; its path in a static buffer. */
static const char *make_file(const char *name, const void *bytes, size_t len, mode_t mode)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, bytes, len) != (ssize_t)len || close(fd) < 0) {
        printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
        exit(0);
    }
    chmod(path, mode);
    return path;
}

static const char *make_script(const char *name, const char *text)
{
    return make_file(name, text, strlen(text), 0755);
}

static void library_names(void)
{
    static const struct {
        const char *name;
        enum tls_kind kind;
        const char *what;
    } cases[] = {
        { "libssl.so.3", TLS_OPENSSL, "OpenSSL 3.x" },
        { "/lib/x86_64-linux-gnu/libssl.so.3", TLS_OPENSSL, "OpenSSL 3.x" },
        { "libssl.so.1.1", TLS_OPENSSL, "OpenSSL 1.1.1" },
        { "libssl.so.30", TLS_OPENSSL_OTHER, NULL },  /* not "libssl.so.3" */
        { "libssl.so.1.0.0", TLS_OPENSSL_OTHER, NULL },
        { "libssl.so.10", TLS_OPENSSL_OTHER, NULL },
        { "libssl.so.53", TLS_OPENSSL_OTHER, NULL },  /* LibreSSL */
        { "libssl3.so", TLS_FOREIGN, "NSS" },         /* NSS's, not OpenSSL's */
        { "libnss3.so", TLS_FOREIGN, "NSS" },
        { "libgnutls.so.30", TLS_FOREIGN, "GnuTLS" },
        { "libwolfssl.so.35", TLS_FOREIGN, "wolfSSL" },
        { "libcrypto.so.3", TLS_NONE, NULL },
        { "libsslcommon.so.1", TLS_NONE, NULL },
        { "libc.so.6", TLS_NONE, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct tls_name t = tls_library(cases[i].name);
        ok(t.kind == cases[i].kind && (!cases[i].what || strcmp(t.what, cases[i].what) == 0),
           "library %s: kind %d%s%s", cases[i].name, (int)cases[i].kind,
           cases[i].what ? ", " : "", cases[i].what ? cases[i].what : "");
    }
    struct runtime r = runtime_of_program("/usr/bin/python3.11");
    ok(r.name && strcmp(r.name, "Python") == 0 && r.tls == RUNTIME_LOADS_OPENSSL,
       "program python3.11 is Python, which loads libssl");
    r = runtime_of_program("/usr/lib/jvm/bin/java");
    ok(r.name && strcmp(r.name, "Java") == 0 && r.tls == RUNTIME_OWN_TLS, "java has its own TLS");
    ok(!runtime_of_program("/bin/ls").name, "ls is no runtime");
    r = runtime_of_library("libruby-3.1.so.3.1");
    ok(r.name && strcmp(r.name, "Ruby") == 0, "libruby-3.1.so.3.1 is Ruby's");
}

static void elf_files(void)
{
    struct elf_file e;
    char why[128];

    ok(elf_read("/proc/self/exe", &e, why, sizeof why) == 0 && e.bits == (int)sizeof(void *) * 8 &&
           e.dynamic && e.n_needed > 0 && e.symbols_read,
       "this program: its class, a dynamic section, DT_NEEDED, a .dynsym");
    int links_libc = 0;
    for (size_t i = 0; i < e.n_needed; i++)
        links_libc |= strncmp(e.needed[i], "libc.so", 7) == 0;
    ok(links_libc, "this program: libc among DT_NEEDED");
    ok(!(e.symbols & ELF_DEFINES_SSL_READ), "this program: defines no SSL_read");
    elf_free(&e);

    /* Broken files: one line of reason, never a crash. */
    static const unsigned char not_elf[] = "#!/bin/sh\n";
    make_file("not-elf", not_elf, sizeof not_elf - 1, 0755);
    ok(elf_read(make_file("not-elf", not_elf, sizeof not_elf - 1, 0755), &e, why, sizeof why) < 0 &&
           strcmp(why, "not an ELF file") == 0,
       "a script is not an ELF file");
    ok(elf_read(make_file("empty", "", 0, 0755), &e, why, sizeof why) < 0, "an empty file is not ELF");

    unsigned char buf[4096];
    int fd = open("/proc/self/exe", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    if (fd >= 0)
        close(fd);
    if (n < 128) {
        ok(0, "reading this program's first bytes");
        return;
    }
    ok(elf_read(make_file("header-only", buf, 64, 0755), &e, why, sizeof why) < 0,
       "an ELF header without its program headers: rejected (%s)", why);
    ok(elf_read(make_file("half-header", buf, 30, 0755), &e, why, sizeof why) < 0,
       "half an ELF header: rejected (%s)", why);
    unsigned char bad[4096];
    memcpy(bad, buf, (size_t)n);
    bad[5] = bad[5] == 1 ? 2 : 1; /* EI_DATA: the other byte order */
    ok(elf_read(make_file("other-order", bad, (size_t)n, 0755), &e, why, sizeof why) < 0 &&
           strstr(why, "byte order"),
       "an ELF file of the other byte order: rejected (%s)", why);
    memcpy(bad, buf, (size_t)n);
    memset(bad + 64, 0xff, (size_t)n - 64); /* program headers of garbage */
    int rc = elf_read(make_file("garbage-phdrs", bad, (size_t)n, 0755), &e, why, sizeof why);
    ok(1, "program headers of garbage: no crash (%s)", rc < 0 ? why : "read");
    if (rc == 0)
        elf_free(&e);
}

static void shebangs(void)
{
    struct chain c;
    char sh[PATH_MAX];

    chain_follow(make_script("opt", "#!/bin/sh -e  \n"), &c);
    ok(c.n == 2 && c.link[0].kind == LINK_SCRIPT && strcmp(c.link[0].interp, "/bin/sh") == 0 &&
           strcmp(c.link[0].arg, "-e") == 0 && strcmp(c.link[1].path, "/bin/sh") == 0,
       "#!/bin/sh -e: interpreter and its one argument, trailing blanks dropped");
    ok(resolve_command("sh", sh, sizeof sh) == RESOLVE_FOUND, "sh is in PATH");

    chain_follow(make_script("env-s", "#! /usr/bin/env -S -i A=1 -u HOME sh -x\n"), &c);
    ok(c.n == 3 && is_env(c.link[1].path) && c.link[2].by_env && strcmp(c.link[2].path, sh) == 0,
       "#!/usr/bin/env -S -i A=1 -u HOME sh -x: env runs sh (%s)", c.n == 3 ? c.link[2].path : "-");

    chain_follow(make_script("env-missing", "#!/usr/bin/env no-such-program-tlsclose\n"), &c);
    ok(c.n == 3 && c.link[2].kind == LINK_MISSING && c.link[2].by_env &&
           strcmp(c.link[2].path, "no-such-program-tlsclose") == 0,
       "#!/usr/bin/env MISSING: the missing program named");

    chain_follow(make_script("bare", "#!\necho\n"), &c);
    ok(c.n == 2 && c.link[0].kind == LINK_OTHER && c.link[1].by_shell,
       "#! without an interpreter: run by /bin/sh, like any other text");

    chain_follow(make_script("crlf", "#!/bin/sh\r\n"), &c);
    ok(c.n == 2 && c.link[1].kind == LINK_MISSING && strcmp(c.link[1].path, "/bin/sh\r") == 0,
       "#!/bin/sh<CR>: the kernel looks for \"/bin/sh\\r\", which is missing");

    /* Five levels of scripts run (level4 ... level0, then /bin/sh); a
     * sixth is one more than the kernel follows. */
    char text[PATH_MAX + 8], name[16];
    make_script("level0", "#!/bin/sh\n");
    for (int i = 1; i <= 6; i++) {
        snprintf(text, sizeof text, "#!%s/level%d\n", dir, i - 1);
        snprintf(name, sizeof name, "level%d", i);
        make_script(name, text);
    }
    snprintf(text, sizeof text, "%s/level4", dir);
    chain_follow(text, &c);
    ok(!c.too_deep && c.n == 6, "five levels of #! scripts are followed to /bin/sh");
    snprintf(text, sizeof text, "%s/level5", dir);
    chain_follow(text, &c);
    ok(c.too_deep, "six levels are too deep");
}

static void look_ups(void)
{
    char path[PATH_MAX], want[PATH_MAX];

    make_script("tool", "#!/bin/sh\n");
    make_file("data", "x", 1, 0644);
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    snprintf(want, sizeof want, "/no/such/dir::%s", dir);
    setenv("PATH", want, 1);
    snprintf(want, sizeof want, "%s/tool", dir);
    ok(resolve_command("tool", path, sizeof path) == RESOLVE_FOUND && strcmp(path, want) == 0,
       "found in PATH after a missing and an empty entry");
    ok(resolve_command("data", path, sizeof path) == RESOLVE_NOT_EXECUTABLE,
       "a non-executable file in PATH: not executable");
    ok(resolve_command("", path, sizeof path) == RESOLVE_NOT_FOUND, "an empty name: not found");
    ok(resolve_command("no-such-tool", path, sizeof path) == RESOLVE_NOT_FOUND, "not found");
    if (old)
        setenv("PATH", old, 1);
    free(old);
    if (chdir(dir) == 0) {
        unsetenv("PWD");
        ok(resolve_command("./tool", path, sizeof path) == RESOLVE_FOUND && strcmp(path, want) == 0,
           "./tool made absolute: %s", path);
    }
    ok(resolve_command(dir, path, sizeof path) == RESOLVE_NOT_EXECUTABLE, "a directory: not executable");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 0;
    }
    library_names();
    elf_files();
    shebangs();
    look_ups();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
    return tap_done();
}
