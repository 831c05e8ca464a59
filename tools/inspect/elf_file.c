/* elf_file.c: reading the facts of elf_file.h from an ELF file.
 *
 * The file is mapped read-only and every table is bounds-checked against
 * the mapping before use: the files inspected are arbitrary and may be
 * truncated or hostile. Both classes (32 and 64 bits) are read through one
 * set of class-independent records filled from <elf.h>'s structures. */
#include "config.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf_file.h"

#ifndef DF_1_PIE
#define DF_1_PIE 0x08000000
#endif

struct image {
    const unsigned char *p;
    size_t size;
    int bits;
};

/* Class-independent views of the headers. */
struct ehdr {
    unsigned type, machine;
    uint64_t phoff, shoff;
    unsigned phentsize, phnum, shentsize, shnum, shstrndx;
};
struct phdr {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
};
struct shdr {
    uint32_t name, type, link;
    uint64_t offset, size, entsize;
};

static bool in_image(const struct image *im, uint64_t off, uint64_t len)
{
    return off <= im->size && len <= im->size - off;
}

/* A NUL-terminated string at off within [base, base+limit), or NULL. */
static const char *string_at(const struct image *im, uint64_t base, uint64_t limit, uint64_t off)
{
    if (off >= limit || !in_image(im, base, limit))
        return NULL;
    const char *s = (const char *)im->p + base + off;
    return memchr(s, '\0', limit - off) ? s : NULL;
}

static int read_ehdr(const struct image *im, struct ehdr *h)
{
    if (im->bits == 64) {
        Elf64_Ehdr e;
        if (!in_image(im, 0, sizeof e))
            return -1;
        memcpy(&e, im->p, sizeof e);
        *h = (struct ehdr){ e.e_type, e.e_machine, e.e_phoff, e.e_shoff, e.e_phentsize,
                            e.e_phnum, e.e_shentsize, e.e_shnum, e.e_shstrndx };
        return h->phentsize == sizeof(Elf64_Phdr) || h->phnum == 0 ? 0 : -1;
    }
    Elf32_Ehdr e;
    if (!in_image(im, 0, sizeof e))
        return -1;
    memcpy(&e, im->p, sizeof e);
    *h = (struct ehdr){ e.e_type, e.e_machine, e.e_phoff, e.e_shoff, e.e_phentsize,
                        e.e_phnum, e.e_shentsize, e.e_shnum, e.e_shstrndx };
    return h->phentsize == sizeof(Elf32_Phdr) || h->phnum == 0 ? 0 : -1;
}

static int read_phdr(const struct image *im, const struct ehdr *h, unsigned i, struct phdr *ph)
{
    uint64_t off = h->phoff + (uint64_t)i * h->phentsize;
    if (!in_image(im, off, h->phentsize))
        return -1;
    if (im->bits == 64) {
        Elf64_Phdr p;
        memcpy(&p, im->p + off, sizeof p);
        *ph = (struct phdr){ p.p_type, p.p_offset, p.p_vaddr, p.p_filesz };
    } else {
        Elf32_Phdr p;
        memcpy(&p, im->p + off, sizeof p);
        *ph = (struct phdr){ p.p_type, p.p_offset, p.p_vaddr, p.p_filesz };
    }
    return 0;
}

static int read_shdr(const struct image *im, const struct ehdr *h, unsigned i, struct shdr *sh)
{
    size_t want = im->bits == 64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
    uint64_t off = h->shoff + (uint64_t)i * h->shentsize;
    if (h->shentsize != want || !in_image(im, off, want))
        return -1;
    if (im->bits == 64) {
        Elf64_Shdr s;
        memcpy(&s, im->p + off, sizeof s);
        *sh = (struct shdr){ s.sh_name, s.sh_type, s.sh_link, s.sh_offset, s.sh_size, s.sh_entsize };
    } else {
        Elf32_Shdr s;
        memcpy(&s, im->p + off, sizeof s);
        *sh = (struct shdr){ s.sh_name, s.sh_type, s.sh_link, s.sh_offset, s.sh_size, s.sh_entsize };
    }
    return 0;
}

/* The file offset of a virtual address, through the PT_LOAD segments (the
 * dynamic section gives addresses, not offsets). */
static int vaddr_to_offset(const struct image *im, const struct ehdr *h, uint64_t vaddr,
                           uint64_t *off, uint64_t *room)
{
    for (unsigned i = 0; i < h->phnum; i++) {
        struct phdr ph;
        if (read_phdr(im, h, i, &ph) < 0)
            return -1;
        if (ph.type == PT_LOAD && vaddr >= ph.vaddr && vaddr - ph.vaddr < ph.filesz) {
            *off = ph.offset + (vaddr - ph.vaddr);
            *room = ph.filesz - (vaddr - ph.vaddr);
            return 0;
        }
    }
    return -1;
}

/* --- the interesting symbols ------------------------------------------------ */

struct interesting {
    const char *name;
    bool defined; /* counts when defined (else when imported) */
    unsigned bit;
};

static const struct interesting interesting[] = {
    { "SSL_read", true, ELF_DEFINES_SSL_READ },
    { "SSL_read_ex", true, ELF_DEFINES_SSL_READ },
    { "dlopen", false, ELF_IMPORTS_DLOPEN },
    { "dlmopen", false, ELF_IMPORTS_DLOPEN },
    { "execve", false, ELF_IMPORTS_EXEC },
    { "execv", false, ELF_IMPORTS_EXEC },
    { "execvp", false, ELF_IMPORTS_EXEC },
    { "execvpe", false, ELF_IMPORTS_EXEC },
    { "execl", false, ELF_IMPORTS_EXEC },
    { "execlp", false, ELF_IMPORTS_EXEC },
    { "execle", false, ELF_IMPORTS_EXEC },
    { "fexecve", false, ELF_IMPORTS_EXEC },
    { "posix_spawn", false, ELF_IMPORTS_EXEC },
    { "posix_spawnp", false, ELF_IMPORTS_EXEC },
    { "system", false, ELF_IMPORTS_EXEC },
    { "popen", false, ELF_IMPORTS_EXEC },
};

static void note_symbol(struct elf_file *e, const char *name, unsigned bind, unsigned shndx)
{
    if (bind != STB_GLOBAL && bind != STB_WEAK)
        return;
    for (size_t i = 0; i < sizeof interesting / sizeof interesting[0]; i++)
        if (strcmp(name, interesting[i].name) == 0 && interesting[i].defined == (shndx != SHN_UNDEF))
            e->symbols |= interesting[i].bit;
}

/* Walks count symbols of the table at off (entries of entsize bytes) with
 * their names in [stroff, stroff+strsize). */
static void scan_symbols(const struct image *im, struct elf_file *e, uint64_t off, uint64_t count,
                         uint64_t stroff, uint64_t strsize)
{
    size_t entsize = im->bits == 64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
    if (!in_image(im, stroff, strsize) || count > (im->size / entsize))
        return;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t at = off + i * entsize;
        if (!in_image(im, at, entsize))
            return;
        uint32_t name;
        unsigned info, shndx;
        if (im->bits == 64) {
            Elf64_Sym s;
            memcpy(&s, im->p + at, sizeof s);
            name = s.st_name, info = s.st_info, shndx = s.st_shndx;
        } else {
            Elf32_Sym s;
            memcpy(&s, im->p + at, sizeof s);
            name = s.st_name, info = s.st_info, shndx = s.st_shndx;
        }
        const char *n = string_at(im, stroff, strsize, name);
        if (n && *n)
            note_symbol(e, n, ELF64_ST_BIND(info), shndx);
    }
    e->symbols_read = true;
}

/* --- sections: .dynsym, and the Go toolchain's marks ----------------------------- */

static void read_sections(const struct image *im, const struct ehdr *h, struct elf_file *e)
{
    struct shdr names;
    if (h->shnum == 0 || h->shstrndx >= h->shnum || read_shdr(im, h, h->shstrndx, &names) < 0)
        return;
    for (unsigned i = 0; i < h->shnum; i++) {
        struct shdr sh, str;
        if (read_shdr(im, h, i, &sh) < 0)
            return;
        const char *name = string_at(im, names.offset, names.size, sh.name);
        if (name && (strcmp(name, ".go.buildinfo") == 0 || strcmp(name, ".note.go.buildid") == 0))
            e->go = true;
        if (sh.type == SHT_DYNSYM && sh.entsize && read_shdr(im, h, sh.link, &str) == 0 &&
            in_image(im, sh.offset, sh.size))
            scan_symbols(im, e, sh.offset, sh.size / sh.entsize, str.offset, str.size);
    }
}

/* Without section headers (sstrip'ed files), the number of dynamic symbols
 * comes from the hash tables the loader uses: DT_HASH's nchain, or the
 * highest symbol index reachable through DT_GNU_HASH. */
static uint64_t symbol_count_from_hash(const struct image *im, const struct ehdr *h,
                                       uint64_t hash, uint64_t gnu_hash)
{
    uint64_t off, room;
    if (hash && vaddr_to_offset(im, h, hash, &off, &room) == 0 && room >= 8) {
        uint32_t nchain;
        memcpy(&nchain, im->p + off + 4, 4);
        return nchain;
    }
    if (!gnu_hash || vaddr_to_offset(im, h, gnu_hash, &off, &room) < 0 || room < 16)
        return 0;
    uint32_t hdr[4]; /* nbuckets, symoffset, bloom_size, bloom_shift */
    memcpy(hdr, im->p + off, sizeof hdr);
    uint64_t buckets = off + 16 + (uint64_t)hdr[2] * (im->bits / 8);
    uint64_t chains = buckets + (uint64_t)hdr[0] * 4;
    if (!in_image(im, buckets, (uint64_t)hdr[0] * 4))
        return 0;
    uint32_t last = 0;
    for (uint32_t b = 0; b < hdr[0]; b++) {
        uint32_t v;
        memcpy(&v, im->p + buckets + (uint64_t)b * 4, 4);
        if (v > last)
            last = v;
    }
    if (last < hdr[1])
        return hdr[1];
    for (;;) { /* follow the last chain to its end (low bit set) */
        uint64_t at = chains + (uint64_t)(last - hdr[1]) * 4;
        uint32_t v;
        if (!in_image(im, at, 4))
            return 0;
        memcpy(&v, im->p + at, 4);
        if (v & 1)
            return (uint64_t)last + 1;
        last++;
    }
}

/* --- the dynamic section --------------------------------------------------------- */

static char *copy_string(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int read_dynamic(const struct image *im, const struct ehdr *h, const struct phdr *dyn,
                        struct elf_file *e)
{
    size_t entsize = im->bits == 64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
    uint64_t strtab = 0, strsz = 0, symtab = 0, hash = 0, gnu_hash = 0, runpath = 0, rpath = 0;
    bool has_runpath = false, has_rpath = false;
    size_t n_needed = 0;

    if (!in_image(im, dyn->offset, dyn->filesz))
        return -1;
    uint64_t count = dyn->filesz / entsize;
    /* Two passes: the string table's address may come after the names. */
    for (int pass = 0; pass < 2; pass++) {
        uint64_t stroff = 0, strroom = 0;
        if (pass == 1) {
            if (!strtab || vaddr_to_offset(im, h, strtab, &stroff, &strroom) < 0)
                return -1;
            if (strsz && strsz < strroom)
                strroom = strsz;
            e->needed = calloc(n_needed ? n_needed : 1, sizeof *e->needed);
            if (!e->needed)
                return -1;
        }
        for (uint64_t i = 0; i < count; i++) {
            int64_t tag;
            uint64_t val;
            if (im->bits == 64) {
                Elf64_Dyn d;
                memcpy(&d, im->p + dyn->offset + i * entsize, sizeof d);
                tag = d.d_tag, val = d.d_un.d_val;
            } else {
                Elf32_Dyn d;
                memcpy(&d, im->p + dyn->offset + i * entsize, sizeof d);
                tag = d.d_tag, val = d.d_un.d_val;
            }
            if (tag == DT_NULL)
                break;
            if (pass == 0) {
                switch (tag) {
                case DT_NEEDED: n_needed++; break;
                case DT_STRTAB: strtab = val; break;
                case DT_STRSZ: strsz = val; break;
                case DT_SYMTAB: symtab = val; break;
                case DT_HASH: hash = val; break;
                case DT_GNU_HASH: gnu_hash = val; break;
                case DT_RUNPATH: runpath = val; has_runpath = true; break;
                case DT_RPATH: rpath = val; has_rpath = true; break;
                case DT_FLAGS_1:
                    if (val & DF_1_PIE)
                        e->pie = true;
                    break;
                }
            } else if (tag == DT_NEEDED) {
                const char *s = string_at(im, stroff, strroom, val);
                if (s && e->n_needed < n_needed)
                    e->needed[e->n_needed++] = copy_string(s);
            }
        }
        if (pass == 1) {
            if (has_runpath || has_rpath)
                e->runpath = copy_string(string_at(im, stroff, strroom, has_runpath ? runpath : rpath));
            if (!e->symbols_read && symtab) {
                uint64_t symoff, symroom, n = symbol_count_from_hash(im, h, hash, gnu_hash);
                if (n && vaddr_to_offset(im, h, symtab, &symoff, &symroom) == 0)
                    scan_symbols(im, e, symoff, n, stroff, strroom);
            }
        }
    }
    return 0;
}

/* --- the file ----------------------------------------------------------------------- */

static int parse(const struct image *im, struct elf_file *e, char *why, size_t why_size)
{
    struct ehdr h;
    struct phdr dyn = { 0 };
    bool have_dyn = false;

    if (read_ehdr(im, &h) < 0) {
        snprintf(why, why_size, "truncated or malformed ELF header");
        return -1;
    }
    e->type = h.type;
    e->machine = h.machine;
    for (unsigned i = 0; i < h.phnum; i++) {
        struct phdr ph;
        if (read_phdr(im, &h, i, &ph) < 0) {
            snprintf(why, why_size, "truncated program headers");
            return -1;
        }
        if (ph.type == PT_INTERP && !e->interp) {
            const char *s = string_at(im, ph.offset, ph.filesz, 0);
            e->interp = strdup(s ? s : "?");
        } else if (ph.type == PT_DYNAMIC) {
            dyn = ph;
            have_dyn = true;
        }
    }
    read_sections(im, &h, e);
    if (have_dyn) {
        e->dynamic = true;
        if (read_dynamic(im, &h, &dyn, e) < 0) {
            snprintf(why, why_size, "malformed dynamic section");
            return -1;
        }
    }
    return 0;
}

int elf_read(const char *path, struct elf_file *e, char *why, size_t why_size)
{
    struct stat st;
    int rc = -1;

    memset(e, 0, sizeof *e);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, why_size, "cannot read it");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size < EI_NIDENT) {
        snprintf(why, why_size, "not an ELF file");
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(why, why_size, "cannot map it");
        return -1;
    }
    struct image im = { p, (size_t)st.st_size, 0 };
    const unsigned char *id = im.p;
    unsigned host_data = (union { uint16_t v; unsigned char b[2]; }){ 1 }.b[0] ? ELFDATA2LSB : ELFDATA2MSB;
    if (memcmp(id, ELFMAG, SELFMAG) != 0) {
        snprintf(why, why_size, "not an ELF file");
    } else if (id[EI_CLASS] != ELFCLASS32 && id[EI_CLASS] != ELFCLASS64) {
        snprintf(why, why_size, "unknown ELF class %u", id[EI_CLASS]);
    } else if (id[EI_DATA] != host_data) {
        snprintf(why, why_size, "ELF file of the other byte order");
    } else {
        im.bits = e->bits = id[EI_CLASS] == ELFCLASS64 ? 64 : 32;
        rc = parse(&im, e, why, why_size);
    }
    munmap(p, im.size);
    if (rc < 0)
        elf_free(e);
    return rc;
}

void elf_free(struct elf_file *e)
{
    for (size_t i = 0; i < e->n_needed; i++)
        free(e->needed[i]);
    free(e->needed);
    free(e->interp);
    free(e->runpath);
    memset(e, 0, sizeof *e);
}

const char *elf_machine_name(unsigned machine, char *buf, size_t size)
{
    switch (machine) {
    case EM_X86_64: return "x86-64";
    case EM_386: return "i386";
    case EM_AARCH64: return "AArch64";
    case EM_ARM: return "ARM";
    case EM_RISCV: return "RISC-V";
    case EM_PPC64: return "PowerPC64";
    case EM_PPC: return "PowerPC";
    case EM_S390: return "S/390";
    case EM_MIPS: return "MIPS";
#ifdef EM_LOONGARCH
    case EM_LOONGARCH: return "LoongArch";
#endif
    default:
        snprintf(buf, size, "machine %u", machine);
        return buf;
    }
}
