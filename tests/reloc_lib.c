/* reloc_lib: a stand-in for libssl in tests/unit_reloc. It defines SSL_free
 * and calls it itself, as libssl's BIO_free_all does. Built twice: as is
 * (the call goes through the procedure linkage table, so an interposer
 * sees it) and with -Bsymbolic-functions (bound inside, it does not). */
void SSL_free(void *ssl);
void reloc_lib_free(void *ssl);

void SSL_free(void *ssl)
{
    (void)ssl;
}

void reloc_lib_free(void *ssl)
{
    SSL_free(ssl);
}
