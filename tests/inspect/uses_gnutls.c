/* uses_gnutls: dynamically linked against GnuTLS and no libssl, as wget
 * is (tests/inspect.test). */
#include <gnutls/gnutls.h>

int main(int argc, char **argv)
{
    (void)argv;
    return argc > 100 && gnutls_global_init() != 0;
}
