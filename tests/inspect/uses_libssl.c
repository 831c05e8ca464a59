/* uses_libssl: dynamically linked against the system's libssl
 * (tests/inspect.test). */
#include <openssl/ssl.h>

int main(int argc, char **argv)
{
    (void)argv;
    return argc > 100 && SSL_read(NULL, NULL, 0) != 0;
}
