/* init.c: initialisation of a fresh model (design.md 3.4). Each tensor of the parameter table
 * says how (param_init, set by the family's params hook): N(0, scale²) with scale 0 meaning
 * initializer_range, U(±scale), scale · truncated N(0, 1) in ±2, zeros, ones, or a rule of the
 * family's own (its init_custom). Draws come from one seeded stream in parameter-table order,
 * in double, then rounded to the model's precision. */
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "model/family.h"

void ttt_init_params(ttt_model *m, uint64_t seed) {
    ttt_rng rng;
    ttt_rng_seed(&rng, seed);
    const ttt_family *fam = ttt_family_of(&m->cfg);
    double std = m->cfg.initializer_range;
    for (int64_t i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        double pstd = p->scale > 0 ? p->scale : std;
        for (int64_t j = 0; j < p->numel; j++) {
            double v;
            switch (p->init) {
            case INIT_NORMAL: v = pstd * ttt_rng_normal(&rng); break;
            case INIT_ONE: v = 1.0; break;
            case INIT_TRUNC_NORMAL: v = p->scale * ttt_rng_trunc_normal(&rng); break;
            case INIT_UNIFORM: v = p->scale * (2.0 * ttt_rng_uniform(&rng) - 1.0); break;
            case INIT_CUSTOM: v = fam->init_custom(&m->cfg, p, j, &rng); break;
            default: v = 0.0; break;
            }
            if (m->elem == 4)
                ((float *)m->w)[p->offset + j] = (float)v;
            else
                ((double *)m->w)[p->offset + j] = v;
        }
    }
}
