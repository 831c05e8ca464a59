/* log.c: formatting and writing events (see log.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"
#include "real.h"

static struct {
    enum tc_log_sink sink;
    enum tc_level level;
    enum tc_format format;
    const char *path;
    /* Identity of the stderr we were given: a daemon may close fd 2 and the
     * number may then belong to a socket, so we never write to it unless it
     * is still the same open file. */
    int stderr_ok;
    dev_t stderr_dev;
    ino_t stderr_ino;
} sink = { TC_LOG_STDERR, TC_LEVEL_WARN, TC_FORMAT_TEXT, NULL, 0, 0, 0 };

static int stderr_identity(dev_t *dev, ino_t *ino)
{
    struct stat st;
    if (fstat(2, &st) != 0)
        return 0;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 1;
}

void tc_log_setup(const struct tc_config *cfg)
{
    sink.sink = cfg->log;
    sink.level = cfg->log_level;
    sink.format = cfg->log_format;
    sink.path = cfg->log_path;
    if (sink.sink == TC_LOG_STDERR) {
        int saved = errno;
        sink.stderr_ok = stderr_identity(&sink.stderr_dev, &sink.stderr_ino);
        errno = saved;
    }
}

int tc_log_enabled(enum tc_level level)
{
    return sink.sink != TC_LOG_NONE && level <= sink.level;
}

/* --- formatting -------------------------------------------------------- */

struct out {
    char *buf;
    size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->len >= o->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len = o->len + (size_t)n < o->size ? o->len + (size_t)n : o->size - 1;
}

/* JSON string body: escape quotes, backslashes and control characters. */
static void put_json_string(struct out *o, const char *s)
{
    put(o, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            put(o, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            put(o, "\\u%04x", c);
        else
            put(o, "%c", c);
    }
    put(o, "\"");
}

/* Text values with spaces are quoted (and their quotes escaped) so that
 * lines stay machine-splittable. */
static void put_text_value(struct out *o, const char *key, const char *value)
{
    if (!strpbrk(value, " \t\"=\\")) {
        put(o, " %s=%s", key, value);
        return;
    }
    put(o, " %s=\"", key);
    for (; *value; value++)
        put(o, (*value == '"' || *value == '\\') ? "\\%c" : "%c", *value);
    put(o, "\"");
}

size_t tc_log_format(char *buf, size_t size, enum tc_format format, long pid,
                     const struct tc_event *ev)
{
    struct out o = { buf, size, 0 };
    if (size == 0)
        return 0;
    buf[0] = '\0';
    if (format == TC_FORMAT_JSON) {
        put(&o, "{\"tlsclose\":%ld,\"event\":", pid);
        put_json_string(&o, ev->name);
        put(&o, ",\"level\":\"%s\"", tc_level_name(ev->level));
        if (ev->key && ev->value) {
            put(&o, ",");
            put_json_string(&o, ev->key);
            put(&o, ":");
            put_json_string(&o, ev->value);
        }
        put(&o, ",\"fd\":%d", ev->fd);
        if (ev->peer) {
            put(&o, ",\"peer\":");
            put_json_string(&o, ev->peer);
        }
        if (ev->tls) {
            put(&o, ",\"tls\":");
            put_json_string(&o, ev->tls);
        }
        if (ev->has_bytes)
            put(&o, ",\"bytes_read\":%llu,\"bytes_written\":%llu", ev->bytes_in, ev->bytes_out);
        if (ev->detail) {
            put(&o, ",\"detail\":");
            put_json_string(&o, ev->detail);
        }
        if (ev->summary)
            put(&o, ",\"connections\":%llu,\"sent\":%llu,\"skipped\":%llu,\"truncations\":%llu",
                ev->summary->connections, ev->summary->sent, ev->summary->skipped,
                ev->summary->truncations);
        put(&o, "}");
        if (o.len == size - 1 && size > 2) {
            /* Truncated: keep the line valid JSON rather than cut mid-token. */
            o.len = 0;
            put(&o, "{\"tlsclose\":%ld,\"truncated\":true}", pid);
        }
    } else {
        put(&o, "tlsclose[%ld]: %s", pid, ev->name);
        if (ev->key && ev->value)
            put_text_value(&o, ev->key, ev->value);
        put(&o, " fd=%d", ev->fd);
        if (ev->peer)
            put_text_value(&o, "peer", ev->peer);
        if (ev->tls)
            put_text_value(&o, "tls", ev->tls);
        if (ev->has_bytes)
            put(&o, " read=%llu written=%llu", ev->bytes_in, ev->bytes_out);
        if (ev->detail)
            put_text_value(&o, "detail", ev->detail);
        if (ev->summary)
            put(&o, " connections=%llu sent=%llu skipped=%llu truncations=%llu",
                ev->summary->connections, ev->summary->sent, ev->summary->skipped,
                ev->summary->truncations);
    }
    return o.len;
}

/* --- writing ------------------------------------------------------------ */

static void write_all(int fd, const char *buf, size_t len)
{
    /* One write(2) per line keeps lines from different threads and
     * processes whole; a short write is not retried (that would split it). */
    ssize_t n;
    do
        n = write(fd, buf, len);
    while (n < 0 && errno == EINTR);
}

/* --- syslog -----------------------------------------------------------------
 * Written to the log socket by hand, not with syslog(3): events are logged
 * from inside close(), which programs call from signal handlers, and a
 * handler that interrupts the program's own syslog() would wait forever for
 * glibc's syslog lock. So only async-signal-safe calls: a socket of our own
 * per event (a long-lived one could be closed by the program and its number
 * reused), one send that never blocks, the real close. */

#define SYSLOG_PATH "/dev/log"

/* 1 while /dev/log is known to be a stream socket (some systems): the
 * datagram attempt is then skipped. */
static int syslog_stream;

static size_t put_raw(char *buf, size_t size, size_t len, const char *s, size_t n)
{
    if (len < size) {
        size_t room = size - len;
        memcpy(buf + len, s, n < room ? n : room);
    }
    return len + n;
}

static size_t put_num(char *buf, size_t size, size_t len, unsigned long v)
{
    char digits[24];
    size_t i = sizeof digits;
    do
        digits[--i] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    return put_raw(buf, size, len, digits + i, sizeof digits - i);
}

static int syslog_severity(enum tc_level level)
{
    return level == TC_LEVEL_ERROR ? LOG_ERR
         : level == TC_LEVEL_WARN  ? LOG_WARNING
         : level == TC_LEVEL_INFO  ? LOG_INFO
                                   : LOG_DEBUG;
}

size_t tc_log_syslog_format(char *buf, size_t size, enum tc_level level, const char *tag,
                            long pid, const char *msg, size_t len)
{
    /* RFC 3164 "<PRI>TAG[PID]: MSG" without its timestamp: localtime() is not
     * async-signal-safe, and syslog daemons stamp a line that has none. By
     * hand, not with snprintf, for the same reason. */
    size_t n = 0;
    if (size == 0)
        return 0;
    n = put_raw(buf, size, n, "<", 1);
    n = put_num(buf, size, n, (unsigned long)(LOG_USER | syslog_severity(level)));
    n = put_raw(buf, size, n, ">", 1);
    n = put_raw(buf, size, n, tag, strlen(tag));
    n = put_raw(buf, size, n, "[", 1);
    n = put_num(buf, size, n, (unsigned long)pid);
    n = put_raw(buf, size, n, "]: ", 3);
    n = put_raw(buf, size, n, msg, len);
    n = n < size ? n : size - 1;
    buf[n] = '\0';
    return n;
}

/* One line to /dev/log over a fresh socket of the given type; 0 or -1 (errno). */
static int syslog_send(int type, const char *line, size_t len)
{
    static const struct sockaddr_un addr = { .sun_family = AF_UNIX, .sun_path = SYSLOG_PATH };
    /* Non-blocking for the stream connect too: a daemon that does not keep up
     * costs us the line, never a blocked close(). */
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    ssize_t n;
    if (type == SOCK_DGRAM)
        n = sendto(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)&addr,
                   sizeof addr);
    else if (connect(fd, (const struct sockaddr *)&addr, sizeof addr) == 0)
        /* The terminating NUL too: it delimits lines on a stream, as glibc's
         * syslog() sends them. */
        n = send(fd, line, len + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    else
        n = -1;
    int err = errno;
    TC_LIBC(close)(fd);
    errno = err;
    return n < 0 ? -1 : 0;
}

static void emit_syslog(enum tc_level level, const char *msg, size_t len)
{
    char line[1024];
    size_t n = tc_log_syslog_format(line, sizeof line, level, program_invocation_short_name,
                                    (long)getpid(), msg, len);
    int stream = __atomic_load_n(&syslog_stream, __ATOMIC_RELAXED);
    /* EPROTOTYPE: /dev/log is of the other type; remember which it is. */
    if (syslog_send(stream ? SOCK_STREAM : SOCK_DGRAM, line, n) != 0 && errno == EPROTOTYPE &&
        syslog_send(stream ? SOCK_DGRAM : SOCK_STREAM, line, n) == 0)
        __atomic_store_n(&syslog_stream, !stream, __ATOMIC_RELAXED);
}

static void emit(enum tc_level level, const char *line, size_t len)
{
    switch (sink.sink) {
    case TC_LOG_NONE:
        break;
    case TC_LOG_STDERR: {
        dev_t dev;
        ino_t ino;
        if (sink.stderr_ok && stderr_identity(&dev, &ino) && dev == sink.stderr_dev &&
            ino == sink.stderr_ino)
            write_all(2, line, len);
        break;
    }
    case TC_LOG_FILE: {
        /* Opened per line: a long-lived descriptor could be closed by the
         * program and its number reused for something else. */
        int fd = open(sink.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd >= 0) {
            write_all(fd, line, len);
            TC_LIBC(close)(fd);
        }
        break;
    }
    case TC_LOG_SYSLOG:
        emit_syslog(level, line, len);
        break;
    }
}

void tc_log_event(const struct tc_event *ev)
{
    if (!tc_log_enabled(ev->level))
        return;
    int saved = errno;
    char line[768];
    size_t len = tc_log_format(line, sizeof line - 1, sink.format, (long)getpid(), ev);
    if (sink.sink != TC_LOG_SYSLOG)
        line[len++] = '\n';
    emit(ev->level, line, len);
    errno = saved;
}

void tc_log_config_errors(const struct tc_config_errors *errors)
{
    for (int i = 0; i < errors->count; i++) {
        const struct tc_config_error *e = &errors->error[i];
        char detail[256];
        snprintf(detail, sizeof detail, "invalid value '%s' for %s (expected %s); using the default",
                 e->value, e->variable, e->accepted);
        struct tc_event ev = { .name = "config_error", .level = TC_LEVEL_ERROR, .fd = -1,
                               .key = "variable", .value = e->variable, .detail = detail };
        tc_log_event(&ev);
    }
}

void tc_log_missing_symbols(const char *names, int disabled)
{
    struct tc_event ev = { .name = "missing_symbol", .level = TC_LEVEL_WARN, .fd = -1,
                           .key = "symbols", .value = names,
                           .detail = disabled ? "OpenSSL functions not found; tlsclose leaves "
                                                "this program's TLS connections alone"
                                              : "OpenSSL functions not found; calls to them "
                                                "fail" };
    tc_log_event(&ev);
}
