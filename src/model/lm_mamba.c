/* lm_mamba.c: placeholder for the mamba baseline (issue 4): loading works, computing does not yet. */
#include "core/error.h"
#include "model/lm_common.h"

static ttt_status not_yet(void) {
    return ttt_err(TTT_ERR_ARG, "model_type \"mamba\" is recognised but its computation is not implemented yet");
}

static ttt_status forward(ttt_model *m, const int32_t *ids, const int32_t *targets, int64_t B, int64_t L,
                          int per_seq, int backward, double scale, float *logits, double *loss) {
    (void)m, (void)ids, (void)targets, (void)B, (void)L, (void)per_seq, (void)backward, (void)scale;
    (void)logits, (void)loss;
    return not_yet();
}
static ttt_status cache_init(ttt_cache *c) {
    (void)c;
    return not_yet();
}
static void cache_reset(ttt_cache *c) { (void)c; }
static ttt_status prefill(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits) {
    (void)m, (void)c, (void)ids, (void)L, (void)logits;
    return not_yet();
}

const lm_arch_ops RF(lm_mamba_ops) = {forward, cache_init, cache_reset, prefill};
