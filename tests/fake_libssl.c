/* fake_libssl: a "libssl" with only SSL_shutdown and SSL_read, to check
 * that the shim binds nothing it cannot find, says so in one line, and
 * passes the program's calls through instead of crashing. */
#include <stddef.h>

int SSL_shutdown(void *ssl);
int SSL_read(void *ssl, void *buf, int num);

int SSL_shutdown(void *ssl)
{
    (void)ssl;
    return 7;
}

int SSL_read(void *ssl, void *buf, int num)
{
    (void)ssl, (void)buf, (void)num;
    return 42;
}
