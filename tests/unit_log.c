/* unit_log: event formatting (shim/log.c), text and JSON. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "../shim/log.h"
#include "tap.h"

static const struct tc_event sent = {
    .name = "sent", .level = TC_LEVEL_INFO, .fd = 5, .peer = "127.0.0.1:4433", .tls = "TLSv1.3",
    .bytes_in = 6, .bytes_out = 12, .has_bytes = 1, .key = "trigger", .value = "close",
};

static const struct tc_line_origin at42 = { 42, "curl", NULL };
static const struct tc_line_origin at42_timed = { 42, "curl", "2026-12-06T17:03:46.123Z" };
static const struct tc_line_origin at1 = { 1, "a b\tc", NULL };
static const struct tc_line_origin at7 = { 7, "prog", NULL };

struct time_case {
    long long sec;
    long nsec;
    const char *want;
};

static const struct time_case times[] = {
    { 0, 0, "1970-01-01T00:00:00.000Z" },
    { 951782400, 999999999, "2000-02-29T00:00:00.999Z" }, /* a leap day of a century */
    { 1796576626, 123456789, "2026-12-06T17:03:46.123Z" },
    { 4107542399LL, 1000000, "2100-02-28T23:59:59.001Z" }, /* 2100 is not a leap year */
    { 4107542400LL, 0, "2100-03-01T00:00:00.000Z" },
    { -1, 0, "1969-12-31T23:59:59.000Z" },
};

int main(void)
{
    char buf[512];
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char t[TC_LOG_TIME_SIZE];
        tc_log_time(t, times[i].sec, times[i].nsec);
        ok(strcmp(t, times[i].want) == 0, "time %lld.%09ld: %s", times[i].sec, times[i].nsec, t);
    }

    tc_log_format(buf, sizeof buf, TC_FORMAT_TEXT, &at42_timed, &sent);
    ok(strcmp(buf, "2026-12-06T17:03:46.123Z tlsclose[42]: curl: sent trigger=close fd=5 "
                   "peer=127.0.0.1:4433 tls=TLSv1.3 read=6 written=12") == 0,
       "text line with a time (a file): %s", buf);
    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, &at42_timed, &sent);
    static const char json_start[] =
        "{\"time\":\"2026-12-06T17:03:46.123Z\",\"pid\":42,\"program\":\"curl\",\"event\":\"sent\",";
    ok(strncmp(buf, json_start, sizeof json_start - 1) == 0,
       "JSON line starts with time, pid, program: %s", buf);

    tc_log_format(buf, sizeof buf, TC_FORMAT_TEXT, &at42, &sent);
    ok(strcmp(buf, "tlsclose[42]: curl: sent trigger=close fd=5 peer=127.0.0.1:4433 tls=TLSv1.3 "
                   "read=6 written=12") == 0,
       "text line: %s", buf);

    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, &at42, &sent);
    ok(strcmp(buf, "{\"pid\":42,\"program\":\"curl\",\"event\":\"sent\",\"level\":\"info\",\"trigger\":\"close\","
                   "\"fd\":5,\"peer\":\"127.0.0.1:4433\",\"tls\":\"TLSv1.3\",\"bytes_read\":6,"
                   "\"bytes_written\":12}") == 0,
       "JSON line: %s", buf);

    struct tc_event odd = { .name = "config_error", .level = TC_LEVEL_ERROR, .fd = -1,
                            .key = "variable", .value = "TLSCLOSE_EOF",
                            .detail = "invalid value 'a\"b\\c' for TLSCLOSE_EOF" };
    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, &at1, &odd);
    ok(strstr(buf, "\"detail\":\"invalid value 'a\\\"b\\\\c' for TLSCLOSE_EOF\"") != NULL,
       "JSON escapes quotes and backslashes: %s", buf);
    tc_log_format(buf, sizeof buf, TC_FORMAT_TEXT, &at1, &odd);
    ok(strstr(buf, " detail=\"invalid value 'a\\\"b\\\\c' for TLSCLOSE_EOF\"") != NULL,
       "text quotes values with spaces and escapes quotes: %s", buf);
    ok(strncmp(buf, "tlsclose[1]: a?b?c: config_error ", 33) == 0,
       "a program name with blanks keeps the line splittable: %s", buf);

    char small[48];
    size_t n = tc_log_format(small, sizeof small, TC_FORMAT_JSON, &at1, &sent);
    ok(n < sizeof small && small[n] == '\0' && small[0] == '{' && small[n - 1] == '}',
       "a truncated JSON line is still one valid object: %s", small);
    struct tc_summary sum = { .connections = 4, .sent = 2, .skipped = 1, .by_program = 1,
                              .open = 1, .truncations = 1 };
    struct tc_event summary = { .name = "summary", .level = TC_LEVEL_INFO, .fd = -1,
                                .summary = &sum };
    tc_log_format(buf, sizeof buf, TC_FORMAT_TEXT, &at7, &summary);
    ok(strstr(buf, " connections=4 sent=2 skipped=1 by_program=1 open=1 truncations=1") != NULL,
       "summary, text: %s", buf);
    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, &at7, &summary);
    ok(strstr(buf, ",\"connections\":4,\"sent\":2,\"skipped\":1,\"by_program\":1,\"open\":1,"
                   "\"truncations\":1}") != NULL,
       "summary, JSON: %s", buf);

    /* A sent event after the wait for the peer's answer: a boolean and a
     * number in JSON, yes/no in text. */
    struct tc_event waited = { .name = "sent", .level = TC_LEVEL_INFO, .fd = 5,
                               .key = "trigger", .value = "close", .has_wait = 1,
                               .answered = 1, .waited_ms = 12 };
    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, &at7, &waited);
    ok(strstr(buf, ",\"answered\":true,\"waited_ms\":12") != NULL, "wait, JSON: %s", buf);
    tc_log_format(buf, sizeof buf, TC_FORMAT_TEXT, &at7, &waited);
    ok(strstr(buf, " answered=yes waited_ms=12") != NULL, "wait, text: %s", buf);
    waited.answered = 0;
    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, &at7, &waited);
    ok(strstr(buf, ",\"answered\":false,\"waited_ms\":12") != NULL, "no answer, JSON: %s", buf);

    /* syslog: PRI = facility (LOG_USER, 8, by default) | severity, the program's tag and pid, no
     * timestamp, no newline. */
    static const struct { enum tc_level level; const char *pri; } pris[] = {
        { TC_LEVEL_ERROR, "<11>" }, { TC_LEVEL_WARN, "<12>" },
        { TC_LEVEL_INFO, "<14>" },  { TC_LEVEL_DEBUG, "<15>" },
    };
    for (size_t i = 0; i < sizeof pris / sizeof pris[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "%sprog[42]: tlsclose[42]: sent", pris[i].pri);
        size_t len = tc_log_syslog_format(buf, sizeof buf, 8, pris[i].level, "prog", 42,
                                          "tlsclose[42]: sent", 18);
        ok(strcmp(buf, want) == 0 && len == strlen(want), "syslog line, %s: %s",
           tc_level_name(pris[i].level), buf);
    }
    size_t len = tc_log_syslog_format(buf, sizeof buf, 16 << 3 /* local0 */, TC_LEVEL_WARN, "prog",
                                      42, "tlsclose[42]: sent", 18);
    ok(strcmp(buf, "<132>prog[42]: tlsclose[42]: sent") == 0 && len == strlen(buf),
       "syslog line under facility local0: %s", buf);
    char tiny[16];
    len = tc_log_syslog_format(tiny, sizeof tiny, 8, TC_LEVEL_ERROR, "prog", 123456,
                                      "a long message", 14);
    ok(len == sizeof tiny - 1 && strcmp(tiny, "<11>prog[123456") == 0,
       "syslog line truncated to the buffer, NUL-terminated: %s", tiny);
    return tap_done();
}
