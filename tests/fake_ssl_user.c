/* fake_ssl_user: calls the fake libssl's functions through the shim. */
#include <stdio.h>

int SSL_shutdown(void *ssl);
int SSL_read(void *ssl, void *buf, int num);

int main(void)
{
    char buf[1];
    printf("SSL_read=%d SSL_shutdown=%d\n", SSL_read(NULL, buf, 1), SSL_shutdown(NULL));
    return 0;
}
