/* params.c: the parameter table of a model, the tensors of its model.safetensors with the
 * names and shapes of the family's reference implementation (built by the family's params
 * hook, design.md 3.5), laid out in one contiguous buffer, each tensor on a 64-byte boundary
 * (or where a given layout puts it: a weights file used in place); and the sizes of ttt_dims. */
#include "model/params.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "model/family.h"

#define ALIGN_ELEMS 16 /* each tensor starts on a 64-byte boundary for float */

void ttt_dims_from_config(ttt_dims *d, const ttt_config *c) {
    memset(d, 0, sizeof *d);
    d->V = ttt_config_vocab_rows(c);
    d->D = c->hidden_size;
    d->I = c->intermediate_size;
    d->layers = c->num_hidden_layers;
    d->tied = c->tie_word_embeddings;
    d->rms_eps = c->rms_norm_eps;
    d->rope_theta = c->rope_theta;
    const ttt_family *f = ttt_family_of(c);
    if (f && f->dims) f->dims(d, c);
}

static int64_t add_v(param_table *t, param_init init, double scale, int ndim, const int64_t *shape,
                     const char *fmt, va_list ap) {
    if (t->n == t->cap) {
        int64_t cap = t->cap ? 2 * t->cap : 64;
        param_info *p = cap < INT64_MAX / 2 ? realloc(t->p, sizeof *p * (size_t)cap) : NULL;
        if (!p) {
            t->nomem = 1;
            return 0;
        }
        t->p = p, t->cap = cap;
    }
    param_info *p = &t->p[t->n++];
    memset(p, 0, sizeof *p);
    vsnprintf(p->name, sizeof p->name, fmt, ap);
    p->ndim = ndim;
    /* numel = prod(shape), total += numel rounded up to ALIGN_ELEMS, all checked: the dims come
     * from config.json, and a wrapped count would size an allocation */
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        if (shape[i] < 0 || !ttt_i64_mul_ok(p->numel, shape[i], &p->numel)) t->overflow = 1;
    }
    p->offset = t->total;
    p->init = init;
    p->scale = scale;
    int64_t padded, end;
    if (t->place && !t->overflow) { /* the given layout: the buffer reaches the end of every tensor */
        p->offset = t->place(t->place_ctx, p->name, p->numel);
        if (p->offset < 0) t->misplaced = 1, p->offset = 0;
        else if (!ttt_i64_add_ok(p->offset, p->numel, &end)) t->overflow = 1;
        else if (end > t->total) t->total = end;
        return p->offset;
    }
    if (t->overflow || !ttt_i64_add_ok(p->numel, ALIGN_ELEMS - 1, &padded) ||
        !ttt_i64_add_ok(t->total, padded / ALIGN_ELEMS * ALIGN_ELEMS, &t->total)) {
        t->overflow = 1;
        p->numel = 0;
    }
    return p->offset;
}

int64_t param_add(param_table *t, param_init init, int ndim, const int64_t *shape, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int64_t o = add_v(t, init, 0, ndim, shape, fmt, ap);
    va_end(ap);
    return o;
}

int64_t param_add_scaled(param_table *t, param_init init, double scale, int ndim, const int64_t *shape,
                         const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int64_t o = add_v(t, init, scale, ndim, shape, fmt, ap);
    va_end(ap);
    return o;
}

ttt_status ttt_params_build(param_table *t, ttt_lm_offs *o, const ttt_config *cfg) {
    return ttt_params_build_placed(t, o, cfg, NULL, NULL);
}

ttt_status ttt_params_build_placed(param_table *t, ttt_lm_offs *o, const ttt_config *cfg, param_place_fn place,
                                   void *ctx) {
    memset(t, 0, sizeof *t);
    memset(o, 0, sizeof *o);
    t->place = place;
    t->place_ctx = ctx;
    const ttt_family *f = ttt_family_of(cfg);
    if (!f) return ttt_err(TTT_ERR_CONFIG, "unknown model family %d", (int)cfg->arch);
    ttt_dims d;
    ttt_dims_from_config(&d, cfg);
    ttt_status s = f->params(t, o, &d, cfg);
    if (s == TTT_OK && t->nomem) s = ttt_err(TTT_ERR_NOMEM, "out of memory for the parameter table");
    if (s == TTT_OK && t->misplaced) s = ttt_err(TTT_ERR_FORMAT, "a tensor of the model has no place in the given layout");
    for (int64_t i = 0; s == TTT_OK && !f->init_custom && i < t->n; i++)
        if (t->p[i].init == INIT_CUSTOM) /* a family's own rule needs its init_custom */
            s = ttt_err(TTT_ERR_CONFIG, "model family \"%s\": tensor '%s' has a custom initialisation but the "
                        "family has no init_custom", f->model_type, t->p[i].name);
    if (s == TTT_OK && t->overflow)
        s = ttt_err(TTT_ERR_CONFIG,
                    "the configuration's sizes (hidden_size %lld, intermediate_size %lld, %lld "
                    "layers, vocab_size %lld) make a parameter count beyond 2^63: not a model "
                    "that can exist", (long long)cfg->hidden_size, (long long)cfg->intermediate_size,
                    (long long)cfg->num_hidden_layers, (long long)cfg->vocab_size);
    if (s != TTT_OK) ttt_params_free(t, o);
    return s;
}

int64_t ttt_config_param_count(const ttt_config *cfg) {
    param_table t;
    ttt_lm_offs o;
    if (ttt_params_build(&t, &o, cfg) != TTT_OK) return -1;
    int64_t n = 0;
    for (int64_t i = 0; i < t.n; i++)
        if (!ttt_i64_add_ok(n, t.p[i].numel, &n)) n = INT64_MAX; /* the table's total fitted */
    ttt_params_free(&t, &o);
    return n;
}

void ttt_params_free(param_table *t, ttt_lm_offs *o) {
    free(t->p);
    free(o->blocks);
    memset(t, 0, sizeof *t);
    memset(o, 0, sizeof *o);
}

int64_t param_table_find(const param_table *t, const char *name) {
    for (int64_t i = 0; i < t->n; i++)
        if (strcmp(t->p[i].name, name) == 0) return i;
    return -1;
}
