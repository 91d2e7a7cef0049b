/* cmd_forward.c: `ttt forward`, the stable command for checking numbers:
 *   ttt forward --model DIR --input IN.safetensors --output OUT.safetensors [--grad] [--decode]
 * IN holds input_ids (I64 or I32, [B, L]); OUT receives logits [B, L, V] and loss [] (F32),
 * with --decode decode_logits (token by token through the cache from an empty state), with
 * --grad grad.<key> for every tensor of the model file, with --hidden-states the residual
 * stream after each block. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/prof.h"
#include "core/checked.h"
#include "core/mem.h"
#include "core/parse.h"
#include "core/rng.h"
#include "io/safetensors.h"
#include "ttt.h"

static const flag_spec flags[] = {
    {"model", 1},   {"input", 1},     {"output", 1},        {"grad", 0},
    {"decode", 0},  {"threads", 1},   {"precision", 1},     {"kernels", 1},
    {"remat-group", 1}, {"random", 1}, {"seed", 1},          {"hidden-states", 0},
    {"repeat", 1},  {"bf16", 0},      {"profile", 0},
    {NULL, 0}};

static void help(void) {
    printf("usage: ttt forward --model DIR (--input IN.safetensors | --random BxL) [--output OUT.safetensors]\n"
           "                   [--grad] [--decode] [--hidden-states] [--threads N]\n"
           "                   [--precision f32|f64] [--kernels fast|reference] [--remat-group N] [--bf16]\n\n"
           "Runs the full-sequence forward (dual form) on input_ids (I64 or I32, shape [B, L]) and\n"
           "writes logits (F32 [B, L, V]) and loss (F32 [], mean next-token cross-entropy over all\n"
           "B*(L-1) positions) to OUT. Prints the loss and tokens/s on stderr.\n\n"
           "  --decode          also decode_logits [B, L, V]: token by token through the recurrent\n"
           "                    cache from an empty state\n"
           "  --grad            also grad.<key> for every tensor of the model file (d loss / d param)\n"
           "  --hidden-states   also hidden_states.<i> [B, L, D] (0: embedding, i: after block i)\n"
           "  --random BxL      random token ids instead of --input (seeded by --seed, default 0)\n"
           "  --precision f64   compute in double precision (to check numbers)\n"
           "  --kernels reference  plain reference kernels instead of the fast ones\n"
           "  --bf16            bfloat16 products with float32 accumulation: forward and decode multiply\n"
           "                    by bf16 copies of the weights; --grad is bf16 mixed precision (the\n"
           "                    products of the linear layers in bf16, the rest float32, as 'ttt train\n"
           "                    --bf16')\n"
           "  --remat-group N   backward: recomputation group, TTT mini-batches (default 4; 0 keeps all);\n"
           "                    Mamba: scan chunks of 16*N steps (0: one chunk)\n"
           "  --threads N       worker threads (results do not depend on it)\n"
           "  --repeat N        run the forward (and forward+backward) N times and report the\n"
           "                    median time (the first run pays for allocating buffers)\n"
           "  --profile         where the time of the last forward (and forward+backward) went:\n"
           "                    exclusive seconds, calls and GFLOP/s per class of operation\n");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* the per-operation breakdown of the run just profiled, which took `total` seconds */
static void print_profile(const char *what, double total, int64_t B, int64_t L) {
    ttt_prof_totals p;
    ttt_prof_get(&p);
    double sum = 0, fl = 0;
    fprintf(stderr, "ttt forward: profile of one %s (%.3f s, %lld x %lld tokens):\n", what, total, (long long)B,
            (long long)L);
    fprintf(stderr, "  %-36s %9s %7s %7s %9s\n", "operation", "seconds", "share", "calls", "GFLOP/s");
    for (int c = 0; c < TTT_PROF_N; c++) {
        if (!p.calls[c]) continue;
        sum += p.seconds[c], fl += p.flops[c];
        fprintf(stderr, "  %-36s %9.4f %6.1f%% %7lld", ttt_prof_name(c), p.seconds[c], 100 * p.seconds[c] / total,
                (long long)p.calls[c]);
        if (p.flops[c] > 0) fprintf(stderr, " %9.1f", p.flops[c] / p.seconds[c] / 1e9);
        fprintf(stderr, "\n");
    }
    fprintf(stderr, "  %-36s %9.4f %6.1f%%\n", "other (copies, gates, layout)", total - sum,
            100 * (total - sum) / total);
    if (fl > 0) fprintf(stderr, "  matrix products: %.1f GFLOP in all, %.1f GFLOP/s over the whole run\n", fl / 1e9, fl / total / 1e9);
}

static double median(double *v, int64_t n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int read_ids(const char *path, int32_t **ids, int64_t *B, int64_t *L) {
    st_file st;
    if (st_open(&st, path) != TTT_OK) return cli_fail("forward");
    const st_tensor *t = st_find(&st, "input_ids");
    int rc = 0;
    if (!t) {
        fprintf(stderr, "ttt forward: %s: no tensor 'input_ids' (expected I64 or I32 [B, L])\n", path);
        rc = 1;
    } else if (t->ndim != 2) {
        fprintf(stderr, "ttt forward: %s: 'input_ids' has %d dimensions, expected 2 ([B, L])\n", path,
                t->ndim);
        rc = 1;
    } else if (t->dtype != ST_I64 && t->dtype != ST_I32) {
        fprintf(stderr, "ttt forward: %s: 'input_ids' has dtype %s, expected I64 or I32\n", path,
                st_dtype_name(t->dtype));
        rc = 1;
    } else if (t->numel == 0) {
        fprintf(stderr, "ttt forward: %s: 'input_ids' is empty (shape [%lld, %lld])\n", path,
                (long long)t->shape[0], (long long)t->shape[1]);
        rc = 1;
    }
    if (rc) {
        st_close(&st);
        return rc;
    }
    *B = t->shape[0];
    *L = t->shape[1];
    int64_t *tmp = malloc(sizeof(int64_t) * (size_t)t->numel);
    *ids = malloc(sizeof(int32_t) * (size_t)t->numel);
    if (!tmp || !*ids || st_read_i64(&st, t, tmp, t->numel) != TTT_OK) {
        rc = tmp && *ids ? cli_fail("forward") : (fprintf(stderr, "ttt forward: out of memory\n"), 1);
    } else {
        for (int64_t i = 0; i < t->numel; i++) {
            if (tmp[i] < INT32_MIN || tmp[i] > INT32_MAX) {
                fprintf(stderr, "ttt forward: %s: input_ids[%lld] = %lld does not fit a token id\n",
                        path, (long long)i, (long long)tmp[i]);
                rc = 1;
                break;
            }
            (*ids)[i] = (int32_t)tmp[i];
        }
    }
    free(tmp);
    st_close(&st);
    if (rc) {
        free(*ids);
        *ids = NULL;
    }
    return rc;
}

int cmd_forward(int argc, char **argv) {
    args a;
    if (args_parse(&a, "forward", flags, argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "model")) return 2;
    if (!args_has(&a, "input") && !args_has(&a, "random")) {
        fprintf(stderr, "ttt forward: give --input IN.safetensors or --random BxL\n");
        return 2;
    }
    if (args_has(&a, "input") && args_has(&a, "random")) {
        fprintf(stderr, "ttt forward: --input and --random both give the token ids: use one of them\n");
        return 2;
    }
    ttt_options opt;
    ttt_options_default(&opt);
    int64_t v;
    if (args_int(&a, "threads", 0, 0, 4096, &v)) return 2;
    opt.threads = (int)v;
    if (args_int(&a, "remat-group", 4, 0, 1 << 20, &v)) return 2;
    opt.remat_group = (int)v;
    const char *prec = args_str(&a, "precision", "f32");
    if (strcmp(prec, "f32") && strcmp(prec, "f64")) {
        fprintf(stderr, "ttt forward: --precision must be f32 or f64, got '%s'\n", prec);
        return 2;
    }
    opt.precision = strcmp(prec, "f64") == 0 ? TTT_PREC_F64 : TTT_PREC_F32;
    const char *kern = args_str(&a, "kernels", "fast");
    if (strcmp(kern, "fast") && strcmp(kern, "reference")) {
        fprintf(stderr, "ttt forward: --kernels must be fast or reference, got '%s'\n", kern);
        return 2;
    }
    opt.reference_kernels = strcmp(kern, "reference") == 0;
    opt.bf16_weights = opt.bf16_train = args_has(&a, "bf16");
    if (opt.bf16_weights && opt.precision != TTT_PREC_F32) {
        fprintf(stderr, "ttt forward: --bf16 needs --precision f32\n");
        return 2;
    }
    if (opt.bf16_weights && opt.reference_kernels) {
        fprintf(stderr, "ttt forward: --bf16 needs the fast kernels (the reference kernels are float32 only)\n");
        return 2;
    }

    ttt_model *m;
    if (ttt_model_load(args_str(&a, "model", ""), &opt, &m) != TTT_OK) return cli_fail("forward");
    const ttt_config *cfg = ttt_model_config(m);
    int32_t *ids = NULL;
    int64_t B = 0, L = 0;
    if (args_has(&a, "input")) {
        if (read_ids(args_str(&a, "input", ""), &ids, &B, &L)) {
            ttt_model_free(m);
            return 1;
        }
    } else {
        /* BxL: two integers, each in 1..2^31, with B·L <= 2^31 tokens */
        const char *r = args_str(&a, "random", "");
        const char *x = strchr(r, 'x');
        char bs[32];
        int64_t prod = 0;
        int ok = x && (size_t)(x - r) < sizeof bs;
        if (ok) {
            memcpy(bs, r, (size_t)(x - r));
            bs[x - r] = 0;
            ok = ttt_parse_i64_ok(bs, 1, (int64_t)1 << 31, &B) &&
                 ttt_parse_i64_ok(x + 1, 1, (int64_t)1 << 31, &L) && ttt_i64_mul_ok(B, L, &prod) &&
                 prod <= (int64_t)1 << 31;
        }
        if (!ok) {
            fprintf(stderr,
                    "ttt forward: --random must be BxL with integers B, L >= 1 and B*L <= 2^31 "
                    "tokens (e.g. 1x2048), got '%s'\n", r);
            ttt_model_free(m);
            return 2;
        }
        int64_t seed;
        if (args_int(&a, "seed", 0, 0, INT64_MAX, &seed)) {
            ttt_model_free(m);
            return 2;
        }
        ids = malloc(sizeof(int32_t) * (size_t)prod);
        if (!ids) {
            fprintf(stderr, "ttt forward: out of memory for %lld token ids\n", (long long)prod);
            ttt_model_free(m);
            return 1;
        }
        ttt_rng rng;
        ttt_rng_seed(&rng, (uint64_t)seed);
        for (int64_t i = 0; i < B * L; i++) ids[i] = (int32_t)(ttt_rng_u64(&rng) % (uint64_t)cfg->vocab_size);
    }
    /* logits are as wide as the embedding (padded for mamba_ssm checkpoints) */
    int64_t V = ttt_config_vocab_rows(cfg), D = cfg->hidden_size, nl = cfg->num_hidden_layers;
    const char *out = args_str(&a, "output", NULL);
    int want_hidden = args_has(&a, "hidden-states") && out;
    int rc = 0;
    float *logits = NULL, *dec = NULL, *hidden = NULL, **grads = NULL;
    float loss_f = 0;
    int64_t np = ttt_param_count(m);
    size_t lbytes = 0;
    int want_logits = out || args_has(&a, "decode");
    if (want_logits && !ttt_sz_mul_ok(sizeof(float), (size_t)(B * L), &lbytes)) lbytes = SIZE_MAX;
    if (want_logits && !ttt_sz_mul_ok(lbytes, (size_t)V, &lbytes)) {
        fprintf(stderr, "ttt forward: logits of %lld x %lld x %lld floats do not fit in memory\n",
                (long long)B, (long long)L, (long long)V);
        rc = 1;
        goto done;
    }
    logits = want_logits ? ttt_malloc(lbytes, "logits") : NULL;
    if (want_logits && !logits) {
        rc = cli_fail("forward");
        goto done;
    }
    ttt_keep_hidden_states(m, want_hidden);
    int64_t reps;
    if (args_int(&a, "repeat", 1, 1, 1000, &reps)) {
        rc = 2;
        goto done;
    }
    int prof = args_has(&a, "profile");
    double loss = 0, *times = calloc((size_t)reps, sizeof(double));
    for (int64_t r = 0; r < reps; r++) {
        if (prof && r == reps - 1) ttt_prof_reset(), ttt_prof_enabled = 1;
        double t0 = cli_now();
        ttt_status fs = ttt_forward(m, ids, B, L, logits, &loss);
        times[r] = cli_now() - t0;
        ttt_prof_enabled = 0;
        if (fs != TTT_OK) {
            free(times);
            rc = cli_fail("forward");
            goto done;
        }
    }
    if (prof && !args_has(&a, "grad")) print_profile("forward", times[reps - 1], B, L);
    double tf = median(times, reps);
    free(times);
    if (!isfinite(loss)) {
        fprintf(stderr,
                "ttt forward: the loss is not finite (%g): the model's activations overflow on "
                "this input (try --precision f64, or check the weights)\n", loss);
        rc = 1;
        goto done;
    }
    loss_f = (float)loss;
    if (L > 1)
        fprintf(stderr, "ttt forward: B=%lld L=%lld loss %.6f  %.1f tokens/s (%.3f s%s)\n", (long long)B,
                (long long)L, loss, (double)(B * L) / tf, tf, reps > 1 ? ", median" : "");
    else /* no position has a next token: there is no loss to report (OUT's loss is 0) */
        fprintf(stderr, "ttt forward: B=%lld L=1 loss n/a (no next-token targets at L = 1)  %.1f tokens/s (%.3f s%s)\n",
                (long long)B, (double)B / tf, tf, reps > 1 ? ", median" : "");
    if (want_hidden) {
        hidden = ttt_malloc(sizeof(float) * (size_t)((nl + 1) * B * L * D), "hidden states");
        if (!hidden) {
            rc = cli_fail("forward");
            goto done;
        }
        for (int64_t i = 0; i <= nl; i++) ttt_hidden_state(m, i, hidden + i * B * L * D);
    }
    if (args_has(&a, "decode")) {
        ttt_cache *c;
        dec = ttt_malloc(lbytes, "decode logits");
        if (!dec || ttt_cache_create(m, B, &c) != TTT_OK) {
            rc = cli_fail("forward");
            goto done;
        }
        int32_t *col = malloc(sizeof(int32_t) * (size_t)B);
        float *row = malloc(sizeof(float) * (size_t)(B * V));
        double td = cli_now();
        for (int64_t t = 0; t < L && rc == 0; t++) {
            for (int64_t b = 0; b < B; b++) col[b] = ids[b * L + t];
            if (ttt_decode_step(m, c, col, row) != TTT_OK) {
                rc = cli_fail("forward");
                break;
            }
            for (int64_t b = 0; b < B; b++) memcpy(dec + (b * L + t) * V, row + b * V, sizeof(float) * (size_t)V);
        }
        double te = cli_now();
        if (rc == 0) {
            double md = 0, mx = 0;
            for (int64_t i = 0; i < B * L * V; i++) {
                double d = dec[i] - logits[i];
                md = d > md ? d : -d > md ? -d : md;
                mx = logits[i] > mx ? logits[i] : -logits[i] > mx ? -logits[i] : mx;
            }
            fprintf(stderr,
                    "ttt forward: decode %.1f tokens/s (%.2f ms per step, cache %.1f KiB); "
                    "max |decode - forward| = %.2e (max |logit| %.2f)\n",
                    (double)(B * L) / (te - td), 1e3 * (te - td) / (double)L, ttt_cache_bytes(c) / 1024.0, md, mx);
        }
        free(col);
        free(row);
        ttt_cache_free(c);
        if (rc) goto done;
    }
    if (args_has(&a, "grad")) {
        double gl, *tb = calloc((size_t)reps, sizeof(double));
        for (int64_t r = 0; r < reps; r++) {
            if (prof && r == reps - 1) ttt_prof_reset(), ttt_prof_enabled = 1;
            double tg = cli_now();
            int ok = ttt_zero_grad(m) == TTT_OK && ttt_forward_backward(m, ids, NULL, B, L, 0, 1.0, &gl) == TTT_OK;
            tb[r] = cli_now() - tg;
            ttt_prof_enabled = 0;
            if (!ok) {
                free(tb);
                rc = cli_fail("forward");
                goto done;
            }
        }
        if (prof) print_profile("forward+backward", tb[reps - 1], B, L);
        double th = median(tb, reps);
        free(tb);
        fprintf(stderr, "ttt forward: forward+backward %.1f tokens/s (%.3f s%s), peak memory %.1f MiB\n",
                (double)(B * L) / th, th, reps > 1 ? ", median" : "", ttt_peak_rss_bytes() / 1048576.0);
        grads = calloc((size_t)np, sizeof(float *));
        for (int64_t i = 0; i < np && grads; i++) {
            int64_t sh[8], n = 1;
            int nd = ttt_param_shape(m, i, sh);
            for (int k = 0; k < nd; k++) n *= sh[k];
            grads[i] = malloc(sizeof(float) * (size_t)(n ? n : 1));
            if (!grads[i]) break;
            ttt_grad_get(m, i, grads[i]);
        }
    }
    if (out) {
        int64_t ne = 2 + (dec ? 1 : 0) + (grads ? np : 0) + (hidden ? nl + 1 : 0), k = 0;
        st_entry *e = calloc((size_t)ne, sizeof *e);
        char(*names)[128] = calloc((size_t)ne, sizeof *names);
        e[k++] = (st_entry){"logits", ST_F32, 3, {B, L, V}, logits, ST_SRC_RAW};
        e[k++] = (st_entry){"loss", ST_F32, 0, {0}, &loss_f, ST_SRC_RAW};
        if (dec) e[k++] = (st_entry){"decode_logits", ST_F32, 3, {B, L, V}, dec, ST_SRC_RAW};
        for (int64_t i = 0; grads && i < np; i++) {
            snprintf(names[k], sizeof names[k], "grad.%s", ttt_param_name(m, i));
            e[k].name = names[k];
            e[k].dtype = ST_F32;
            e[k].ndim = ttt_param_shape(m, i, e[k].shape);
            e[k].data = grads[i];
            e[k].src = ST_SRC_RAW;
            k++;
        }
        for (int64_t i = 0; hidden && i <= nl; i++) {
            snprintf(names[k], sizeof names[k], "hidden_states.%lld", (long long)i);
            e[k] = (st_entry){names[k], ST_F32, 3, {B, L, D}, hidden + i * B * L * D, ST_SRC_RAW};
            k++;
        }
        if (st_write(out, e, (int)k) != TTT_OK) rc = cli_fail("forward");
        free(e);
        free(names);
    }
done:
    if (grads)
        for (int64_t i = 0; i < np; i++) free(grads[i]);
    free(grads);
    ttt_free(logits);
    ttt_free(dec);
    ttt_free(hidden);
    free(ids);
    ttt_model_free(m);
    return rc;
}
