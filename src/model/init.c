/* init.c: initialisation of a fresh model (design.md 3.4, the JAX recipe): embedding and every
 * dense kernel N(0, initializer_range²); inner W1/W2 N(0, 0.02²) with zero biases; the lr gate
 * N(0, 0.02²) with zero bias; λ = 0; norm weights 1 and biases 0; depthwise conv kernels
 * lecun-normal (truncated normal in ±2σ, std 1/sqrt(fan_in) with flax's 0.8796 correction),
 * conv biases 0. Llama: every weight N(0, initializer_range²), norms 1. Mamba (mamba_ssm's
 * recipe): embedding N(0, 0.02²), linear layers U(±1/sqrt(fan_in)) (out_proj further divided
 * by sqrt(layers)), dt_proj weight U(±R^-½), dt_proj bias softplus⁻¹(dt) with
 * dt = max(exp(U(log dt_min, log dt_max)), dt_floor), A_log = log(1..N), D = 1.
 * Draws come from one seeded stream in parameter-table order, in double, then rounded to the
 * model's precision. */
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
        double pstd = p->scale > 0 ? p->scale : std;
        int64_t ncol = p->ndim >= 2 ? p->shape[p->ndim - 1] : 1;
        for (int64_t j = 0; j < p->numel; j++) {
            double v;
            switch (p->init) {
            case INIT_NORMAL: v = pstd * ttt_rng_normal(&rng); break;
            case INIT_ONE: v = 1.0; break;
            case INIT_CONV: v = conv_std * ttt_rng_trunc_normal(&rng); break;
            case INIT_UNIFORM: v = p->scale * (2.0 * ttt_rng_uniform(&rng) - 1.0); break;
            case INIT_A_LOG: v = log((double)(j % ncol + 1)); break;
            case INIT_DT_BIAS: {
                double lo = log(m->cfg.time_step_min), hi = log(m->cfg.time_step_max);
                double dt = exp(lo + (hi - lo) * ttt_rng_uniform(&rng));
                if (dt < m->cfg.time_step_floor) dt = m->cfg.time_step_floor;
                v = dt + log(-expm1(-dt)); /* softplus⁻¹ */
            } break;
            default: v = 0.0; break;
            }
            if (m->elem == 4)
                ((float *)m->w)[p->offset + j] = (float)v;
            else
                ((double *)m->w)[p->offset + j] = v;
        }
    }
}
