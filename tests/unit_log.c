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

int main(void)
{
    char buf[512];
    tc_log_format(buf, sizeof buf, TC_FORMAT_TEXT, 42, &sent);
    ok(strcmp(buf, "tlsclose[42]: sent trigger=close fd=5 peer=127.0.0.1:4433 tls=TLSv1.3 "
                   "read=6 written=12") == 0,
       "text line: %s", buf);

    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, 42, &sent);
    ok(strcmp(buf, "{\"tlsclose\":42,\"event\":\"sent\",\"level\":\"info\",\"trigger\":\"close\","
                   "\"fd\":5,\"peer\":\"127.0.0.1:4433\",\"tls\":\"TLSv1.3\",\"bytes_read\":6,"
                   "\"bytes_written\":12}") == 0,
       "JSON line: %s", buf);

    struct tc_event odd = { .name = "config_error", .level = TC_LEVEL_ERROR, .fd = -1,
                            .key = "variable", .value = "TLSCLOSE_EOF",
                            .detail = "invalid value 'a\"b\\c' for TLSCLOSE_EOF" };
    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, 1, &odd);
    ok(strstr(buf, "\"detail\":\"invalid value 'a\\\"b\\\\c' for TLSCLOSE_EOF\"") != NULL,
       "JSON escapes quotes and backslashes: %s", buf);
    tc_log_format(buf, sizeof buf, TC_FORMAT_TEXT, 1, &odd);
    ok(strstr(buf, " detail=\"invalid value 'a\\\"b\\\\c' for TLSCLOSE_EOF\"") != NULL,
       "text quotes values with spaces and escapes quotes: %s", buf);

    char small[48];
    size_t n = tc_log_format(small, sizeof small, TC_FORMAT_JSON, 1, &sent);
    ok(n < sizeof small && small[n] == '\0' && small[0] == '{' && small[n - 1] == '}',
       "a truncated JSON line is still one valid object: %s", small);
    struct tc_summary sum = { 3, 2, 1, 1 };
    struct tc_event summary = { .name = "summary", .level = TC_LEVEL_INFO, .fd = -1,
                                .summary = &sum };
    tc_log_format(buf, sizeof buf, TC_FORMAT_TEXT, 7, &summary);
    ok(strcmp(buf, "tlsclose[7]: summary fd=-1 connections=3 sent=2 skipped=1 truncations=1") == 0,
       "summary, text: %s", buf);
    tc_log_format(buf, sizeof buf, TC_FORMAT_JSON, 7, &summary);
    ok(strstr(buf, ",\"connections\":3,\"sent\":2,\"skipped\":1,\"truncations\":1}") != NULL,
       "summary, JSON: %s", buf);

    /* syslog: PRI = LOG_USER (8) | severity, the program's tag and pid, no
     * timestamp, no newline. */
    static const struct { enum tc_level level; const char *pri; } pris[] = {
        { TC_LEVEL_ERROR, "<11>" }, { TC_LEVEL_WARN, "<12>" },
        { TC_LEVEL_INFO, "<14>" },  { TC_LEVEL_DEBUG, "<15>" },
    };
    for (size_t i = 0; i < sizeof pris / sizeof pris[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "%sprog[42]: tlsclose[42]: sent", pris[i].pri);
        size_t len = tc_log_syslog_format(buf, sizeof buf, pris[i].level, "prog", 42,
                                          "tlsclose[42]: sent", 18);
        ok(strcmp(buf, want) == 0 && len == strlen(want), "syslog line, %s: %s",
           tc_level_name(pris[i].level), buf);
    }
    char tiny[16];
    size_t len = tc_log_syslog_format(tiny, sizeof tiny, TC_LEVEL_ERROR, "prog", 123456,
                                      "a long message", 14);
    ok(len == sizeof tiny - 1 && strcmp(tiny, "<11>prog[123456") == 0,
       "syslog line truncated to the buffer, NUL-terminated: %s", tiny);
    return tap_done();
}
