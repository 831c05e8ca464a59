/* reloc.c: reading a loaded object's relocations (see reloc.h). */
#include "config.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdint.h>
#include <string.h>

#include "reloc.h"

/* The relocation types that leave a plain pointer to the symbol in a word
 * of the object: the procedure linkage table's slots, the global offset
 * table's and absolute data pointers. */
#if defined(__x86_64__)
#define IS_POINTER_RELOC(t) ((t) == R_X86_64_JUMP_SLOT || (t) == R_X86_64_GLOB_DAT || (t) == R_X86_64_64)
#elif defined(__aarch64__)
#define IS_POINTER_RELOC(t) \
    ((t) == R_AARCH64_JUMP_SLOT || (t) == R_AARCH64_GLOB_DAT || (t) == R_AARCH64_ABS64)
#elif defined(__i386__)
#define IS_POINTER_RELOC(t) ((t) == R_386_JMP_SLOT || (t) == R_386_GLOB_DAT || (t) == R_386_32)
#endif

#ifdef IS_POINTER_RELOC

#if __ELF_NATIVE_CLASS == 64
#define R_SYM_OF(info) ELF64_R_SYM(info)
#define R_TYPE_OF(info) ELF64_R_TYPE(info)
#else
#define R_SYM_OF(info) ELF32_R_SYM(info)
#define R_TYPE_OF(info) ELF32_R_TYPE(info)
#endif

/* The dynamic loader relocates most address entries of .dynamic in place
 * (glibc does unless the section is read-only); an entry still below the
 * load address is an offset from it. */
static uintptr_t dyn_address(const struct link_map *lm, ElfW(Addr) value)
{
    return value < lm->l_addr ? lm->l_addr + value : value;
}

struct dyn {
    const ElfW(Sym) *symtab;
    const char *strtab;
    uintptr_t tables[2];      /* DT_JMPREL, then DT_RELA or DT_REL */
    size_t sizes[2];
    int rela;                 /* the tables hold Rela entries (else Rel) */
};

static int read_dynamic(const struct link_map *lm, struct dyn *d)
{
    memset(d, 0, sizeof *d);
    d->rela = -1;
    int plt_rela = -1;
    for (const ElfW(Dyn) *e = lm->l_ld; e && e->d_tag != DT_NULL; e++) {
        switch (e->d_tag) {
        case DT_SYMTAB:
            d->symtab = (const ElfW(Sym) *)dyn_address(lm, e->d_un.d_ptr);
            break;
        case DT_STRTAB:
            d->strtab = (const char *)dyn_address(lm, e->d_un.d_ptr);
            break;
        case DT_JMPREL:
            d->tables[0] = dyn_address(lm, e->d_un.d_ptr);
            break;
        case DT_PLTRELSZ:
            d->sizes[0] = e->d_un.d_val;
            break;
        case DT_PLTREL:
            plt_rela = e->d_un.d_val == DT_RELA;
            break;
        case DT_RELA:
        case DT_REL:
            d->tables[1] = dyn_address(lm, e->d_un.d_ptr);
            d->rela = e->d_tag == DT_RELA;
            break;
        case DT_RELASZ:
        case DT_RELSZ:
            d->sizes[1] = e->d_un.d_val;
            break;
        }
    }
    if (!d->symtab || !d->strtab)
        return 0;
    /* Both tables use one entry type on the machines above. */
    if (d->rela < 0)
        d->rela = plt_rela;
    return d->rela >= 0 && (plt_rela < 0 || plt_rela == d->rela);
}

int tc_reloc_all_reach(void *handle, const char *symbol, const void *target)
{
    struct link_map *lm = NULL;
    struct dyn d;
    if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !read_dynamic(lm, &d))
        return 0;
    size_t entry = d.rela ? sizeof(ElfW(Rela)) : sizeof(ElfW(Rel));
    int found = 0;
    for (int t = 0; t < 2; t++) {
        for (size_t off = 0; d.tables[t] && off + entry <= d.sizes[t]; off += entry) {
            /* r_offset and r_info lead both entry types. */
            const ElfW(Rel) *r = (const ElfW(Rel) *)(d.tables[t] + off);
            size_t sym = R_SYM_OF(r->r_info);
            if (!sym || !IS_POINTER_RELOC(R_TYPE_OF(r->r_info)) ||
                strcmp(d.strtab + d.symtab[sym].st_name, symbol) != 0)
                continue;
            const void *const *slot = (const void *const *)(lm->l_addr + r->r_offset);
            if (*slot != target)
                return 0;
            found = 1;
        }
    }
    return found;
}

#else

int tc_reloc_all_reach(void *handle, const char *symbol, const void *target)
{
    (void)handle, (void)symbol, (void)target;
    return 0;
}

#endif
