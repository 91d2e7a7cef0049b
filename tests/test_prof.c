/* test_prof.c: the per-operation breakdown (core/prof.h, `ttt forward --profile`). Off, it
 * records nothing; on, it changes no number (logits and gradients bit-identical); the classes'
 * exclusive times are non-negative and add up to at most the wall time of the step; the matrix
 * products' FLOPs are exactly those of the model's projections, lr gate, SwiGLU and head for a
 * Transformer-backbone TTT model (counted here from the config); nested operations count once;
 * and the command prints the table. Speed itself is not tested. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/prof.h"
#include "model/model.h"
#include "test.h"

TEST(test_prof_breakdown) {
    ttt_config c;
    EXPECT(ttt_config_preset("ttt-linear-tiny-tf", &c) == TTT_OK, "preset");
    ttt_model *m;
    EXPECT(ttt_model_create(&c, 3, NULL, &m) == TTT_OK, "%s", ttt_last_error());
    enum { B = 2, L = 24 };
    int32_t ids[B * L];
    for (int i = 0; i < B * L; i++) ids[i] = (i * 7 + 3) % (int)c.vocab_size;
    size_t nl = (size_t)(B * L * c.vocab_size);
    float *l0 = malloc(sizeof(float) * nl), *l1 = malloc(sizeof(float) * nl);
    double loss0, loss1;
    ttt_prof_totals p;
    /* off: nothing recorded */
    ttt_prof_reset();
    EXPECT(ttt_forward(m, ids, B, L, l0, &loss0) == TTT_OK, "%s", ttt_last_error());
    ttt_prof_get(&p);
    for (int k = 0; k < TTT_PROF_N; k++) EXPECT(p.calls[k] == 0 && p.seconds[k] == 0, "recorded while off: %s", ttt_prof_name(k));
    /* on: the same numbers; the FLOPs of the products are the model's */
    ttt_prof_enabled = 1;
    double t0 = omp_get_wtime();
    ttt_status s = ttt_forward(m, ids, B, L, l1, &loss1);
    double wall = omp_get_wtime() - t0;
    ttt_prof_enabled = 0;
    EXPECT(s == TTT_OK, "%s", ttt_last_error());
    EXPECT(check_bits("logits with the profiler on", l1, l0, sizeof(float) * nl), "profiling changed the logits");
    ttt_prof_get(&p);
    double sum = 0;
    for (int k = 0; k < TTT_PROF_N; k++) {
        EXPECT(p.seconds[k] >= 0, "%s: negative exclusive time %g", ttt_prof_name(k), p.seconds[k]);
        sum += p.seconds[k];
    }
    EXPECT(sum <= wall * 1.0001 + 1e-6, "classes add up to %g s, more than the step's %g s", sum, wall);
    double N = B * L, D = (double)c.hidden_size, I = (double)c.intermediate_size, V = (double)c.vocab_size;
    /* per layer q, k, v, o (no shared q/k, no gate), the lr gate [nh, D] and the three SwiGLU
     * products; then the head */
    double nh = (double)c.num_attention_heads;
    double want = (double)c.num_hidden_layers * (4 * 2 * N * D * D + 2 * N * D * nh + 3 * 2 * N * D * I) + 2 * N * D * V;
    EXPECT(p.flops[TTT_PROF_MM_NT] == want, "A*B^T FLOPs %.0f, expected %.0f", p.flops[TTT_PROF_MM_NT], want);
    EXPECT(p.calls[TTT_PROF_TTT_FWD] == c.num_hidden_layers, "TTT scan calls %lld", (long long)p.calls[TTT_PROF_TTT_FWD]);
    EXPECT(p.flops[TTT_PROF_MM_NN] == 0 && p.calls[TTT_PROF_OPTIM] == 0, "backward classes in a forward");
    /* forward + backward: gradients bit-identical, the backward classes appear */
    float *g0 = malloc(sizeof(float) * 64 * 64), *g1 = malloc(sizeof(float) * 64 * 64);
    int64_t qi = ttt_param_find(m, "model.layers.0.seq_modeling_block.q_proj.weight");
    EXPECT(qi >= 0, "q_proj");
    EXPECT(ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, &loss0) == TTT_OK, "fb");
    ttt_grad_get(m, qi, g0);
    ttt_prof_reset();
    ttt_prof_enabled = 1;
    s = ttt_zero_grad(m) == TTT_OK ? ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, &loss1) : TTT_ERR_NOMEM;
    ttt_prof_enabled = 0;
    EXPECT(s == TTT_OK, "%s", ttt_last_error());
    ttt_grad_get(m, qi, g1);
    EXPECT(check_bits("q_proj gradient with the profiler on", g1, g0, sizeof(float) * 64 * 64), "grads changed");
    ttt_prof_get(&p);
    EXPECT(p.calls[TTT_PROF_MM_NN] > 0 && p.calls[TTT_PROF_MM_TN] > 0 && p.calls[TTT_PROF_TTT_BWD] == c.num_hidden_layers,
           "backward classes missing");
    /* the weight gradients' products: the same FLOPs as the forward's */
    EXPECT(p.flops[TTT_PROF_MM_TN] == want, "A^T*B FLOPs %.0f, expected %.0f", p.flops[TTT_PROF_MM_TN], want);
    free(l0), free(l1), free(g0), free(g1);
    ttt_model_free(m);

    /* the command prints the table */
    const char *md = tmp_path("prof_model");
    char *out;
    EXPECT(run_cmd(&out, "rm -rf %s && %s init --preset ttt-linear-tiny --out %s", md, test_ttt_bin, md) == 0, "%s", out);
    free(out);
    EXPECT(run_cmd(&out, "%s forward --model %s --random 1x32 --grad --profile", test_ttt_bin, md) == 0 &&
               strstr(out, "profile of one forward+backward") && strstr(out, "TTT scan backward") &&
               strstr(out, "matrix products:"),
           "forward --profile: %s", out);
    free(out);
    return TEST_PASS;
}
