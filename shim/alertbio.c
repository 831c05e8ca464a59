/* alertbio.c: the BIO the library's close_notify is written into (see
 * alertbio.h). */
#include "config.h"

#include <string.h>

#include "alertbio.h"
#include "real.h"

/* A TLS record is at most 2^14 bytes of plaintext plus 2048 of expansion
 * (RFC 5246 6.2.3); an alert is far smaller, unless a program pads its
 * records (SSL_CTX_set_record_padding_callback). */
static char buffer[16384 + 2048 + 5];
static long used;

static BIO *bio;
static int busy;

static int sink_write(BIO *b, const char *data, int len)
{
    (void)b;
    if (len < 0 || (size_t)len > sizeof buffer - (size_t)used)
        return -1;
    memcpy(buffer + used, data, (size_t)len);
    used += len;
    return len;
}

/* Flushing succeeds (there is nothing to push); every other control,
 * kernel TLS and pending bytes among them, is "no". */
static long sink_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b, (void)num, (void)ptr;
    return cmd == TC_BIO_CTRL_FLUSH;
}

static int sink_create(BIO *b)
{
    tc_ossl.BIO_set_init(b, 1);
    return 1;
}

static BIO *make(void)
{
    const struct tc_ossl *o = &tc_ossl;
    if (!o->BIO_get_new_index || !o->BIO_meth_new || !o->BIO_meth_set_write ||
        !o->BIO_meth_set_ctrl || !o->BIO_meth_set_create || !o->BIO_set_init || !o->BIO_new)
        return NULL;
    int index = o->BIO_get_new_index();
    BIO_METHOD *m = index > 0 ? o->BIO_meth_new(index | TC_BIO_TYPE_SOURCE_SINK, "tlsclose alert")
                              : NULL;
    if (!m || !o->BIO_meth_set_write(m, sink_write) || !o->BIO_meth_set_ctrl(m, sink_ctrl) ||
        !o->BIO_meth_set_create(m, sink_create))
        return NULL; /* a method made and not used is kept: made once */
    return o->BIO_new(m);
}

BIO *tc_alert_bio_take(void)
{
    if (!tc_ossl.SSL_set0_wbio || !tc_ossl.BIO_up_ref)
        return NULL;
    if (__atomic_exchange_n(&busy, 1, __ATOMIC_ACQUIRE))
        return NULL;
    if (!bio)
        bio = make();
    if (!bio) {
        __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
        return NULL;
    }
    used = 0;
    return bio;
}

const char *tc_alert_bio_data(long *len)
{
    *len = used;
    return buffer;
}

void tc_alert_bio_give(void)
{
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
}
