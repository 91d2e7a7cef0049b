/* forward.c: a minimal program using libttt: create a tiny TTT-Linear model, run the
 * full forward pass on a few tokens, then decode the same tokens one by one through the
 * recurrent cache and compare the last position's logits.
 * Build: cc forward.c $(pkg-config --cflags --libs ttt) -fopenmp */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ttt.h"

int main(void) {
    ttt_config cfg;
    ttt_model *m;
    if (ttt_config_preset("ttt-linear-tiny", &cfg) != TTT_OK || ttt_model_create(&cfg, 42, NULL, &m) != TTT_OK) {
        fprintf(stderr, "error: %s\n", ttt_last_error());
        return 1;
    }
    enum { L = 21 };
    int32_t ids[L];
    for (int i = 0; i < L; i++) ids[i] = (i * 7 + 3) % (int)cfg.vocab_size;
    int64_t V = cfg.vocab_size;
    float *logits = malloc(sizeof(float) * L * (size_t)V), *step = malloc(sizeof(float) * (size_t)V);
    double loss;
    if (ttt_forward(m, ids, 1, L, logits, &loss) != TTT_OK) {
        fprintf(stderr, "error: %s\n", ttt_last_error());
        return 1;
    }
    ttt_cache *c;
    if (ttt_cache_create(m, 1, &c) != TTT_OK) return 1;
    for (int t = 0; t < L; t++)
        if (ttt_decode_step(m, c, &ids[t], step) != TTT_OK) return 1;
    double diff = 0;
    for (int64_t v = 0; v < V; v++) diff = fmax(diff, fabs(step[v] - logits[(L - 1) * V + v]));
    printf("parameters %lld, loss %.4f, cache %zu bytes, max |forward - decode| at the last token %.2e\n",
           (long long)ttt_param_numel_total(m), loss, ttt_cache_bytes(c), diff);
    ttt_cache_free(c);
    ttt_model_free(m);
    free(logits);
    free(step);
    return diff < 1e-3 ? 0 : 1;
}
