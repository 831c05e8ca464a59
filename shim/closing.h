/* closing.h: the one routine that sends close_notify on the program's
 * behalf (SPEC §4.2). */
#ifndef TC_CLOSING_H
#define TC_CLOSING_H

#include "conn.h"

enum tc_trigger {
    TC_TRIGGER_CLOSE,    /* close, close_range, closefrom, dup2/dup3 onto, fclose */
    TC_TRIGGER_SHUTDOWN, /* shutdown(SHUT_WR | SHUT_RDWR) */
    TC_TRIGGER_FREE,     /* SSL_free */
    TC_TRIGGER_EXIT,     /* exit() / return from main */
    TC_TRIGGER_QUIET,    /* the program's quiet SSL_shutdown, with TLSCLOSE_NOTIFY=always */
    TC_TRIGGER_REPLY,    /* answering the peer's close_notify (TLSCLOSE_REPLY) */
};

/* End c's connection with close_notify if the program did not and the rules
 * allow it: owned by this process, established, not failed, not sent yet,
 * not quiet (unless always), descriptor still the connection's. fd is the
 * descriptor the trigger came through, or -1 to use any of the connection's.
 * Sends at most once per connection; errno, the OpenSSL error queue and the
 * signal mask are as before; bounded in time; never raises SIGPIPE. */
void tc_end_connection(struct tc_conn *c, enum tc_trigger trigger, int fd);

#endif
