/* model.c: the public model API (ttt.h): loading and validating model directories, creating,
 * saving, parameter access, and dispatch to the f32 / f64 instantiations of the model code of
 * the model's family (model/family.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "io/safetensors.h"
#include "io/st_set.h"
#include "model/family.h"
#include "ops/gemm.h"
#include "ops/kernels.h"

void ttt_options_default(ttt_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->precision = TTT_PREC_F32;
    opt->remat_group = 4;
}

static ttt_status check_bf16(const ttt_options *opt) {
    if (opt->bf16_weights && opt->precision != TTT_PREC_F32)
        return ttt_err(TTT_ERR_ARG, "bf16_weights needs a float32 model (precision f32)");
    if (opt->bf16_train && opt->precision != TTT_PREC_F32)
        return ttt_err(TTT_ERR_ARG, "bf16 training needs a float32 model (precision f32)");
    return TTT_OK;
}

static void apply_options(ttt_model *m) {
    if (m->opt.threads > 0) ttt_set_threads(m->opt.threads);
    ttt_reference_kernels = m->opt.reference_kernels;
}

ttt_status ttt_model_set_options(ttt_model *m, const ttt_options *opt) {
    if (opt->precision != m->opt.precision)
        return ttt_err(TTT_ERR_ARG, "the precision of a loaded model cannot change (reload it)");
    if (opt->remat_group < 0) return ttt_err(TTT_ERR_ARG, "remat_group must be >= 0");
    TRY(check_bf16(opt));
    m->opt = *opt;
    m->w_bf16_stale = 1;
    if (!m->opt.bf16_weights && !m->opt.bf16_train) { /* drop the copy */
        ttt_free(m->w_bf16);
        m->w_bf16 = NULL;
    }
    apply_options(m);
    return TTT_OK;
}

/* bf16 products for the duration of one call: inference with bf16 weights (train = 0), or a
 * training forward/backward with bf16_train (train = 1; the gradients join the region).
 * (Re)make the copy if the parameters changed and make it the active region (kernels.h). */
static ttt_status bf16_begin(ttt_model *m, int train) {
    if (!(train ? m->opt.bf16_train : m->opt.bf16_weights) || m->elem != 4) return TTT_OK;
    if (!m->w_bf16) {
        m->w_bf16 = ttt_malloc(sizeof(uint16_t) * (size_t)m->tab.total, "bf16 weights");
        if (!m->w_bf16) return TTT_ERR_NOMEM;
        m->w_bf16_stale = 1;
    }
    if (m->w_bf16_stale) bf16_from_f32(m->w_bf16, (const float *)m->w, m->tab.total);
    m->w_bf16_stale = 0;
    ttt_bf16_active = (ttt_bf16_region){(const float *)m->w, m->tab.total, m->w_bf16,
                                        train ? (const float *)m->g : NULL};
    return TTT_OK;
}

static void bf16_end(void) { ttt_bf16_active = (ttt_bf16_region){NULL, 0, NULL, NULL}; }

void ttt_model_get_options(const ttt_model *m, ttt_options *opt) { *opt = m->opt; }

size_t ttt_workspace_bytes(const ttt_model *m) { return m->ws.bytes; }

ttt_status ttt_workspace_reserve(ttt_model *m, size_t bytes) {
    if (bytes <= m->ws.bytes) return TTT_OK;
    TRY(ttt_buf_reserve(&m->ws, bytes, "activations"));
    memset(m->ws.data, 0, bytes);
    return TTT_OK;
}

void ttt_model_set_inner_lr_mult(ttt_model *m, double mult) { m->dims.base_lr = m->cfg.ttt_base_lr * mult; }

/* where the parameters live: a given buffer (the weights file in place) with every tensor where
 * place() says, or (NULL) memory of the model's own */
typedef struct {
    param_place_fn place;
    void *ctx;
    void *w;                /* the buffer */
    void *map;              /* the mapping it lies in, unmapped with the model */
    size_t map_len;
} model_layout;

/* an empty model (parameters allocated, not set) for a validated config */
static ttt_status model_alloc(const ttt_config *cfg, const ttt_options *opt, const model_layout *lay, ttt_model **out) {
    ttt_model *m = calloc(1, sizeof *m);
    if (!m) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    if (opt)
        m->opt = *opt;
    else
        ttt_options_default(&m->opt);
    if (m->opt.remat_group < 0) {
        free(m);
        return ttt_err(TTT_ERR_ARG, "remat_group must be >= 0");
    }
    ttt_status bs = check_bf16(&m->opt);
    if (bs != TTT_OK) {
        free(m);
        return bs;
    }
    m->w_bf16_stale = 1;
    ttt_dims_from_config(&m->dims, cfg);
    m->elem = m->opt.precision == TTT_PREC_F64 ? 8 : 4;
    ttt_status s = lay ? ttt_params_build_placed(&m->tab, &m->offs, cfg, lay->place, lay->ctx)
                       : ttt_params_build(&m->tab, &m->offs, cfg);
    if (s != TTT_OK) {
        free(m);
        return s;
    }
    const ttt_family *fam = ttt_family_of(cfg);
    m->ops = fam->ops[m->elem == 8];
    size_t bytes;
    s = ttt_size_mul(&bytes, m->tab.total, 1, m->elem, "parameters");
    if (s == TTT_OK && lay) {
        m->w = lay->w, m->w_map = lay->map, m->w_map_len = lay->map_len;
    } else if (s == TTT_OK) {
        m->w = ttt_calloc(bytes, "parameters");
        if (!m->w) s = TTT_ERR_NOMEM;
    }
    if (s == TTT_OK && fam->prepare) s = fam->prepare(m);
    if (s != TTT_OK) {
        ttt_model_free(m);
        return s;
    }
    apply_options(m);
    *out = m;
    return TTT_OK;
}

void ttt_model_free(ttt_model *m) {
    if (!m) return;
    if (m->w_map) munmap(m->w_map, m->w_map_len);
    else ttt_free(m->w);
    ttt_free(m->w_bf16);
    ttt_free(m->g);
    ttt_free(m->priv);
    ttt_buf_release(&m->ws);
    ttt_buf_release(&m->hidden);
    ttt_params_free(&m->tab, &m->offs);
    free(m);
}

ttt_status ttt_model_create(const ttt_config *cfg, uint64_t seed, const ttt_options *opt,
                            ttt_model **out) {
    TRY(ttt_config_validate(cfg, "config"));
    ttt_model *m;
    TRY(model_alloc(cfg, opt, NULL, &m));
    ttt_init_params(m, seed);
    *out = m;
    return TTT_OK;
}

/* every parameter of CFG is in ST with its shape, and ST has nothing else */
static ttt_status check_tensors(const ttt_config *cfg, const st_set *st, const char *cpath) {
    const char *wpath = st->shown;
    param_table tab;
    ttt_lm_offs offs;
    TRY(ttt_params_build(&tab, &offs, cfg));
    ttt_status s = TTT_OK;
    for (int64_t i = 0; i < tab.n && s == TTT_OK; i++) {
        const param_info *p = &tab.p[i];
        const st_tensor *t = st_set_find(st, p->name, NULL);
        char want[128], got[128];
        if (!t) {
            s = ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' is missing (expected shape %s for this config)",
                        wpath, p->name, st_shape_str(p->shape, p->ndim, want, sizeof want));
            break;
        }
        int same = t->ndim == p->ndim;
        for (int k = 0; same && k < p->ndim; k++) same = t->shape[k] == p->shape[k];
        if (!same)
            s = ttt_err(TTT_ERR_FORMAT, "%s: tensor '%s' has shape %s, expected %s (from %s)", wpath,
                        p->name, st_shape_str(t->shape, t->ndim, got, sizeof got),
                        st_shape_str(p->shape, p->ndim, want, sizeof want), cpath);
    }
    for (int i = 0; i < st->n && s == TTT_OK; i++)
        if (param_table_find(&tab, st->e[i].t->name) < 0) {
            if (strcmp(st->e[i].t->name, "lm_head.weight") == 0 && cfg->tie_word_embeddings)
                s = ttt_err(TTT_ERR_FORMAT,
                            "%s: unexpected tensor 'lm_head.weight': %s sets "
                            "\"tie_word_embeddings\": true, so the head is the embedding",
                            wpath, cpath);
            else
                s = ttt_err(TTT_ERR_FORMAT,
                            "%s: unexpected tensor '%s' (not a parameter of the model that %s "
                            "describes)",
                            wpath, st->e[i].t->name, cpath);
        }
    ttt_params_free(&tab, &offs);
    return s;
}

/* a NaN or Inf weight would make every loss nan and every sample garbage: refuse it, naming
 * the tensor and the first bad element */
static ttt_status check_finite(const ttt_model *m, const param_info *p, const char *wpath) {
    for (int64_t j = 0; j < p->numel; j++) {
        double v = m->elem == 4 ? (double)((const float *)m->w)[p->offset + j]
                                : ((const double *)m->w)[p->offset + j];
        if (!isfinite(v))
            return ttt_err(TTT_ERR_NUMERIC,
                           "%s: tensor '%s' has a non-finite value (%g) at flat index %lld; "
                           "weights must be finite numbers",
                           wpath, p->name, v, (long long)j);
    }
    return TTT_OK;
}

/* In place: a float32 model whose weights are one file of float32 tensors only, each 4-byte
 * aligned in the mapping (the header keeps the data section's start, the tensors their offsets
 * within it); the parameter table then takes the file's layout (place_in_file). */
static int in_place_ok(const ttt_options *opt, const st_set *st) {
    if ((opt && (opt->precision != TTT_PREC_F32 || opt->copy_weights)) || st->nfiles != 1) return 0;
    const st_file *f = &st->files[0];
    if (!f->map || f->n == 0 || f->data_start % 4) return 0;
    for (int i = 0; i < f->n; i++)
        if (f->t[i].dtype != ST_F32 || f->t[i].begin % 4) return 0;
    return 1;
}

static int64_t place_in_file(void *ctx, const char *name, int64_t numel) {
    const st_tensor *t = st_set_find(ctx, name, NULL);
    return t && t->numel == numel ? (int64_t)(t->begin / 4) : -1;
}

int ttt_model_in_place(const ttt_model *m) { return m->w_map != NULL; }

ttt_status ttt_model_load(const char *dir, const ttt_options *opt, ttt_model **out) {
    if (!dir || !out) return ttt_err(TTT_ERR_ARG, "model_load: %s is NULL", dir ? "out" : "the model directory");
    char *cpath = ttt_path_join(dir, "config.json");
    if (!cpath) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    ttt_config cfg;
    ttt_model *m = NULL;
    st_set st; /* model.safetensors, or the shards of model.safetensors.index.json */
    ttt_status s = ttt_config_load(cpath, &cfg);
    if (s == TTT_OK) s = st_set_open(&st, dir);
    if (s != TTT_OK) {
        free(cpath);
        return s;
    }
    /* names and shapes first, from the headers alone: nothing sized by the config is allocated
     * before the files agree with it */
    s = check_tensors(&cfg, &st, cpath);
    model_layout lay = {place_in_file, &st, NULL, NULL, 0};
    int in_place = s == TTT_OK && in_place_ok(opt, &st) && st_map_private(&st.files[0], &lay.map, &lay.map_len) == TTT_OK;
    if (in_place) {
        lay.w = (char *)lay.map + st.files[0].data_start;
        s = model_alloc(&cfg, opt, &lay, &m);
        if (s != TTT_OK) munmap(lay.map, lay.map_len);
    } else if (s == TTT_OK) {
        s = model_alloc(&cfg, opt, NULL, &m);
    }
    for (int64_t i = 0; s == TTT_OK && i < m->tab.n; i++) {
        const param_info *p = &m->tab.p[i];
        const st_file *f = NULL;
        const st_tensor *t = st_set_find(&st, p->name, &f);
        if (in_place)
            s = TTT_OK;
        else if (m->elem == 4)
            s = st_read_f32(f, t, (float *)m->w + p->offset, p->numel);
        else
            s = st_read_f64(f, t, (double *)m->w + p->offset, p->numel);
        if (s == TTT_OK) s = check_finite(m, p, f->path);
    }
    st_set_close(&st);
    free(cpath);
    if (s != TTT_OK) {
        ttt_model_free(m);
        return s;
    }
    *out = m;
    return TTT_OK;
}

ttt_status ttt_model_save(const ttt_model *m, const char *dir, ttt_file_dtype dtype) {
    TRY(ttt_mkdir(dir));
    char *cpath = ttt_path_join(dir, "config.json"), *wpath = ttt_path_join(dir, "model.safetensors");
    st_entry *e = calloc((size_t)m->tab.n, sizeof *e);
    ttt_status s = (!cpath || !wpath || !e) ? ttt_err(TTT_ERR_NOMEM, "out of memory") : TTT_OK;
    if (s == TTT_OK) {
        st_dtype fd = dtype == TTT_DTYPE_BF16 ? ST_BF16 : dtype == TTT_DTYPE_F16 ? ST_F16 : dtype == TTT_DTYPE_F64 ? ST_F64 : ST_F32;
        for (int64_t i = 0; i < m->tab.n; i++) {
            const param_info *p = &m->tab.p[i];
            e[i].name = p->name;
            e[i].dtype = fd;
            e[i].ndim = p->ndim;
            memcpy(e[i].shape, p->shape, sizeof p->shape);
            e[i].data = (const char *)m->w + (size_t)p->offset * m->elem;
            e[i].src = m->elem == 4 ? ST_SRC_F32 : ST_SRC_F64;
        }
        s = st_write(wpath, e, (int)m->tab.n);
    }
    if (s == TTT_OK) s = ttt_config_save(&m->cfg, cpath);
    free(e);
    free(cpath);
    free(wpath);
    return s;
}

const ttt_config *ttt_model_config(const ttt_model *m) { return &m->cfg; }
int64_t ttt_param_count(const ttt_model *m) { return m->tab.n; }
const char *ttt_param_name(const ttt_model *m, int64_t i) { return m->tab.p[i].name; }
int64_t ttt_param_find(const ttt_model *m, const char *name) { return param_table_find(&m->tab, name); }

int64_t ttt_param_numel_total(const ttt_model *m) {
    int64_t n = 0;
    for (int64_t i = 0; i < m->tab.n; i++) n += m->tab.p[i].numel;
    return n;
}

int ttt_param_shape(const ttt_model *m, int64_t i, int64_t shape[8]) {
    const param_info *p = &m->tab.p[i];
    for (int k = 0; k < p->ndim; k++) shape[k] = p->shape[k];
    return p->ndim;
}

static void get_as_f32(const ttt_model *m, const void *buf, int64_t i, float *dst) {
    const param_info *p = &m->tab.p[i];
    for (int64_t j = 0; j < p->numel; j++)
        dst[j] = m->elem == 4 ? ((const float *)buf)[p->offset + j]
                              : (float)((const double *)buf)[p->offset + j];
}

void ttt_param_get(const ttt_model *m, int64_t i, float *dst) { get_as_f32(m, m->w, i, dst); }

void ttt_grad_get(const ttt_model *m, int64_t i, float *dst) {
    if (!m->g) {
        memset(dst, 0, sizeof(float) * (size_t)m->tab.p[i].numel);
        return;
    }
    get_as_f32(m, m->g, i, dst);
}

void ttt_param_set(ttt_model *m, int64_t i, const float *src) {
    const param_info *p = &m->tab.p[i];
    m->w_bf16_stale = 1;
    for (int64_t j = 0; j < p->numel; j++) {
        if (m->elem == 4)
            ((float *)m->w)[p->offset + j] = src[j];
        else
            ((double *)m->w)[p->offset + j] = src[j];
    }
}

/* ------------------------------------------------------------------------------------------ */

static ttt_status check_ids(const ttt_model *m, const int32_t *ids, int64_t B, int64_t L,
                            const char *what) {
    if (B <= 0 || L <= 0)
        return ttt_err(TTT_ERR_ARG, "%s: empty input (batch %lld, length %lld); need at least one token",
                       what, (long long)B, (long long)L);
    int64_t V = m->cfg.vocab_size; /* not the padded rows of a mamba_ssm embedding */
    for (int64_t i = 0; i < B * L; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return ttt_err(TTT_ERR_ARG,
                           "%s: token id %d at batch %lld, position %lld is outside [0, %lld) (the "
                           "model's vocab_size)",
                           what, ids[i], (long long)(i / L), (long long)(i % L), (long long)V);
    return TTT_OK;
}

ttt_status ttt_forward(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, float *logits,
                       double *loss) {
    TRY(check_ids(m, ids, B, L, "forward"));
    apply_options(m);
    if (m->keep_hidden) {
        size_t bytes;
        TRY(ttt_size_mul(&bytes, (m->dims.layers + 1) * B * L, m->dims.D, sizeof(float), "hidden states"));
        TRY(ttt_buf_reserve(&m->hidden, bytes, "hidden states"));
        m->hidden_B = B, m->hidden_L = L;
    }
    TRY(bf16_begin(m, 0));
    ttt_status s = m->ops->forward(m, ids, NULL, B, L, 0, 0, 1.0, logits, loss);
    bf16_end();
    return s;
}

void ttt_keep_hidden_states(ttt_model *m, int keep) { m->keep_hidden = keep; }

ttt_status ttt_forward_ttt_stats(ttt_model *m, const int32_t *ids, int64_t B, int64_t L, double *stats) {
    const ttt_family *fam = ttt_family_of(&m->cfg);
    if (!fam->inner_stats)
        return ttt_err(TTT_ERR_ARG, "inner-loop diagnostics need a TTT model (this is a %s model)", fam->title);
    TRY(check_ids(m, ids, B, L, "ttt_stats"));
    apply_options(m);
    int keep = m->keep_hidden;
    m->keep_hidden = 0;
    ttt_status s = fam->inner_stats(m, ids, B, L, stats);
    m->keep_hidden = keep;
    return s;
}

ttt_status ttt_hidden_state(const ttt_model *m, int64_t i, float *dst) {
    if (!m->keep_hidden || !m->hidden.data || i < 0 || i > m->dims.layers)
        return ttt_err(TTT_ERR_ARG, "hidden state %lld is not available", (long long)i);
    int64_t n = m->hidden_B * m->hidden_L * m->dims.D;
    memcpy(dst, (const float *)m->hidden.data + i * n, sizeof(float) * (size_t)n);
    return TTT_OK;
}

ttt_status ttt_zero_grad(ttt_model *m) {
    size_t bytes = (size_t)m->tab.total * m->elem;
    if (!m->g) {
        m->g = ttt_calloc(bytes, "gradients");
        if (!m->g) return TTT_ERR_NOMEM;
    } else {
        memset(m->g, 0, bytes);
    }
    return TTT_OK;
}

ttt_status ttt_forward_backward(ttt_model *m, const int32_t *ids, const int32_t *targets,
                                int64_t B, int64_t L, int per_sequence_mean, double grad_scale,
                                double *loss) {
    TRY(check_ids(m, ids, B, L, "forward_backward"));
    if (targets)
        for (int64_t i = 0; i < B * L; i++)
            if (targets[i] < -1 || targets[i] >= m->cfg.vocab_size)
                return ttt_err(TTT_ERR_ARG, "forward_backward: target %d at %lld is outside [-1, %lld)",
                               targets[i], (long long)i, (long long)m->cfg.vocab_size);
    if (!m->g) TRY(ttt_zero_grad(m));
    apply_options(m);
    /* the caller may have changed the weights since the last call (an optimizer step), and
     * will after it: the bf16 copy is made again now (bf16_train) and is out of date after */
    m->w_bf16_stale = 1;
    TRY(bf16_begin(m, 1));
    double lv = 0;
    int keep = m->keep_hidden;
    m->keep_hidden = 0;
    ttt_status s = m->ops->forward(m, ids, targets, B, L, per_sequence_mean, 1, grad_scale, NULL, &lv);
    m->keep_hidden = keep;
    bf16_end();
    m->w_bf16_stale = 1;
    if (s != TTT_OK) return s;
    if (!isfinite(lv)) return ttt_err(TTT_ERR_NUMERIC, "forward_backward: the loss is %g", lv);
    if (loss) *loss = lv;
    return TTT_OK;
}

/* ------------------------------------------------------------------------------------------ */

ttt_status ttt_cache_create(ttt_model *m, int64_t B, ttt_cache **out) {
    if (B <= 0) return ttt_err(TTT_ERR_ARG, "cache: batch size must be >= 1");
    ttt_cache *c = calloc(1, sizeof *c);
    if (!c) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    c->m = m;
    c->B = B;
    ttt_status s = m->ops->cache_init(c);
    if (s != TTT_OK) {
        ttt_buf_release(&c->buf);
        free(c);
        return s;
    }
    *out = c;
    return TTT_OK;
}

void ttt_cache_reset(ttt_cache *c) {
    c->m->ops->cache_reset(c);
    c->pos = 0;
}

void ttt_cache_free(ttt_cache *c) {
    if (!c) return;
    ttt_buf_release(&c->buf);
    free(c);
}

int64_t ttt_cache_position(const ttt_cache *c) { return c->pos; }
size_t ttt_cache_bytes(const ttt_cache *c) { return c->bytes; }

ttt_status ttt_prefill(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits) {
    if (c->m != m) return ttt_err(TTT_ERR_ARG, "prefill: the cache belongs to another model");
    TRY(check_ids(m, ids, c->B, L, "prefill"));
    apply_options(m);
    TRY(bf16_begin(m, 0));
    ttt_status s = m->ops->prefill(m, c, ids, L, logits);
    bf16_end();
    return s;
}

ttt_status ttt_prefill_last(ttt_model *m, ttt_cache *c, const int32_t *ids, int64_t L, float *logits) {
    if (c->m != m) return ttt_err(TTT_ERR_ARG, "prefill: the cache belongs to another model");
    TRY(check_ids(m, ids, c->B, L, "prefill"));
    apply_options(m);
    TRY(bf16_begin(m, 0));
    m->last_only_B = c->B;
    ttt_status s = m->ops->prefill(m, c, ids, L, logits);
    m->last_only_B = 0;
    bf16_end();
    return s;
}

ttt_status ttt_decode_step(ttt_model *m, ttt_cache *c, const int32_t *ids, float *logits) {
    return ttt_prefill(m, c, ids, 1, logits);
}

ttt_status ttt_model_decode_multi(ttt_model *m, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits) {
    TRY(check_ids(m, ids, n, 1, "decode"));
    apply_options(m);
    TRY(bf16_begin(m, 0));
    ttt_gemv_batch_exact = 1; /* each sequence's bits as decoded alone (ops/kernels.h) */
    ttt_status s = m->ops->decode_multi(m, caches, n, ids, logits);
    ttt_gemv_batch_exact = 0;
    bf16_end();
    return s;
}
