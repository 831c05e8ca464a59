/* elf_file.h: the facts tlsclose-inspect reads from an ELF file itself, without
 * running it or any tool: how it is linked (PT_INTERP, PT_DYNAMIC), what it
 * needs (DT_NEEDED, DT_RUNPATH), and a few symbols of its .dynsym that tell
 * whether the library can reach its TLS (does it define SSL_read? import
 * dlopen? start other programs?). Files of the host's byte order only: a
 * program of another byte order cannot take the library anyway. */
#ifndef TC_INSPECT_ELF_FILE_H
#define TC_INSPECT_ELF_FILE_H

#include <stdbool.h>
#include <stddef.h>

/* What the .dynsym says (bits of elf_file.symbols). */
#define ELF_DEFINES_SSL_READ 0x1 /* SSL_read or SSL_read_ex defined and exported */
#define ELF_IMPORTS_DLOPEN 0x2   /* dlopen/dlmopen imported: may load libssl later */
#define ELF_IMPORTS_EXEC 0x4     /* exec*, posix_spawn*, system or popen imported */

struct elf_file {
    int bits;              /* 32 or 64 */
    unsigned machine;      /* e_machine (EM_X86_64, ...) */
    unsigned type;         /* e_type (ET_EXEC, ET_DYN, ...) */
    char *interp;          /* PT_INTERP, NULL when none */
    bool dynamic;          /* it has a PT_DYNAMIC segment */
    bool pie;              /* DT_FLAGS_1 has DF_1_PIE */
    bool go;               /* built by the Go toolchain (.go.buildinfo, Go build id) */
    char **needed;         /* DT_NEEDED, in order */
    size_t n_needed;
    char *runpath;         /* DT_RUNPATH, or DT_RPATH when there is none; NULL */
    bool symbols_read;     /* a .dynsym was found and read */
    unsigned symbols;      /* ELF_* bits above */
};

/* Reads PATH into *e. Returns 0, or -1 with a short reason in why (not an
 * ELF file, truncated, another byte order, ...); *e is then empty. */
int elf_read(const char *path, struct elf_file *e, char *why, size_t why_size);
void elf_free(struct elf_file *e);

/* "x86-64", "AArch64", ... or "machine N" (in buf). */
const char *elf_machine_name(unsigned machine, char *buf, size_t size);

#endif
