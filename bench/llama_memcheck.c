/* llama_memcheck.c: `make memcheck`: peak resident memory of one Llama attention layer at long
 * context, forward and backward, through the public API. The model is one block of width 768
 * with 12 heads (the 125M preset's attention) around which everything else is made tiny
 * (SwiGLU width 64, vocabulary 256), so that the figure is the attention layer's: input
 * RMSNorm, q/k/v/o projections, RoPE and the tiled causal attention, with what the backward
 * keeps. Prints the peak RSS (getrusage) after the forward and after forward + backward, and
 * fails (exit 1) above the limit. Not a test.
 *   llama_memcheck [L (default 32768)] [limit GiB (default 4)] */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ttt.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_gib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / (1024.0 * 1024.0); /* ru_maxrss is in KiB on Linux */
}

int main(int argc, char **argv) {
    long long L = argc > 1 ? atoll(argv[1]) : 32768;
    double limit = argc > 2 ? atof(argv[2]) : 4.0;
    if (L < 1 || !(limit > 0)) {
        fprintf(stderr, "usage: llama_memcheck [L] [limit GiB]\n");
        return 2;
    }
    ttt_config c;
    if (ttt_config_preset("llama-125m", &c) != TTT_OK) {
        fprintf(stderr, "llama_memcheck: %s\n", ttt_last_error());
        return 1;
    }
    c.num_hidden_layers = 1;
    c.intermediate_size = 64;
    c.vocab_size = 256;
    c.max_position_embeddings = L;
    ttt_model *m;
    ttt_options o;
    ttt_options_default(&o);
    if (ttt_model_create(&c, 1, &o, &m) != TTT_OK) {
        fprintf(stderr, "llama_memcheck: %s\n", ttt_last_error());
        return 1;
    }
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)L);
    for (long long i = 0; i < L; i++) ids[i] = (int32_t)((i * 7919) % 256);
    double base = peak_gib(), t0 = now(), loss = 0;
    if (ttt_forward(m, ids, 1, L, NULL, &loss) != TTT_OK) {
        fprintf(stderr, "llama_memcheck: forward: %s\n", ttt_last_error());
        return 1;
    }
    double t1 = now(), pf = peak_gib();
    if (ttt_zero_grad(m) != TTT_OK || ttt_forward_backward(m, ids, NULL, 1, L, 0, 1.0, &loss) != TTT_OK) {
        fprintf(stderr, "llama_memcheck: forward_backward: %s\n", ttt_last_error());
        return 1;
    }
    double t2 = now(), pb = peak_gib();
    printf("llama_memcheck: one attention layer, D=%lld, %lld heads (head dim %lld), L=%lld, %ld CPUs\n",
           (long long)c.hidden_size, (long long)c.num_attention_heads,
           (long long)(c.hidden_size / c.num_attention_heads), L, sysconf(_SC_NPROCESSORS_ONLN));
    printf("  after creating the model: peak RSS %.3f GiB\n", base);
    printf("  forward:                  peak RSS %.3f GiB (%.1f s)\n", pf, t1 - t0);
    printf("  forward + backward:       peak RSS %.3f GiB (%.1f s)   limit %.1f GiB: %s\n", pb, t2 - t1, limit,
           pb < limit ? "ok" : "EXCEEDED");
    free(ids);
    ttt_model_free(m);
    return pb < limit ? 0 : 1;
}
