/* reloc.h: where a loaded library's calls to one of its own functions land.
 *
 * The library learns that an SSL object is gone from its SSL_free wrapper.
 * That holds only if libssl's own calls to SSL_free (BIO_free_all on an SSL
 * BIO, for one) reach the wrapper too: they do when libssl calls through
 * its procedure linkage table, as Debian's builds do, and they do not when
 * libssl was linked with -Bsymbolic or loaded with RTLD_DEEPBIND. Reading
 * libssl's relocations tells which, once, when OpenSSL is bound; when the
 * answer is not a clear yes, conn.c asks OpenSSL for a callback at every
 * free instead (ex_data), at its price. */
#ifndef TC_RELOC_H
#define TC_RELOC_H

/* 1 when the shared object `handle` (from dlopen) refers to `symbol`
 * through relocations only (procedure linkage or global offset table
 * entries, or data pointers), at least one, and every one of them holds
 * `target` now. 0 otherwise: no such relocation (its calls are bound
 * inside it), an entry that holds something else (bound elsewhere, or not
 * bound yet with lazy binding), a machine whose relocation types this
 * file does not know, or a dynamic section it cannot read. */
int tc_reloc_all_reach(void *handle, const char *symbol, const void *target);

#endif
