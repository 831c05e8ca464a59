/* privilege.c: setuid, setgid and file capabilities (see privilege.h). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "privilege.h"

/* Names as getcap(8) prints them, by capability number (linux/capability.h). */
static const char *const cap_names[] = {
    "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid",
    "cap_kill", "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable",
    "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin", "cap_net_raw",
    "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot",
    "cap_sys_ptrace", "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice",
    "cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease",
    "cap_audit_write", "cap_audit_control", "cap_setfcap", "cap_mac_override",
    "cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend", "cap_audit_read",
    "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
};
#define N_CAP_NAMES (sizeof cap_names / sizeof cap_names[0])

#define VFS_CAP_EFFECTIVE 0x1 /* VFS_CAP_FLAGS_EFFECTIVE */

static uint32_t le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void append(char *buf, size_t size, const char *s)
{
    size_t len = strlen(buf);
    if (len < size)
        snprintf(buf + len, size - len, "%s", s);
}

/* The attribute (struct vfs_cap_data: little-endian magic and flags, then
 * permitted/inheritable pairs of 32-bit words) in getcap's form: the
 * capabilities that share one set of flags joined by commas, "=eip". */
static void describe_caps(const unsigned char *b, size_t len, char *out, size_t size)
{
    uint64_t permitted = 0, inheritable = 0;
    out[0] = '\0';
    if (len < 12)
        return;
    int effective = le32(b) & VFS_CAP_EFFECTIVE;
    for (size_t w = 0; w < 2 && 4 + 8 * w + 8 <= len; w++) {
        permitted |= (uint64_t)le32(b + 4 + 8 * w) << (32 * w);
        inheritable |= (uint64_t)le32(b + 8 + 8 * w) << (32 * w);
    }
    /* One group per distinct flag set, in the order e, i, p. */
    for (int flags = 1; flags < 8; flags++) {
        int wanted_i = flags & 2, wanted_p = flags & 1, wanted_e = flags & 4;
        int first = 1;
        for (unsigned c = 0; c < 64; c++) {
            int p = (permitted >> c) & 1, i = (inheritable >> c) & 1;
            if (!(p || i) || !!p != !!wanted_p || !!i != !!wanted_i || !!effective != !!wanted_e)
                continue;
            char name[24];
            if (c < N_CAP_NAMES)
                snprintf(name, sizeof name, "%s", cap_names[c]);
            else
                snprintf(name, sizeof name, "cap_%u", c);
            append(out, size, first ? (*out ? " " : "") : ",");
            append(out, size, name);
            first = 0;
        }
        if (!first) {
            append(out, size, "=");
            append(out, size, wanted_e ? "e" : "");
            append(out, size, wanted_i ? "i" : "");
            append(out, size, wanted_p ? "p" : "");
        }
    }
    if (!*out)
        snprintf(out, size, "(empty set)");
}

void privilege_of(const char *path, struct privilege *p)
{
    struct stat st;
    unsigned char attr[64];

    memset(p, 0, sizeof *p);
    if (stat(path, &st) == 0) {
        if (st.st_mode & S_ISUID)
            p->mode = "setuid";
        else if (st.st_mode & S_ISGID)
            p->mode = "setgid";
    }
    ssize_t n = getxattr(path, "security.capability", attr, sizeof attr);
    if (n > 0)
        describe_caps(attr, (size_t)n, p->caps, sizeof p->caps);
    else if (n < 0 && errno != ENODATA && errno != ENOTSUP && errno != ENOENT)
        p->caps_unknown = 1;
}

int privilege_secure(const struct privilege *p)
{
    return p->mode != NULL || p->caps[0] != '\0';
}
