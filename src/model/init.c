/* init.c: initialisation of a fresh model (spec 3.3, the JAX recipe): embedding and every
 * dense kernel N(0, initializer_range²); inner W1/W2 N(0, 0.02²) with zero biases; the lr gate
 * N(0, 0.02²) with zero bias; λ = 0; norm weights 1 and biases 0; depthwise conv kernels
 * lecun-normal (truncated normal in ±2σ, std 1/sqrt(fan_in) with flax's 0.8796 correction),
 * conv biases 0. Draws come from one seeded stream in parameter-table order, in double, then
 * rounded to the model's precision. */
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "model/model.h"

void ttt_init_params(ttt_model *m, uint64_t seed) {
    ttt_rng rng;
    ttt_rng_seed(&rng, seed);
    double std = m->cfg.initializer_range;
    for (int64_t i = 0; i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        double conv_std = 1.0 / sqrt((double)m->dims.K) / 0.87962566103423978;
        for (int64_t j = 0; j < p->numel; j++) {
            double v;
            switch (p->init) {
            case INIT_NORMAL: v = std * ttt_rng_normal(&rng); break;
            case INIT_ONE: v = 1.0; break;
            case INIT_CONV: v = conv_std * ttt_rng_trunc_normal(&rng); break;
            default: v = 0.0; break;
            }
            if (m->elem == 4)
                ((float *)m->w)[p->offset + j] = (float)v;
            else
                ((double *)m->w)[p->offset + j] = v;
        }
    }
}
