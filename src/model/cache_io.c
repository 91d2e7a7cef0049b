/* cache_io.c: decoding caches saved to and loaded from state files (include/ttt_state.h), the
 * model identity a state records (config hash, weights checksum, XXH64), and ttt_decode_multi.
 *
 * The file is a safetensors file. Tensors: the family's description of its cache
 * (lm_arch_ops.state_tensors: names, shapes, strided runs inside the cache), in the model's
 * precision (F32 or F64), a tensor with no element left out; and the caller's extras
 * "extra.tokens" I32 [B, pos], "extra.logits" F32 [B, V], "extra.rng" I64 [B, 4]. __metadata__:
 *   state_format "ttt-state", state_version "1", family (config.json model_type), precision
 *   ("float32" | "float64"), config_hash and weights_checksum (16 hex digits), config (the
 *   configuration as JSON, to name the fields that differ), params (scalars hashed),
 *   batch B, position pos (decimal), ttt_version.
 * A load checks, in this order: the format and version, the family, the precision, the config
 * hash, the weights checksum, batch and position within limits, then every tensor against the
 * family's description (names, dtypes, shapes; no tensor missing or extra) before the cache is
 * allocated (so the file holds every byte the batch and position claim: a small file cannot
 * ask for a large cache but through the family's fixed overheads, the batch capped at
 * TTT_STATE_MAX_BATCH), then the values finite, the extras' token ids in the vocabulary and
 * their RNG states not all zero. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/parse.h"
#include "io/safetensors.h"
#include "model/family.h"
#include "model/model.h"
#include "ttt_state.h"

/* ---------------------------------------------------------------------------------------- */
/* XXH64 (Yann Collet's xxHash, 64-bit; the published algorithm)                             */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t rd64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}
static inline uint64_t rd32(const unsigned char *p) {
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}
static inline uint64_t xround(uint64_t acc, uint64_t in) { return rotl64(acc + in * P2, 31) * P1; }
static inline uint64_t xmerge(uint64_t acc, uint64_t v) { return (acc ^ xround(0, v)) * P1 + P4; }

/* streamed: XXH64 of the concatenation of every update */
typedef struct {
    uint64_t v[4], seed, total;
    unsigned char mem[32];
    size_t nmem;
} xxh64_state;

static void xxh_init(xxh64_state *x, uint64_t seed) {
    memset(x, 0, sizeof *x);
    x->seed = seed;
    x->v[0] = seed + P1 + P2, x->v[1] = seed + P2, x->v[2] = seed, x->v[3] = seed - P1;
}

static void xxh_stripe(xxh64_state *x, const unsigned char *p) {
    for (int i = 0; i < 4; i++) x->v[i] = xround(x->v[i], rd64(p + 8 * i));
}

static void xxh_update(xxh64_state *x, const void *data, size_t n) {
    const unsigned char *p = data;
    x->total += n;
    if (x->nmem) {
        size_t k = 32 - x->nmem < n ? 32 - x->nmem : n;
        memcpy(x->mem + x->nmem, p, k);
        x->nmem += k, p += k, n -= k;
        if (x->nmem < 32) return;
        xxh_stripe(x, x->mem);
        x->nmem = 0;
    }
    for (; n >= 32; p += 32, n -= 32) xxh_stripe(x, p);
    memcpy(x->mem, p, n);
    x->nmem = n;
}

static uint64_t xxh_digest(const xxh64_state *x) {
    uint64_t h;
    if (x->total >= 32) {
        const uint64_t *v = x->v;
        h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
        h = xmerge(xmerge(xmerge(xmerge(h, v[0]), v[1]), v[2]), v[3]);
    } else {
        h = x->seed + P5;
    }
    h += x->total;
    const unsigned char *p = x->mem, *end = p + x->nmem;
    for (; end - p >= 8; p += 8) h = rotl64(h ^ xround(0, rd64(p)), 27) * P1 + P4;
    if (end - p >= 4) h = rotl64(h ^ rd32(p) * P1, 23) * P2 + P3, p += 4;
    for (; p < end; p++) h = rotl64(h ^ *p * P5, 11) * P1;
    h ^= h >> 33, h *= P2, h ^= h >> 29, h *= P3, h ^= h >> 32;
    return h;
}

uint64_t ttt_xxh64(const void *data, size_t n, uint64_t seed) {
    xxh64_state x;
    xxh_init(&x, seed);
    xxh_update(&x, data, n);
    return xxh_digest(&x);
}

/* ---------------------------------------------------------------------------------------- */
/* the state checksum: XXH64 of every tensor's bytes (as the file stores them), the tensors in
 * name order (strcmp), seeded with position · 8192 + batch                                 */

typedef struct {
    const char *name;
    const unsigned char *base;
    size_t run, stride; /* bytes */
    int64_t nruns;
} piece;

static int cmp_piece(const void *a, const void *b) { return strcmp(((const piece *)a)->name, ((const piece *)b)->name); }

static uint64_t pieces_checksum(piece *pc, int n, int64_t B, int64_t pos) {
    qsort(pc, (size_t)n, sizeof *pc, cmp_piece);
    xxh64_state x;
    xxh_init(&x, (uint64_t)pos * 8192u + (uint64_t)B);
    for (int i = 0; i < n; i++)
        for (int64_t r = 0; r < pc[i].nruns; r++) xxh_update(&x, pc[i].base + (size_t)r * pc[i].stride, pc[i].run);
    return xxh_digest(&x);
}

/* ---------------------------------------------------------------------------------------- */
/* identity                                                                                   */

/* the configuration as the family writes it (unformatted; no tokenizer name), malloc'd */
static char *config_json(const ttt_config *cfg) {
    const ttt_family *fam = ttt_family_of(cfg);
    cJSON *r = cJSON_CreateObject();
    if (!fam || !r) {
        cJSON_Delete(r);
        return NULL;
    }
    fam->write(r, cfg);
    char *txt = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return txt;
}

uint64_t ttt_config_hash(const ttt_config *cfg) {
    char *txt = config_json(cfg);
    uint64_t h = txt ? ttt_xxh64(txt, strlen(txt), 0) : 0;
    free(txt);
    return h;
}

#define CHECKSUM_BLOCK ((size_t)1 << 20)

/* The parameters' values, whatever their layout in memory (a model used in place from its
 * file has the file's, a copied one 64-byte-aligned tensors): each tensor in parameter-table
 * order cut into blocks of at most 1 MiB, every block hashed (in parallel), then the blocks'
 * hashes hashed with the total byte count as the seed. */
uint64_t ttt_weights_checksum(const ttt_model *m) {
    int64_t nb = 0;
    size_t bytes = 0;
    for (int64_t t = 0; t < m->tab.n; t++) {
        size_t len = (size_t)m->tab.p[t].numel * m->elem;
        nb += (int64_t)((len + CHECKSUM_BLOCK - 1) / CHECKSUM_BLOCK);
        bytes += len;
    }
    unsigned char *hs = malloc(nb ? 8 * (size_t)nb : 8);
    struct { const unsigned char *p; size_t len; } *blk = malloc((size_t)(nb ? nb : 1) * sizeof *blk);
    if (!hs || !blk) return free(hs), free(blk), 0;
    int64_t k = 0;
    for (int64_t t = 0; t < m->tab.n; t++) {
        const unsigned char *w = (const unsigned char *)m->w + (size_t)m->tab.p[t].offset * m->elem;
        size_t len = (size_t)m->tab.p[t].numel * m->elem;
        for (size_t off = 0; off < len; off += CHECKSUM_BLOCK, k++)
            blk[k].p = w + off, blk[k].len = len - off < CHECKSUM_BLOCK ? len - off : CHECKSUM_BLOCK;
    }
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nb; i++) {
        uint64_t h = ttt_xxh64(blk[i].p, blk[i].len, 0);
        for (int b = 0; b < 8; b++) hs[8 * i + b] = (unsigned char)(h >> (8 * b));
    }
    uint64_t h = ttt_xxh64(hs, 8 * (size_t)nb, (uint64_t)bytes);
    free(hs);
    free(blk);
    return h;
}

/* ---------------------------------------------------------------------------------------- */
/* the family's description                                                                   */

typedef struct {
    lm_state_tensor *t;
    int64_t n;         /* descriptions */
    int64_t bytes;     /* of the tensors with elements */
} state_desc;

static void desc_free(state_desc *d) { free(d->t); }

static int64_t numel_of(const lm_state_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        if (!ttt_i64_mul_ok(n, t->shape[i], &n)) return -1;
    return n;
}

/* the description of a cache of B sequences at pos (c NULL: shapes only) */
static ttt_status describe(const ttt_model *m, ttt_cache *c, int64_t B, int64_t pos, state_desc *d) {
    memset(d, 0, sizeof *d);
    int64_t n = m->ops->state_tensors(m, c, B, pos, NULL, 0);
    d->t = calloc((size_t)(n > 0 ? n : 1), sizeof *d->t);
    if (!d->t) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    d->n = m->ops->state_tensors(m, c, B, pos, d->t, n);
    TTT_ASSERT(d->n == n);
    for (int64_t i = 0; i < n; i++) {
        int64_t k = numel_of(&d->t[i]), b;
        if (k < 0 || !ttt_i64_mul_ok(k, (int64_t)m->elem, &b) || !ttt_i64_add_ok(d->bytes, b, &d->bytes)) {
            desc_free(d);
            return ttt_err(TTT_ERR_ARG, "state: %lld sequences at position %lld make a state too large to hold",
                           (long long)B, (long long)pos);
        }
    }
    return TTT_OK;
}

static const char *family_name(const ttt_model *m) { return ttt_family_of(&m->cfg)->model_type; }
static const char *family_title(const ttt_model *m) { return ttt_family_of(&m->cfg)->title; }

ttt_status ttt_state_bytes(const ttt_config *cfg, int64_t B, int64_t pos, uint64_t *bytes) {
    TRY(ttt_config_validate(cfg, "state size"));
    const ttt_family *fam = ttt_family_of(cfg);
    if (B < 1 || B > TTT_STATE_MAX_BATCH || pos < 1 || pos > (int64_t)1 << 40)
        return ttt_err(TTT_ERR_ARG, "state size: batch must be in [1, %d] and position in [1, 2^40], got %lld and %lld",
                       TTT_STATE_MAX_BATCH, (long long)B, (long long)pos);
    if (!fam->ops[0]->state_tensors)
        return ttt_err(TTT_ERR_ARG, "state size: the %s family's caches cannot be saved", fam->title);
    /* the description needs the dimensions only: a model without parameters */
    ttt_model *m = calloc(1, sizeof *m);
    if (!m) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    m->cfg = *cfg;
    ttt_dims_from_config(&m->dims, cfg);
    m->elem = 4;
    m->ops = fam->ops[0];
    state_desc d;
    ttt_status s = describe(m, NULL, B, pos, &d);
    if (s == TTT_OK) {
        *bytes = 0;
        for (int64_t i = 0; i < d.n; i++) *bytes += (uint64_t)numel_of(&d.t[i]) * 4;
        desc_free(&d);
    }
    free(m);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* save                                                                                       */

int64_t ttt_cache_batch(const ttt_cache *c) { return c->B; }

ttt_status ttt_cache_save(const ttt_cache *c, const char *path) { return ttt_cache_save_ex(c, path, NULL); }

ttt_status ttt_cache_save_ex(const ttt_cache *cc, const char *path, const ttt_state_extra *x) {
    ttt_cache *c = (ttt_cache *)cc; /* the description points into it; nothing is written */
    const ttt_model *m = c->m;
    if (!m->ops->state_tensors)
        return ttt_err(TTT_ERR_ARG, "%s: the %s family's caches cannot be saved (its code describes no state)", path,
                       family_title(m));
    if (c->pos < 1)
        return ttt_err(TTT_ERR_ARG, "%s: the cache has seen no token yet (position 0): there is no state to save; "
                       "a fresh cache is ttt_cache_create", path);
    if (c->B > TTT_STATE_MAX_BATCH)
        return ttt_err(TTT_ERR_ARG, "%s: the cache holds %lld sequences; a state file holds at most %d", path,
                       (long long)c->B, TTT_STATE_MAX_BATCH);
    state_desc d;
    TRY(describe(m, c, c->B, c->pos, &d));
    st_entry *e = calloc((size_t)d.n + 3, sizeof *e);
    st_runs *runs = calloc((size_t)d.n + 1, sizeof *runs);
    if (!e || !runs) {
        free(e), free(runs), desc_free(&d);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    st_dtype dt = m->elem == 8 ? ST_F64 : ST_F32;
    int ne = 0;
    for (int64_t i = 0; i < d.n; i++) {
        const lm_state_tensor *t = &d.t[i];
        if (numel_of(t) == 0) continue; /* nothing to write (and nothing read back) */
        st_entry *q = &e[ne++];
        q->name = t->name;
        q->dtype = dt;
        q->ndim = t->ndim;
        memcpy(q->shape, t->shape, sizeof t->shape);
        runs[i] = (st_runs){t->data, t->run, t->stride};
        q->data = &runs[i];
        q->src = ST_SRC_RUNS;
    }
    int64_t V = ttt_config_vocab_rows(&m->cfg);
    if (x && x->tokens) e[ne++] = (st_entry){"extra.tokens", ST_I32, 2, {c->B, c->pos}, x->tokens, ST_SRC_RAW};
    if (x && x->logits) e[ne++] = (st_entry){"extra.logits", ST_F32, 2, {c->B, V}, x->logits, ST_SRC_RAW};
    if (x && x->rng) e[ne++] = (st_entry){"extra.rng", ST_I64, 2, {c->B, 4}, x->rng, ST_SRC_RAW};
    piece *pc = calloc((size_t)ne + 1, sizeof *pc);
    if (!pc) {
        free(e), free(runs), desc_free(&d);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < ne; i++) {
        size_t es = st_dtype_size(e[i].dtype);
        int64_t k = 1;
        for (int j = 0; j < e[i].ndim; j++) k *= e[i].shape[j];
        if (e[i].src == ST_SRC_RUNS) {
            const st_runs *r = e[i].data;
            pc[i] = (piece){e[i].name, r->base, (size_t)r->run * es, (size_t)r->stride * es, k / r->run};
        } else {
            pc[i] = (piece){e[i].name, e[i].data, (size_t)k * es, 0, 1};
        }
    }
    char hc[20], hw[20], hs[20], sb[24], sp[24], np[24];
    snprintf(hs, sizeof hs, "%016" PRIx64, pieces_checksum(pc, ne, c->B, c->pos));
    free(pc);
    snprintf(hc, sizeof hc, "%016" PRIx64, ttt_config_hash(&m->cfg));
    snprintf(hw, sizeof hw, "%016" PRIx64, ttt_weights_checksum(m));
    snprintf(sb, sizeof sb, "%lld", (long long)c->B);
    snprintf(sp, sizeof sp, "%lld", (long long)c->pos);
    snprintf(np, sizeof np, "%lld", (long long)ttt_param_numel_total(m));
    char *cj = config_json(&m->cfg);
    ttt_status s;
    if (!cj) {
        s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    } else {
        const char *keys[] = {"state_format", "state_version", "family", "precision", "config_hash",
                              "weights_checksum", "params", "batch", "position", "state_checksum", "config",
                              "ttt_version"};
        const char *vals[] = {TTT_STATE_FORMAT, "1", family_name(m), m->elem == 8 ? "float64" : "float32", hc, hw,
                              np, sb, sp, hs, cj, TTT_VERSION};
        s = st_write_meta(path, e, ne, keys, vals, (int)(sizeof keys / sizeof keys[0]));
    }
    free(cj), free(e), free(runs), desc_free(&d);
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* load                                                                                       */

/* the fields of two configurations that differ, "name: A (state) vs B (this model)", into buf */
static void config_diff(const char *saved, const ttt_config *cfg, char *buf, size_t cap) {
    buf[0] = 0;
    cJSON *a = saved ? cJSON_Parse(saved) : NULL;
    char *mine = config_json(cfg);
    cJSON *b = mine ? cJSON_Parse(mine) : NULL;
    free(mine);
    if (!cJSON_IsObject(a) || !cJSON_IsObject(b)) {
        cJSON_Delete(a), cJSON_Delete(b);
        return;
    }
    size_t k = 0;
    int shown = 0;
    cJSON *it;
    /* fields of the state's config missing or different here, then fields only here */
    for (int side = 0; side < 2; side++) {
        cJSON *from = side ? b : a;
        cJSON_ArrayForEach(it, from) {
            if (!it->string) continue;
            cJSON *other = cJSON_GetObjectItemCaseSensitive(side ? a : b, it->string);
            if (side && other) continue;
            if (other && cJSON_Compare(it, other, 1)) continue;
            char *va = cJSON_PrintUnformatted(side ? other : it), *vb = cJSON_PrintUnformatted(side ? it : other);
            if (k + 1 < cap && shown < 6)
                k += (size_t)snprintf(buf + k, cap - k, "%s%s %.40s in the state, %.40s in this model", shown ? "; " : "",
                                      it->string, va ? va : "(absent)", vb ? vb : "(absent)");
            else if (k + 1 < cap && shown == 6)
                k += (size_t)snprintf(buf + k, cap - k, "; ...");
            shown++;
            free(va), free(vb);
            if (k >= cap) k = cap - 1;
        }
    }
    cJSON_Delete(a), cJSON_Delete(b);
}

static ttt_status meta_req(const st_file *f, const char *key, const char **out) {
    *out = st_meta(f, key);
    if (!*out) return ttt_err(TTT_ERR_FORMAT, "%s: the state's __metadata__ has no \"%s\"", f->path, key);
    return TTT_OK;
}

static ttt_status meta_hex(const st_file *f, const char *key, uint64_t *out) {
    const char *v;
    TRY(meta_req(f, key, &v));
    uint64_t h = 0;
    int ok = strlen(v) == 16;
    for (int i = 0; ok && i < 16; i++) {
        char ch = v[i];
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        ok = d >= 0;
        h = h << 4 | (uint64_t)(d & 15);
    }
    if (!ok)
        return ttt_err(TTT_ERR_FORMAT, "%s: __metadata__ \"%s\" must be 16 lowercase hex digits, got \"%.40s\"", f->path,
                       key, v);
    *out = h;
    return TTT_OK;
}

/* the header checks that need no model: format, version, batch, position */
static ttt_status check_header(const st_file *f, int64_t *B, int64_t *pos) {
    const char *fmt = st_meta(f, "state_format"), *v;
    if (!fmt || strcmp(fmt, TTT_STATE_FORMAT) != 0)
        return ttt_err(TTT_ERR_FORMAT, "%s: not a ttt state file (its __metadata__ has %s%.40s%s, expected "
                       "state_format \"%s\"; ttt generate --save-state writes one)", f->path,
                       fmt ? "state_format \"" : "no state_format", fmt ? fmt : "", fmt ? "\"" : "", TTT_STATE_FORMAT);
    TRY(meta_req(f, "state_version", &v));
    int64_t ver;
    if (!ttt_parse_i64_ok(v, 1, INT32_MAX, &ver))
        return ttt_err(TTT_ERR_FORMAT, "%s: state_version must be a positive integer, got \"%.40s\"", f->path, v);
    if (ver != TTT_STATE_VERSION)
        return ttt_err(TTT_ERR_FORMAT, "%s: state format version %lld; this ttt reads version %d", f->path,
                       (long long)ver, TTT_STATE_VERSION);
    TRY(meta_req(f, "batch", &v));
    if (!ttt_parse_i64_ok(v, 1, TTT_STATE_MAX_BATCH, B))
        return ttt_err(TTT_ERR_FORMAT, "%s: batch must be an integer in [1, %d], got \"%.40s\"", f->path,
                       TTT_STATE_MAX_BATCH, v);
    TRY(meta_req(f, "position", &v));
    if (!ttt_parse_i64_ok(v, 1, (int64_t)1 << 40, pos))
        return ttt_err(TTT_ERR_FORMAT, "%s: position must be an integer in [1, 2^40], got \"%.40s\"", f->path, v);
    return TTT_OK;
}

/* the model identity: family, precision, configuration, weights */
static ttt_status check_identity(const st_file *f, const ttt_model *m) {
    const char *fam, *prec, *mine = m->elem == 8 ? "float64" : "float32";
    TRY(meta_req(f, "family", &fam));
    if (strcmp(fam, family_name(m)) != 0)
        return ttt_err(TTT_ERR_ARG, "%s: the state was saved from a model of family \"%.40s\", this model is %s (\"%s\")",
                       f->path, fam, family_title(m), family_name(m));
    if (!m->ops->state_tensors)
        return ttt_err(TTT_ERR_ARG, "%s: the %s family's caches cannot be loaded (its code describes no state)",
                       f->path, family_title(m));
    TRY(meta_req(f, "precision", &prec));
    if (strcmp(prec, mine) != 0)
        return ttt_err(TTT_ERR_ARG, "%s: the state was saved by a model computing in %.20s, this one computes in %s "
                       "(load the model with the same precision)", f->path, prec, mine);
    uint64_t hc, hw;
    TRY(meta_hex(f, "config_hash", &hc));
    if (hc != ttt_config_hash(&m->cfg)) {
        char diff[1024];
        config_diff(st_meta(f, "config"), &m->cfg, diff, sizeof diff);
        return ttt_err(TTT_ERR_ARG, "%s: the state was saved from a model with another configuration (config hash "
                       "%016" PRIx64 ", this model's %016" PRIx64 ")%s%s", f->path, hc, ttt_config_hash(&m->cfg),
                       diff[0] ? ": " : "", diff);
    }
    TRY(meta_hex(f, "weights_checksum", &hw));
    uint64_t mw = ttt_weights_checksum(m);
    if (hw != mw)
        return ttt_err(TTT_ERR_ARG, "%s: the state was saved from a model with the same configuration but other "
                       "weights (weights checksum %016" PRIx64 " in the state, %016" PRIx64 " of this model's "
                       "parameters): a state continues only the weights it was computed with", f->path, hw, mw);
    return TTT_OK;
}

static int is_extra(const char *name) {
    return !strcmp(name, "extra.tokens") || !strcmp(name, "extra.logits") || !strcmp(name, "extra.rng");
}

/* every tensor of the file against the description: names, dtypes, shapes, none missing or
 * extra; the extras' dtypes and shapes */
static ttt_status check_tensors(const st_file *f, const state_desc *d, st_dtype dt, int64_t B, int64_t pos, int64_t V) {
    int64_t want = 0;
    char sa[96], sb[96];
    for (int64_t i = 0; i < d->n; i++) {
        const lm_state_tensor *t = &d->t[i];
        if (numel_of(t) == 0) continue;
        want++;
        const st_tensor *ft = st_find(f, t->name);
        if (!ft)
            return ttt_err(TTT_ERR_FORMAT, "%s: the state has no tensor \"%s\" (a state of this model at batch %lld, "
                           "position %lld holds it)", f->path, t->name, (long long)B, (long long)pos);
        if (ft->dtype != dt)
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\" is %s, expected %s", f->path, t->name,
                           st_dtype_name(ft->dtype), st_dtype_name(dt));
        if (ft->ndim != t->ndim || memcmp(ft->shape, t->shape, sizeof(int64_t) * (size_t)t->ndim) != 0)
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\" has shape %s, expected %s (batch %lld, position %lld)",
                           f->path, t->name, st_shape_str(ft->shape, ft->ndim, sa, sizeof sa),
                           st_shape_str(t->shape, t->ndim, sb, sizeof sb), (long long)B, (long long)pos);
    }
    for (int i = 0; i < f->n; i++) {
        const st_tensor *ft = &f->t[i];
        if (!is_extra(ft->name)) {
            int found = 0;
            for (int64_t j = 0; j < d->n && !found; j++) found = !strcmp(d->t[j].name, ft->name) && numel_of(&d->t[j]);
            if (!found)
                return ttt_err(TTT_ERR_FORMAT, "%s: unexpected tensor \"%.80s\" (not part of a state of this model at "
                               "batch %lld, position %lld)", f->path, ft->name, (long long)B, (long long)pos);
            continue;
        }
        int64_t s1 = !strcmp(ft->name, "extra.tokens") ? pos : !strcmp(ft->name, "extra.logits") ? V : 4;
        st_dtype edt = !strcmp(ft->name, "extra.tokens") ? ST_I32 : !strcmp(ft->name, "extra.logits") ? ST_F32 : ST_I64;
        int64_t es[2] = {B, s1};
        if (ft->dtype != edt || ft->ndim != 2 || ft->shape[0] != B || ft->shape[1] != s1)
            return ttt_err(TTT_ERR_FORMAT, "%s: tensor \"%s\" is %s %s, expected %s %s", f->path, ft->name,
                           st_dtype_name(ft->dtype), st_shape_str(ft->shape, ft->ndim, sa, sizeof sa),
                           st_dtype_name(edt), st_shape_str(es, 2, sb, sizeof sb));
    }
    (void)want;
    return TTT_OK;
}

/* read one described tensor run by run into the cache, then check the values are finite */
static ttt_status read_tensor(const st_file *f, const lm_state_tensor *t, st_dtype dt, size_t elem) {
    const st_tensor *ft = st_find(f, t->name);
    int64_t n = ft->numel;
    for (int64_t i = 0; i * t->run < n; i++)
        TRY(st_read_as(f, ft, i * t->run, t->run, (unsigned char *)t->data + (size_t)(i * t->stride) * elem, dt));
    for (int64_t i = 0; i * t->run < n; i++) {
        const unsigned char *r = (const unsigned char *)t->data + (size_t)(i * t->stride) * elem;
        for (int64_t j = 0; j < t->run; j++) {
            double v = elem == 8 ? ((const double *)r)[j] : (double)((const float *)r)[j];
            if (!isfinite(v))
                return ttt_err(TTT_ERR_NUMERIC, "%s: tensor \"%s\" element %lld is %g (a state holds finite numbers)",
                               f->path, t->name, (long long)(i * t->run + j), v);
        }
    }
    return TTT_OK;
}

static ttt_status read_extras(const st_file *f, const ttt_model *m, int64_t B, int64_t pos, ttt_state_extra *x) {
    const st_tensor *t;
    int64_t V = ttt_config_vocab_rows(&m->cfg);
    if ((t = st_find(f, "extra.tokens")) != NULL) {
        int64_t n = B * pos; /* = the tensor's numel, checked against the file by st_open */
        x->tokens = malloc(sizeof(int32_t) * (size_t)n);
        if (!x->tokens) return ttt_err(TTT_ERR_NOMEM, "out of memory");
        TRY(st_read_as(f, t, 0, n, x->tokens, ST_I32));
        for (int64_t i = 0; i < n; i++)
            if (x->tokens[i] < 0 || x->tokens[i] >= m->cfg.vocab_size)
                return ttt_err(TTT_ERR_FORMAT, "%s: extra.tokens element %lld is %d, outside the vocabulary [0, %lld)",
                               f->path, (long long)i, (int)x->tokens[i], (long long)m->cfg.vocab_size);
    }
    if ((t = st_find(f, "extra.logits")) != NULL) {
        x->logits = malloc(sizeof(float) * (size_t)(B * V));
        if (!x->logits) return ttt_err(TTT_ERR_NOMEM, "out of memory");
        TRY(st_read_as(f, t, 0, B * V, x->logits, ST_F32));
        for (int64_t i = 0; i < B * V; i++)
            if (!isfinite(x->logits[i]))
                return ttt_err(TTT_ERR_NUMERIC, "%s: extra.logits element %lld is %g (finite logits expected)", f->path,
                               (long long)i, (double)x->logits[i]);
    }
    if ((t = st_find(f, "extra.rng")) != NULL) {
        x->rng = malloc(sizeof(uint64_t) * (size_t)(B * 4));
        if (!x->rng) return ttt_err(TTT_ERR_NOMEM, "out of memory");
        TRY(st_read_as(f, t, 0, B * 4, x->rng, ST_I64));
        for (int64_t b = 0; b < B; b++)
            if (!(x->rng[4 * b] | x->rng[4 * b + 1] | x->rng[4 * b + 2] | x->rng[4 * b + 3]))
                return ttt_err(TTT_ERR_FORMAT, "%s: extra.rng of sequence %lld is all zero (not a xoshiro256** state)",
                               f->path, (long long)b);
    }
    return TTT_OK;
}

static ttt_status checksum_mismatch(const st_file *f, uint64_t want, uint64_t got) {
    return ttt_err(TTT_ERR_FORMAT, "%s: the state's tensors do not match its state_checksum (%016" PRIx64 " recorded, "
                   "%016" PRIx64 " computed): the file was changed or damaged after it was written", f->path, want, got);
}

/* the state checksum of what was read (the cache's runs and the extras) against the file's */
static ttt_status verify_checksum(const st_file *f, const state_desc *d, const ttt_state_extra *x, const ttt_model *m,
                                  int64_t B, int64_t pos) {
    uint64_t want;
    TRY(meta_hex(f, "state_checksum", &want));
    piece *pc = calloc((size_t)d->n + 3, sizeof *pc);
    if (!pc) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    int n = 0;
    for (int64_t i = 0; i < d->n; i++) {
        const lm_state_tensor *t = &d->t[i];
        int64_t k = numel_of(t);
        if (k > 0) pc[n++] = (piece){t->name, t->data, (size_t)t->run * m->elem, (size_t)t->stride * m->elem, k / t->run};
    }
    int64_t V = ttt_config_vocab_rows(&m->cfg);
    if (x->tokens) pc[n++] = (piece){"extra.tokens", (const unsigned char *)x->tokens, sizeof(int32_t) * (size_t)(B * pos), 0, 1};
    if (x->logits) pc[n++] = (piece){"extra.logits", (const unsigned char *)x->logits, sizeof(float) * (size_t)(B * V), 0, 1};
    if (x->rng) pc[n++] = (piece){"extra.rng", (const unsigned char *)x->rng, sizeof(uint64_t) * (size_t)(B * 4), 0, 1};
    uint64_t got = pieces_checksum(pc, n, B, pos);
    free(pc);
    return got == want ? TTT_OK : checksum_mismatch(f, want, got);
}

/* the same from the file alone (every tensor read in name order) */
static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(const st_tensor *const *)a)->name, (*(const st_tensor *const *)b)->name);
}

static ttt_status verify_file_checksum(const st_file *f, int64_t B, int64_t pos) {
    uint64_t want;
    TRY(meta_hex(f, "state_checksum", &want));
    const st_tensor **ord = malloc(sizeof *ord * (size_t)(f->n + 1));
    unsigned char *buf = malloc((size_t)1 << 20);
    if (!ord || !buf) {
        free(ord), free(buf);
        return ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < f->n; i++) ord[i] = &f->t[i];
    qsort(ord, (size_t)f->n, sizeof *ord, cmp_tensor_name);
    xxh64_state h;
    xxh_init(&h, (uint64_t)pos * 8192u + (uint64_t)B);
    ttt_status s = TTT_OK;
    for (int i = 0; i < f->n && s == TTT_OK; i++) {
        const st_tensor *t = ord[i];
        size_t es = st_dtype_size(t->dtype);
        int64_t chunk = (int64_t)(((size_t)1 << 20) / es);
        for (int64_t j = 0; j < t->numel && s == TTT_OK; j += chunk) {
            int64_t k = t->numel - j < chunk ? t->numel - j : chunk;
            s = st_read_as(f, t, j, k, buf, t->dtype);
            if (s == TTT_OK) xxh_update(&h, buf, (size_t)k * es);
        }
    }
    free(ord), free(buf);
    if (s != TTT_OK) return s;
    uint64_t got = xxh_digest(&h);
    return got == want ? TTT_OK : checksum_mismatch(f, want, got);
}

void ttt_state_extra_free(ttt_state_extra *x) {
    if (!x) return;
    free(x->tokens), free(x->logits), free(x->rng);
    x->tokens = NULL, x->logits = NULL, x->rng = NULL;
}

ttt_status ttt_cache_load(ttt_model *m, const char *path, ttt_cache **out) { return ttt_cache_load_ex(m, path, out, NULL); }

ttt_status ttt_cache_load_ex(ttt_model *m, const char *path, ttt_cache **out, ttt_state_extra *xo) {
    *out = NULL;
    ttt_state_extra x = {0};
    if (xo) *xo = x;
    st_file f;
    TRY(st_open(&f, path));
    int64_t B, pos, limit = ttt_config_max_context(&m->cfg);
    ttt_cache *c = NULL;
    state_desc d = {0};
    st_dtype dt = m->elem == 8 ? ST_F64 : ST_F32;
    ttt_status s = check_header(&f, &B, &pos);
    if (s == TTT_OK) s = check_identity(&f, m);
    if (s == TTT_OK && limit > 0 && pos > limit)
        s = ttt_err(TTT_ERR_FORMAT, "%s: position %lld is past the model's longest context, %lld", path, (long long)pos,
                    (long long)limit);
    if (s == TTT_OK) s = describe(m, NULL, B, pos, &d);
    if (s == TTT_OK) s = check_tensors(&f, &d, dt, B, pos, ttt_config_vocab_rows(&m->cfg));
    desc_free(&d);
    d.t = NULL;
    if (s == TTT_OK) s = ttt_cache_create(m, B, &c);
    if (s == TTT_OK && m->ops->state_reserve) s = m->ops->state_reserve(c, pos);
    if (s == TTT_OK) {
        c->pos = pos;
        s = describe(m, c, B, pos, &d);
    }
    for (int64_t i = 0; s == TTT_OK && i < d.n; i++)
        if (numel_of(&d.t[i]) > 0) s = read_tensor(&f, &d.t[i], dt, m->elem);
    if (s == TTT_OK) s = read_extras(&f, m, B, pos, &x);
    if (s == TTT_OK) s = verify_checksum(&f, &d, &x, m, B, pos);
    desc_free(&d);
    st_close(&f);
    if (s != TTT_OK) {
        ttt_cache_free(c);
        ttt_state_extra_free(&x);
        return s;
    }
    *out = c;
    if (xo)
        *xo = x;
    else
        ttt_state_extra_free(&x);
    return TTT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* describe                                                                                   */

ttt_status ttt_state_describe(const char *path, FILE *fp) {
    st_file f;
    TRY(st_open(&f, path));
    int64_t B, pos;
    ttt_status s = check_header(&f, &B, &pos);
    if (s == TTT_OK) s = verify_file_checksum(&f, B, pos);
    if (s != TTT_OK) {
        st_close(&f);
        return s;
    }
    const char *keys[] = {"family", "precision", "config_hash", "weights_checksum", "state_checksum", "params",
                          "ttt_version"};
    fprintf(fp, "state: %s\n  format: %s version %d\n  batch: %lld sequence%s\n  position: %lld tokens seen\n", path,
            TTT_STATE_FORMAT, TTT_STATE_VERSION, (long long)B, B > 1 ? "s" : "", (long long)pos);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = st_meta(&f, keys[i]);
        fprintf(fp, "  %s: %.80s\n", keys[i], v ? v : "(absent)");
    }
    uint64_t bytes = 0, sb = 0;
    int ns = 0;
    for (int i = 0; i < f.n; i++) {
        uint64_t b = f.t[i].end - f.t[i].begin;
        bytes += b;
        if (!is_extra(f.t[i].name)) sb += b, ns++;
    }
    fprintf(fp, "  cache: %d tensors, %llu bytes (%.2f MiB)\n", ns, (unsigned long long)sb, (double)sb / 1048576.0);
    const char *ex[] = {"extra.tokens", "extra.logits", "extra.rng"};
    const char *what[] = {"the token ids seen", "the next token's logits", "the samplers' random states"};
    for (int i = 0; i < 3; i++)
        if (st_find(&f, ex[i])) fprintf(fp, "  %s: %s\n", ex[i], what[i]);
    fprintf(fp, "  file: %llu bytes of tensors\n", (unsigned long long)bytes);
    st_close(&f);
    return TTT_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* one decode step for many single-sequence caches                                            */

/* The family's decode_multi steps all caches at once, each at its own position (products over
 * the n rows, attention / convolutions / scans per cache in place); a family without one (a
 * test family) steps each cache alone. */
ttt_status ttt_decode_multi(ttt_model *m, ttt_cache **caches, int64_t n, const int32_t *ids, float *logits) {
    if (n < 0 || (n > 0 && (!caches || !ids)))
        return ttt_err(TTT_ERR_ARG, "decode_multi: n must be >= 0 with caches and ids, got %lld", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (!caches[i] || caches[i]->m != m)
            return ttt_err(TTT_ERR_ARG, "decode_multi: cache %lld belongs to another model", (long long)i);
        if (caches[i]->B != 1)
            return ttt_err(TTT_ERR_ARG, "decode_multi: cache %lld holds %lld sequences, expected 1", (long long)i,
                           (long long)caches[i]->B);
        for (int64_t j = 0; j < i; j++)
            if (caches[j] == caches[i])
                return ttt_err(TTT_ERR_ARG, "decode_multi: caches %lld and %lld are the same cache", (long long)j,
                               (long long)i);
    }
    if (m->ops->decode_multi && n > 1) return ttt_model_decode_multi(m, caches, n, ids, logits);
    int64_t V = ttt_config_vocab_rows(&m->cfg);
    for (int64_t i = 0; i < n; i++) TRY(ttt_decode_step(m, caches[i], ids + i, logits ? logits + i * V : NULL));
    return TTT_OK;
}
