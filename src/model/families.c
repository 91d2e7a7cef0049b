/* families.c: the registry of model families (model/family.h). The built-in families are
 * listed once, below; their ids are the values of ttt_arch. A program may add more at run
 * time with ttt_family_register (the test suite's toy family does, tests/family/). */
#include <string.h>

#include "model/family.h"

/* one line per built-in family: X(name) for the ttt_family_<name> its model file defines */
#define BUILTIN_FAMILIES(X) \
    X(ttt)   /* TTT_ARCH_TTT */ \
    X(llama) /* TTT_ARCH_LLAMA */ \
    X(mamba) /* TTT_ARCH_MAMBA */

#define DECLARE(name) extern const ttt_family ttt_family_##name;
BUILTIN_FAMILIES(DECLARE)
#undef DECLARE

#define ENTRY(name) &ttt_family_##name,
static const ttt_family *const builtin[] = {BUILTIN_FAMILIES(ENTRY)};
#undef ENTRY
enum { N_BUILTIN = sizeof builtin / sizeof builtin[0], MAX_FAMILIES = 64 };

static const ttt_family *added[MAX_FAMILIES - N_BUILTIN];
static int n_added;

int ttt_family_count(void) { return N_BUILTIN + n_added; }

const ttt_family *ttt_family_at(int id) {
    if (id < 0 || id >= ttt_family_count()) return NULL;
    return id < N_BUILTIN ? builtin[id] : added[id - N_BUILTIN];
}

const ttt_family *ttt_family_of(const ttt_config *cfg) { return ttt_family_at((int)cfg->arch); }

int ttt_family_register(const ttt_family *f) {
    if (!f || !f->model_type || n_added == MAX_FAMILIES - N_BUILTIN) return -1;
    for (int i = 0; i < ttt_family_count(); i++)
        if (strcmp(ttt_family_at(i)->model_type, f->model_type) == 0) return -1;
    added[n_added++] = f;
    return N_BUILTIN + n_added - 1;
}
