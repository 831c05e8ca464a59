/* log.c: formatting and writing events (see log.h). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "real.h"

static struct {
    enum tc_log_sink sink;
    enum tc_level level;
    enum tc_format format;
    int facility;
    const char *path;
    /* Identity of the stderr we were given: a daemon may close fd 2 and the
     * number may then belong to a socket, so we never write to it unless it
     * is still the same open file. */
    int stderr_ok;
    dev_t stderr_dev;
    ino_t stderr_ino;
} sink = { TC_LOG_STDERR, TC_LEVEL_WARN, TC_FORMAT_TEXT, LOG_USER, NULL, 0, 0, 0 };

static int stderr_identity(dev_t *dev, ino_t *ino)
{
    struct stat st;
    if (fstat(2, &st) != 0)
        return 0;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return 1;
}

static void file_setup(void);
static void log_config_error(const char *variable, const char *detail);

/* The program's name as it started: servers that set their process title
 * (nginx: "nginx: worker process") write over the memory
 * program_invocation_short_name points into. */
static char program_name[64] = "?";

void tc_log_setup(const struct tc_config *cfg)
{
    int saved = errno;
    snprintf(program_name, sizeof program_name, "%s", program_invocation_short_name);
    sink.sink = cfg->log;
    sink.level = cfg->log_level;
    sink.format = cfg->log_format;
    sink.facility = cfg->syslog_facility;
    sink.path = cfg->log_path;
    /* Whatever the sink: a log file that cannot be used falls back to it. */
    sink.stderr_ok = stderr_identity(&sink.stderr_dev, &sink.stderr_ino);
    if (sink.sink == TC_LOG_FILE)
        file_setup();
    errno = saved;
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

/* The program's name as it goes into a line: printable, short. */
static void put_program(struct out *o, const char *program, int json)
{
    char safe[64];
    size_t n = 0;
    for (const char *p = program ? program : "?"; *p && n < sizeof safe - 1; p++)
        safe[n++] = (*p > 0x20 && *p < 0x7f) ? *p : '?';
    safe[n] = '\0';
    if (json)
        put_json_string(o, safe);
    else
        put(o, "%s", safe);
}

size_t tc_log_format(char *buf, size_t size, enum tc_format format,
                     const struct tc_line_origin *origin, const struct tc_event *ev)
{
    struct out o = { buf, size, 0 };
    if (size == 0)
        return 0;
    buf[0] = '\0';
    if (format == TC_FORMAT_JSON) {
        put(&o, "{");
        if (origin->time)
            put(&o, "\"time\":\"%s\",", origin->time);
        put(&o, "\"pid\":%ld,\"program\":", origin->pid);
        put_program(&o, origin->program, 1);
        put(&o, ",\"event\":");
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
        if (ev->has_wait)
            put(&o, ",\"answered\":%s,\"waited_ms\":%lld", ev->answered ? "true" : "false",
                ev->waited_ms);
        if (ev->detail) {
            put(&o, ",\"detail\":");
            put_json_string(&o, ev->detail);
        }
        if (ev->summary)
            put(&o, ",\"connections\":%llu,\"sent\":%llu,\"skipped\":%llu,\"by_program\":%llu,"
                    "\"open\":%llu,\"truncations\":%llu",
                ev->summary->connections, ev->summary->sent, ev->summary->skipped,
                ev->summary->by_program, ev->summary->open, ev->summary->truncations);
        put(&o, "}");
        if (o.len == size - 1 && size > 2) {
            /* Truncated: keep the line valid JSON rather than cut mid-token. */
            o.len = 0;
            put(&o, "{");
            if (origin->time)
                put(&o, "\"time\":\"%s\",", origin->time);
            put(&o, "\"pid\":%ld,\"event\":", origin->pid);
            put_json_string(&o, ev->name);
            put(&o, ",\"truncated\":true}");
        }
    } else {
        if (origin->time)
            put(&o, "%s ", origin->time);
        put(&o, "tlsclose[%ld]: ", origin->pid);
        put_program(&o, origin->program, 0);
        put(&o, ": %s", ev->name);
        if (ev->key && ev->value)
            put_text_value(&o, ev->key, ev->value);
        put(&o, " fd=%d", ev->fd);
        if (ev->peer)
            put_text_value(&o, "peer", ev->peer);
        if (ev->tls)
            put_text_value(&o, "tls", ev->tls);
        if (ev->has_bytes)
            put(&o, " read=%llu written=%llu", ev->bytes_in, ev->bytes_out);
        if (ev->has_wait)
            put(&o, " answered=%s waited_ms=%lld", ev->answered ? "yes" : "no", ev->waited_ms);
        if (ev->detail)
            put_text_value(&o, "detail", ev->detail);
        if (ev->summary)
            put(&o, " connections=%llu sent=%llu skipped=%llu by_program=%llu open=%llu "
                    "truncations=%llu",
                ev->summary->connections, ev->summary->sent, ev->summary->skipped,
                ev->summary->by_program, ev->summary->open, ev->summary->truncations);
    }
    return o.len;
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian), after
 * Howard Hinnant's days_from_civil inverse; exact for any day count. */
static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long long)yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *out, unsigned long v, int width)
{
    for (int i = width - 1; i >= 0; i--, v /= 10)
        out[i] = (char)('0' + v % 10);
}

void tc_log_time(char out[TC_LOG_TIME_SIZE], long long sec, long nsec)
{
    long long days = sec >= 0 ? sec / 86400 : (sec - 86399) / 86400;
    long long rem = sec - days * 86400;
    long long year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    if (year < 0 || year > 9999)
        year = year < 0 ? 0 : 9999;
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
    put_digits(out, (unsigned long)year, 4);
    out[4] = '-';
    put_digits(out + 5, month, 2);
    out[7] = '-';
    put_digits(out + 8, day, 2);
    out[10] = 'T';
    put_digits(out + 11, (unsigned long)(rem / 3600), 2);
    out[13] = ':';
    put_digits(out + 14, (unsigned long)(rem / 60 % 60), 2);
    out[16] = ':';
    put_digits(out + 17, (unsigned long)(rem % 60), 2);
    out[19] = '.';
    put_digits(out + 20, (unsigned long)(nsec / 1000000), 3);
    out[23] = 'Z';
    out[24] = '\0';
}

/* --- writing ------------------------------------------------------------ */

/* Returns 0, or the write's errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    /* One write(2) per line keeps lines from different threads and
     * processes whole; a short write is not retried (that would split it). */
    ssize_t n;
    do
        n = write(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? errno : 0;
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

size_t tc_log_syslog_format(char *buf, size_t size, int facility, enum tc_level level,
                            const char *tag, long pid, const char *msg, size_t len)
{
    /* RFC 3164 "<PRI>TAG[PID]: MSG" without its timestamp: localtime() is not
     * async-signal-safe, and syslog daemons stamp a line that has none. By
     * hand, not with snprintf, for the same reason. */
    size_t n = 0;
    if (size == 0)
        return 0;
    n = put_raw(buf, size, n, "<", 1);
    n = put_num(buf, size, n, (unsigned long)(facility | syslog_severity(level)));
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
    size_t n = tc_log_syslog_format(line, sizeof line, sink.facility, level,
                                    program_name, (long)getpid(), msg, len);
    int stream = __atomic_load_n(&syslog_stream, __ATOMIC_RELAXED);
    /* EPROTOTYPE: /dev/log is of the other type; remember which it is. */
    if (syslog_send(stream ? SOCK_STREAM : SOCK_DGRAM, line, n) != 0 && errno == EPROTOTYPE &&
        syslog_send(stream ? SOCK_DGRAM : SOCK_STREAM, line, n) == 0)
        __atomic_store_n(&syslog_stream, !stream, __ATOMIC_RELAXED);
}

static void emit_stderr(const char *line, size_t len)
{
    dev_t dev;
    ino_t ino;
    if (sink.stderr_ok && stderr_identity(&dev, &ino) && dev == sink.stderr_dev &&
        ino == sink.stderr_ino)
        write_all(2, line, len);
}

/* --- file --------------------------------------------------------------------
 * Opened once, at set-up, and never trusted blindly after that:
 *  - O_NOFOLLOW, O_NONBLOCK and nothing but a regular file: a planted
 *    symbolic link cannot make a root daemon append to its target, and a
 *    FIFO cannot block close() forever; mode 0600, as events name peers;
 *  - kept at a high number, out of the way of programs that expect to get
 *    the lowest free ones;
 *  - each line goes through a private duplicate whose identity (dev, ino) is
 *    checked first: the program may have closed our number and reused it
 *    (daemons close all descriptors), and the duplicate still names the
 *    checked file if the number is closed and reused while we write. A lost
 *    descriptor is replaced by opening the path again (or, if that fails,
 *    stderr from then on, with a line saying why);
 *  - the path is looked at before each line: another file there, or none,
 *    means the log was rotated, and the line goes to a (new) file at the
 *    path. If it cannot be opened or looked at (a chroot, dropped
 *    privileges), the lines keep going to the file we have.
 * No lock: lines come from many threads and from signal handlers. The
 * current file is one of a few slots named by a generation counter, read
 * seqlock-style; one thread at a time publishes a replacement (a flag, not
 * a lock: a thread that finds it taken writes its line to a file of its own
 * and closes it). */

#define FILE_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
/* Our descriptors start here when RLIMIT_NOFILE allows it: far above the
 * numbers programs get, below FD_SETSIZE. */
#define FILE_FD_HIGH 512
#define FILE_SLOTS 4

struct log_file {
    int fd;
    dev_t dev;
    ino_t ino;
};

static struct {
    struct log_file slot[FILE_SLOTS];
    unsigned gen;   /* slot[gen % FILE_SLOTS] is the current file */
    int replacing;  /* a thread is publishing a new file */
    int failed;     /* the file is lost for good: lines go to stderr */
    int fd_min;
} file = { .fd_min = 3 };

static int file_current(struct log_file *f, unsigned *gen)
{
    /* A replacement writes the next slot, never the current one; a reader
     * that raced with FILE_SLOTS of them sees the generation move. Acquire
     * loads (not a fence: ThreadSanitizer does not model fences): one that
     * reads a replacement's store orders the second look at gen after it. */
    for (int tries = 0; tries < 4; tries++) {
        unsigned g = __atomic_load_n(&file.gen, __ATOMIC_ACQUIRE);
        struct log_file *s = &file.slot[g % FILE_SLOTS];
        f->fd = __atomic_load_n(&s->fd, __ATOMIC_ACQUIRE);
        f->dev = __atomic_load_n(&s->dev, __ATOMIC_ACQUIRE);
        f->ino = __atomic_load_n(&s->ino, __ATOMIC_ACQUIRE);
        if (__atomic_load_n(&file.gen, __ATOMIC_RELAXED) == g) {
            *gen = g;
            return 1;
        }
    }
    return 0;
}

/* The caller holds file.replacing and read generation g. */
static void file_publish(const struct log_file *f, unsigned g)
{
    struct log_file *s = &file.slot[(g + 1) % FILE_SLOTS];
    /* Release: a reader that sees one of these stores also sees that gen
     * has moved past g (we read g before storing). */
    __atomic_store_n(&s->fd, f->fd, __ATOMIC_RELEASE);
    __atomic_store_n(&s->dev, f->dev, __ATOMIC_RELEASE);
    __atomic_store_n(&s->ino, f->ino, __ATOMIC_RELEASE);
    __atomic_store_n(&file.gen, g + 1, __ATOMIC_RELEASE);
}

/* A descriptor of our own for what fd names now, at a high number (or at
 * least above stdio if none is free there). The real fcntl: ours tracks
 * TLS descriptors. */
static int file_dup(int fd)
{
    int d = TC_LIBC(fcntl)(fd, F_DUPFD_CLOEXEC, file.fd_min);
    if (d < 0 && errno != EBADF && file.fd_min > 3)
        d = TC_LIBC(fcntl)(fd, F_DUPFD_CLOEXEC, 3);
    return d;
}

static int file_is(int fd, const struct log_file *f)
{
    struct stat st;
    return fstat(fd, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino;
}

/* 1 when the path names another file than f, or none (rotated away: the
 * line creates it again); 0 when it names f or cannot be looked at. */
static int file_moved(const struct log_file *f)
{
    struct stat st;
    if (lstat(sink.path, &st) != 0)
        return errno == ENOENT;
    return st.st_dev != f->dev || st.st_ino != f->ino;
}

/* Opens the path for the log into f; returns its descriptor, or -1 with
 * *why saying why (NULL: errno does). */
static int file_open(struct log_file *f, const char **why)
{
    struct stat st;
    *why = NULL;
    int fd = open(sink.path, FILE_FLAGS, 0600);
    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        TC_LIBC(close)(fd);
        errno = err;
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = S_ISFIFO(st.st_mode) ? "it is a FIFO, not a regular file"
             : S_ISCHR(st.st_mode)  ? "it is a device, not a regular file"
                                    : "it is not a regular file";
        TC_LIBC(close)(fd);
        return -1;
    }
    int high = file_dup(fd);
    if (high >= 0) {
        TC_LIBC(close)(fd);
        fd = high;
    }
    f->fd = fd;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return fd;
}

static const char *open_error(int err)
{
    switch (err) {
    case ELOOP: return "it is a symbolic link";
    case ENXIO: return "it is a FIFO with no reader, or a socket";
    case ENOENT: return "its directory does not exist";
    case ENOTDIR: return "a component of its directory is not a directory";
    case EACCES: case EPERM: return "permission denied";
    case EISDIR: return "it is a directory";
    case EROFS: return "read-only file system";
    case EMFILE: case ENFILE: return "too many open files";
    case ENOSPC: case EDQUOT: return "no space left";
    case EFBIG: return "the file is too large";
    case EIO: return "input/output error";
    case EWOULDBLOCK: return "another process holds a lease on it";
    default: return NULL;
    }
}

/* The file cannot be used: stderr from now on, announced once. */
static void file_lost(const char *why, int err)
{
    if (__atomic_exchange_n(&file.failed, 1, __ATOMIC_ACQ_REL))
        return;
    char reason[32], detail[TC_LOG_PATH_MAX + 128];
    if (!why && !(why = open_error(err))) {
        snprintf(reason, sizeof reason, "error %d", err);
        why = reason;
    }
    snprintf(detail, sizeof detail, "cannot log to %s: %s; logging to stderr instead",
             sink.path, why);
    log_config_error("TLSCLOSE_LOG", detail);
}

static void file_setup(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur / 2 > 3)
        file.fd_min = rl.rlim_cur / 2 > FILE_FD_HIGH ? FILE_FD_HIGH : (int)(rl.rlim_cur / 2);
    const char *why;
    if (file_open(&file.slot[0], &why) < 0)
        file_lost(why, errno);
}

/* Closes the replaced descriptor old if it still is ours. Our writers do not
 * mind (they write through duplicates). A program that closes our number
 * and reuses it in another thread between this check and the close would
 * lose its descriptor: a window of two system calls, in a program that
 * closes descriptors it does not own; never closing would instead keep
 * every rotated file (and its disk space) for the life of the process. */
static void file_retire(const struct log_file *old)
{
    if (file_is(old->fd, old))
        TC_LIBC(close)(old->fd);
}

/* Opens the path again and writes the line there; the new file becomes the
 * current one unless another thread replaced it meanwhile (or is doing so:
 * then ours is closed, theirs wins). Returns 0 when the path cannot be
 * opened or is refused (*why, errno). */
static int file_replace(const struct log_file *old, unsigned gen, int old_ours,
                        const char *line, size_t len, const char **why)
{
    struct log_file f;
    if (file_open(&f, why) < 0)
        return 0;
    write_all(f.fd, line, len);
    if (__atomic_exchange_n(&file.replacing, 1, __ATOMIC_ACQUIRE) == 0) {
        if (__atomic_load_n(&file.gen, __ATOMIC_RELAXED) == gen) {
            file_publish(&f, gen);
            f.fd = -1;
            if (old_ours)
                file_retire(old);
        }
        __atomic_store_n(&file.replacing, 0, __ATOMIC_RELEASE);
    }
    if (f.fd >= 0)
        TC_LIBC(close)(f.fd);
    return 1;
}

/* A line without a current file (replaced too often while we read it): a
 * file of its own. */
static void file_once(const char *line, size_t len)
{
    struct log_file f;
    const char *why;
    if (file_open(&f, &why) < 0) {
        emit_stderr(line, len);
        return;
    }
    write_all(f.fd, line, len);
    TC_LIBC(close)(f.fd);
}

static void emit_file(const char *line, size_t len)
{
    struct log_file cur;
    unsigned gen;
    if (__atomic_load_n(&file.failed, __ATOMIC_ACQUIRE)) {
        emit_stderr(line, len);
        return;
    }
    if (!file_current(&cur, &gen)) {
        file_once(line, len);
        return;
    }
    int fd = file_dup(cur.fd);
    if (fd < 0 && errno != EBADF) {
        /* Out of descriptors: nothing to write through; this line only. */
        emit_stderr(line, len);
        return;
    }
    int ours = fd >= 0 && file_is(fd, &cur);
    const char *why;
    int err = 0;
    if (ours && !file_moved(&cur))
        err = write_all(fd, line, len);
    else if (file_replace(&cur, gen, ours, line, len, &why))
        ; /* written to the file now at the path */
    else if (ours)
        /* Rotated, but the path cannot be opened again (or is refused):
         * keep the file we have. */
        err = write_all(fd, line, len);
    else {
        file_lost(why, errno);
        emit_stderr(line, len);
    }
    /* A file that takes no more lines (disk full, I/O error): the lines
     * go where they can be seen, not nowhere. */
    if (err) {
        file_lost(NULL, err);
        emit_stderr(line, len);
    }
    if (fd >= 0)
        TC_LIBC(close)(fd);
}

static void emit(enum tc_level level, const char *line, size_t len)
{
    switch (sink.sink) {
    case TC_LOG_NONE:
        break;
    case TC_LOG_STDERR:
        emit_stderr(line, len);
        break;
    case TC_LOG_FILE:
        emit_file(line, len);
        break;
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
    char line[768], now[TC_LOG_TIME_SIZE];
    struct tc_line_origin origin = { (long)getpid(), program_name, NULL };
    /* A file is read later and elsewhere: its lines say when. JSON always
     * does (a collector may not stamp what it reads). */
    if (sink.format == TC_FORMAT_JSON || sink.sink == TC_LOG_FILE) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        tc_log_time(now, (long long)ts.tv_sec, ts.tv_nsec);
        origin.time = now;
    }
    size_t len = tc_log_format(line, sizeof line - 1, sink.format, &origin, ev);
    if (sink.sink != TC_LOG_SYSLOG)
        line[len++] = '\n';
    emit(ev->level, line, len);
    errno = saved;
}

static void log_config_error(const char *variable, const char *detail)
{
    struct tc_event ev = { .name = "config_error", .level = TC_LEVEL_ERROR, .fd = -1,
                           .key = "variable", .value = variable, .detail = detail };
    tc_log_event(&ev);
}

void tc_log_config_errors(const struct tc_config_errors *errors)
{
    for (int i = 0; i < errors->count; i++) {
        char detail[320];
        tc_config_error_message(detail, sizeof detail, &errors->error[i], 1);
        log_config_error(errors->error[i].variable, detail);
    }
    if (errors->unlisted) {
        char detail[96];
        snprintf(detail, sizeof detail, "%d more unknown TLSCLOSE_* variables; ignored",
                 errors->unlisted);
        log_config_error("TLSCLOSE_*", detail);
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
