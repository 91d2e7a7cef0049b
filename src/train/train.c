/* train.c: the training loop (spec section 5; ../shared/golden/train/README.md states one
 * step exactly):
 *   windows of L+1 tokens (inputs = first L, targets = last L, targets equal to BOS left out),
 *   taken in a seeded shuffled order (a new permutation every epoch);
 *   loss = mean over micro-batches of (mean over sequences of each sequence's mean NLL);
 *   global-norm clipping c = min(1, clip / (‖g‖ + 1e-6)); learning rate from the schedule
 *   (updates counted from 1); AdamW with decoupled weight decay on every parameter.
 * Checkpoints (checkpoint.h) make a resumed run continue bit for bit. */
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/half.h"
#include "core/rng.h"
#include "io/fsutil.h"
#include "model/model.h"
#include "ops/optim.h"
#include "train/checkpoint.h"
#include "ttt_tokenizer.h"
#include "ttt_train.h"

void ttt_train_opts_default(ttt_train_opts *o) {
    memset(o, 0, sizeof *o);
    o->seq_len = 512;
    o->batch = 8;
    o->micro_batch = 0; /* = batch */
    o->steps = 1000;
    o->lr = 3e-3;
    o->lr_end = 1e-5;
    o->warmup = -1; /* 10% of the steps */
    o->schedule = TTT_SCHED_COSINE;
    o->beta1 = 0.9;
    o->beta2 = 0.95;
    o->eps = 1e-8;
    o->weight_decay = 0.1;
    o->clip = 1.0;
    o->ttt_mlp_lr_warmup = 1;
    o->keep_ckpts = 2;
    o->log_every = 10;
    o->val_windows = 16;
    o->mask_bos = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* lr of update c (1-based): linear warm-up to the peak at update W, then cosine to lr_end at
 * update T (optax warmup_cosine_decay_schedule evaluated at count c) */
static double schedule_lr(const ttt_train_opts *o, int64_t c, int64_t W) {
    if (o->schedule == TTT_SCHED_CONSTANT) return o->lr;
    if (c < W) return o->lr * (double)c / (double)W;
    if (o->steps <= W) return o->lr_end;
    double x = (double)(c - W < o->steps - W ? c - W : o->steps - W) / (double)(o->steps - W);
    return o->lr_end + (o->lr - o->lr_end) * 0.5 * (1.0 + cos(3.14159265358979323846 * x));
}

/* TTT-MLP inner η_base multiplier at update k (spec 2.4): (0.01 + min(1, (k−1)/W)·0.09)/0.1,
 * rounded to bfloat16 as the JAX code does */
static double inner_lr_mult(int64_t k, int64_t W) {
    double frac = W > 0 ? fmin(1.0, (double)(k - 1) / (double)W) : 1.0;
    return (double)bf16_to_f32(f32_to_bf16((float)((0.01 + frac * 0.09) / 0.1)));
}

/* the windows of one epoch in a seeded order (Fisher-Yates) */
static void permutation(int64_t *perm, int64_t W, uint64_t seed, int64_t epoch, int shuffle) {
    for (int64_t i = 0; i < W; i++) perm[i] = i;
    if (!shuffle) return;
    ttt_rng r;
    ttt_rng_seed(&r, seed * 0x9e3779b97f4a7c15ull + (uint64_t)epoch + 1);
    for (int64_t i = W - 1; i > 0; i--) {
        int64_t j = (int64_t)(ttt_rng_u64(&r) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* inputs and targets of window w (targets equal to bos → −1) */
static void fill_window(const ttt_tokfile *tf, int64_t w, int64_t L, int32_t bos, int32_t *in, int32_t *tg) {
    const int32_t *src = tf->ids + w * (L + 1);
    for (int64_t t = 0; t < L; t++) {
        in[t] = src[t];
        tg[t] = bos >= 0 && src[t + 1] == bos ? -1 : src[t + 1];
    }
}

typedef struct {
    FILE *metrics;
    const char *run_dir;
} run_files;

static void metrics_line(run_files *rf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void metrics_line(run_files *rf, const char *fmt, ...) {
    if (!rf->metrics) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(rf->metrics, fmt, ap);
    va_end(ap);
    fputc('\n', rf->metrics);
    fflush(rf->metrics);
}

/* mean NLL over the unmasked targets of the first n windows of tf */
static ttt_status validate(ttt_model *m, const ttt_tokfile *tf, int64_t L, int64_t n, int64_t mb,
                           int32_t bos, double *out) {
    int64_t W = tf->n_tokens / (L + 1);
    n = n < W ? n : W;
    int32_t *in = malloc(sizeof(int32_t) * (size_t)(mb * L)), *tg = malloc(sizeof(int32_t) * (size_t)(mb * L));
    double *nll = malloc(sizeof(double) * (size_t)(mb * L));
    double sum = 0;
    int64_t cnt = 0;
    ttt_status s = (!in || !tg || !nll) ? ttt_err(TTT_ERR_NOMEM, "out of memory") : TTT_OK;
    for (int64_t w0 = 0; w0 < n && s == TTT_OK; w0 += mb) {
        int64_t b = n - w0 < mb ? n - w0 : mb;
        for (int64_t i = 0; i < b; i++) fill_window(tf, w0 + i, L, bos, in + i * L, tg + i * L);
        s = ttt_forward_nll(m, in, tg, b, L, nll);
        for (int64_t r = 0; s == TTT_OK && r < b * L; r++)
            if (tg[r] >= 0) sum += nll[r], cnt++;
    }
    free(in), free(tg), free(nll);
    *out = cnt ? sum / (double)cnt : NAN;
    return s;
}

ttt_status ttt_train(ttt_model *m, const ttt_train_opts *o_in, const char *train_path,
                     const char *val_path, const char *run_dir, int resume, ttt_progress_fn progress,
                     void *ctx) {
    ttt_train_opts o = *o_in;
    if (o.micro_batch <= 0) o.micro_batch = o.batch;
    if (o.warmup < 0) o.warmup = o.steps / 10;
    if (o.seq_len < 1 || o.batch < 1 || o.steps < 1)
        return ttt_err(TTT_ERR_ARG, "train: seq_len, batch and steps must be >= 1");
    if (o.batch % o.micro_batch != 0)
        return ttt_err(TTT_ERR_ARG, "train: the batch (%lld sequences) is not a multiple of the micro-batch (%lld)",
                       (long long)o.batch, (long long)o.micro_batch);
    if (!(o.lr >= 0) || !(o.lr_end >= 0) || !(o.beta1 >= 0 && o.beta1 < 1) || !(o.beta2 >= 0 && o.beta2 < 1) ||
        !(o.eps > 0) || !(o.weight_decay >= 0))
        return ttt_err(TTT_ERR_ARG, "train: learning rates and weight decay must be >= 0, betas in [0, 1), eps > 0");
    const int64_t L = o.seq_len, A = o.batch / o.micro_batch, mb = o.micro_batch;
    const int32_t bos = o.mask_bos ? (int32_t)m->cfg.bos_token_id : -1;

    ttt_tokfile tf, vf;
    memset(&vf, 0, sizeof vf);
    TRY(ttt_tokfile_read(train_path, &tf));
    ttt_status s = TTT_OK;
    if (tf.vocab_size > m->cfg.vocab_size)
        s = ttt_err(TTT_ERR_ARG, "%s: token ids go up to %lld but the model's vocab_size is %lld", train_path,
                    (long long)tf.vocab_size, (long long)m->cfg.vocab_size);
    int64_t W = tf.n_tokens / (L + 1);
    if (s == TTT_OK && W < 1)
        s = ttt_err(TTT_ERR_ARG, "%s: %lld tokens do not make one window of L+1 = %lld tokens", train_path,
                    (long long)tf.n_tokens, (long long)(L + 1));
    if (s == TTT_OK && val_path) {
        s = ttt_tokfile_read(val_path, &vf);
        if (s == TTT_OK && vf.n_tokens < L + 1)
            s = ttt_err(TTT_ERR_ARG, "%s: fewer tokens (%lld) than one window of %lld", val_path,
                        (long long)vf.n_tokens, (long long)(L + 1));
    }
    if (s != TTT_OK) {
        ttt_tokfile_free(&tf);
        ttt_tokfile_free(&vf);
        return s;
    }

    /* settings a resume must keep (they fix which windows each step sees) */
    char s_L[32], s_B[32], s_seed[32], s_data[96];
    snprintf(s_L, sizeof s_L, "%lld", (long long)L);
    snprintf(s_B, sizeof s_B, "%lld", (long long)o.batch);
    snprintf(s_seed, sizeof s_seed, "%" PRIu64, o.seed);
    snprintf(s_data, sizeof s_data, "%lld tokens, checksum %016" PRIx64, (long long)tf.n_tokens, tf.checksum);
    const char *keys[] = {"seq_len", "batch", "seed", "train_data", "shuffle"};
    const char *vals[] = {s_L, s_B, s_seed, s_data, o.no_shuffle ? "0" : "1"};
    const int nkeys = 5;

    size_t pbytes = (size_t)m->tab.total * m->elem;
    train_state st = {0, 0, o.seed, ttt_calloc(pbytes, "AdamW m"), ttt_calloc(pbytes, "AdamW v")};
    int32_t *in = malloc(sizeof(int32_t) * (size_t)(mb * L)), *tg = malloc(sizeof(int32_t) * (size_t)(mb * L));
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)W);
    if (!st.m || !st.v || !in || !tg || !perm) s = ttt_err(TTT_ERR_NOMEM, "out of memory for the optimizer state");
    if (s == TTT_OK) s = ttt_mkdir(run_dir);
    char *latest = NULL;
    if (s == TTT_OK) {
        char *lp = ttt_path_join(run_dir, "latest");
        FILE *fp = fopen(lp, "rb");
        free(lp);
        int has = fp != NULL;
        if (fp) fclose(fp);
        if (resume && !has)
            s = ttt_err(TTT_ERR_ARG, "%s: nothing to resume (no checkpoint in this run directory)", run_dir);
        else if (!resume && has)
            s = ttt_err(TTT_ERR_ARG, "%s: the run directory already has checkpoints; resume it (--resume) or use "
                        "another directory", run_dir);
        else if (resume) {
            latest = ttt_run_latest_checkpoint(run_dir);
            s = latest ? ckpt_read(latest, m, &st, keys, vals, nkeys) : TTT_ERR_IO;
        }
    }
    run_files rf = {NULL, run_dir};
    if (s == TTT_OK) {
        char *mp = ttt_path_join(run_dir, "metrics.jsonl");
        rf.metrics = fopen(mp, "a");
        free(mp);
        if (!rf.metrics) s = ttt_err(TTT_ERR_IO, "%s: cannot write metrics.jsonl", run_dir);
    }
    if (s == TTT_OK && !resume)
        metrics_line(&rf, "{\"event\": \"start\", \"steps\": %lld, \"seq_len\": %lld, \"batch\": %lld, \"lr\": %g, "
                     "\"parameters\": %lld, \"train_tokens\": %lld}",
                     (long long)o.steps, (long long)L, (long long)o.batch, o.lr,
                     (long long)ttt_param_numel_total(m), (long long)tf.n_tokens);
    int mlp_warm = o.ttt_mlp_lr_warmup && m->cfg.arch == TTT_ARCH_TTT && m->cfg.ttt_layer_type == TTT_INNER_MLP;
    int64_t cur_epoch = -1, steps_this_call = 0;
    double t_start = now_s();
    char *ckpt_path = NULL;
    while (s == TTT_OK && st.step < o.steps) {
        double t0 = now_s();
        int64_t k = st.step + 1; /* this update, counted from 1 */
        if (mlp_warm) ttt_model_set_inner_lr_mult(m, inner_lr_mult(k, o.warmup));
        s = ttt_zero_grad(m);
        double loss = 0;
        for (int64_t a = 0; a < A && s == TTT_OK; a++) {
            for (int64_t i = 0; i < mb; i++) {
                int64_t g = st.windows + a * mb + i, epoch = g / W;
                if (epoch != cur_epoch) {
                    permutation(perm, W, o.seed, epoch, !o.no_shuffle);
                    cur_epoch = epoch;
                }
                fill_window(&tf, perm[g % W], L, bos, in + i * L, tg + i * L);
            }
            double la;
            s = ttt_forward_backward(m, in, tg, mb, L, 1, 1.0 / (double)A, &la);
            loss += la / (double)A;
        }
        if (mlp_warm) ttt_model_set_inner_lr_mult(m, 1.0);
        if (s == TTT_ERR_NUMERIC) {
            char *lc = ttt_run_latest_checkpoint(run_dir);
            ttt_clear_error();
            s = ttt_err(TTT_ERR_NUMERIC, "training stopped at step %lld: the loss is not finite; the last "
                        "checkpoint is %s (resume from it with --resume, perhaps with a lower learning rate)",
                        (long long)k, lc ? lc : "(none yet)");
            free(lc);
        }
        if (s != TTT_OK) break;
        double sq = m->elem == 8 ? sumsq_f64(m->g, m->tab.total) : sumsq_f32(m->g, m->tab.total);
        double norm = sqrt(sq);
        if (!isfinite(norm)) {
            char *lc = ttt_run_latest_checkpoint(run_dir);
            ttt_clear_error();
            s = ttt_err(TTT_ERR_NUMERIC, "training stopped at step %lld: the gradient norm is not finite; the last "
                        "checkpoint is %s", (long long)k, lc ? lc : "(none yet)");
            free(lc);
            break;
        }
        double c = o.clip > 0 ? fmin(1.0, o.clip / (norm + 1e-6)) : 1.0;
        double lr = schedule_lr(&o, k, o.warmup);
        if (m->elem == 8)
            adamw_step_f64(m->w, m->g, st.m, st.v, m->tab.total, lr, o.beta1, o.beta2, o.eps, o.weight_decay, k, c);
        else
            adamw_step_f32(m->w, m->g, st.m, st.v, m->tab.total, lr, o.beta1, o.beta2, o.eps, o.weight_decay, k, c);
        st.step = k;
        st.windows += o.batch;
        steps_this_call++;
        double dt = now_s() - t0;
        ttt_train_progress p = {k, o.steps, loss, lr, norm, (double)(o.batch * L) / dt, now_s() - t_start, NAN};
        int last = st.step == o.steps || (o.stop_after > 0 && steps_this_call >= o.stop_after);
        if (vf.ids && ((o.val_every > 0 && k % o.val_every == 0) || last)) {
            s = validate(m, &vf, L, o.val_windows, mb, bos, &p.val_loss);
            if (s != TTT_OK) break;
            metrics_line(&rf, "{\"step\": %lld, \"val_loss\": %.6f, \"val_ppl\": %.4f}", (long long)k, p.val_loss,
                         exp(p.val_loss));
        }
        if (o.log_every > 0 && (k % o.log_every == 0 || last || k == 1))
            metrics_line(&rf, "{\"step\": %lld, \"loss\": %.6f, \"lr\": %.6g, \"grad_norm\": %.6f, \"tokens_per_s\": %.1f, "
                         "\"elapsed_s\": %.2f}",
                         (long long)k, loss, lr, norm, p.tokens_per_s, p.elapsed_s);
        if (progress && !o.quiet) progress(&p, ctx);
        if ((o.ckpt_every > 0 && k % o.ckpt_every == 0) || last) {
            free(ckpt_path);
            ckpt_path = NULL;
            s = ckpt_write(run_dir, m, &st, keys, vals, nkeys, o.keep_ckpts, &ckpt_path);
        }
        if (last) break;
    }
    if (rf.metrics) fclose(rf.metrics);
    free(ckpt_path);
    free(latest);
    free(in), free(tg), free(perm);
    ttt_free(st.m), ttt_free(st.v);
    ttt_tokfile_free(&tf);
    ttt_tokfile_free(&vf);
    return s;
}
