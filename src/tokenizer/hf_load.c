/* hf_load.c: reading a tokenizer.json (the Hugging Face `tokenizers` format) into the pipeline
 * of hf.h, and the tokenizer_config.json next to it. Every component is checked; a component,
 * option or model this engine does not implement is refused with its name, never guessed.
 * Merges are stored as (left id, right id) -> (rank, merged id); a later merge of the same pair
 * replaces an earlier one, as in the library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "io/json.h"
#include "tokenizer/hf.h"
#include "tokenizer/tok_impl.h"
#include "tokenizer/utf8.h"

#define HF_MAX_JSON ((size_t)1 << 30)
#define HF_MAX_VOCAB ((int64_t)1 << 26)
#define HF_MAX_ADDED 1000000

static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
static const char WHITESPACE_PATTERN[] = "\\w+|[^\\w\\s]+";

typedef struct {
    const char *path;
    hf_tok *h;
} ctx;

#define FAIL(...) ttt_err(TTT_ERR_FORMAT, __VA_ARGS__)

/* ---- small JSON helpers ---------------------------------------------------------------------- */

static const cJSON *item(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* an optional boolean member (absent or null: def) */
static ttt_status get_bool(const ctx *c, const cJSON *o, const char *where, const char *k, int def, int *out) {
    const cJSON *v = item(o, k);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return TTT_OK;
    }
    if (!cJSON_IsBool(v)) return FAIL("%s: %s.%s must be true or false", c->path, where, k);
    *out = cJSON_IsTrue(v);
    return TTT_OK;
}

/* a required (or optional, when def != NULL) string member */
static ttt_status get_str(const ctx *c, const cJSON *o, const char *where, const char *k, const char *def,
                          const char **out) {
    const cJSON *v = item(o, k);
    if ((!v || cJSON_IsNull(v)) && def) {
        *out = def;
        return TTT_OK;
    }
    if (!cJSON_IsString(v)) return FAIL("%s: %s.%s must be a string", c->path, where, k);
    *out = v->valuestring;
    return TTT_OK;
}

static ttt_status get_int(const ctx *c, const cJSON *o, const char *where, const char *k, int64_t lo, int64_t hi,
                          int64_t def, int64_t *out) {
    const cJSON *v = item(o, k);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return TTT_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble || v->valuedouble < (double)lo ||
        v->valuedouble > (double)hi)
        return FAIL("%s: %s.%s must be an integer in [%lld, %lld]", c->path, where, k, (long long)lo, (long long)hi);
    *out = (int64_t)v->valuedouble;
    return TTT_OK;
}

static char *dup_n(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n), p[n] = 0;
    return p;
}

static ttt_status add_regex(const ctx *c, const char *pattern, int *index) {
    return hf_add_regex(c->h, pattern, c->path, index);
}

/* {"String": s} or {"Regex": r} */
static ttt_status get_pattern(const ctx *c, const cJSON *o, const char *where, hf_pattern *p) {
    const cJSON *v = item(o, "pattern"), *s, *r;
    p->re = -1;
    if (!cJSON_IsObject(v)) return FAIL("%s: %s.pattern must be {\"String\": ...} or {\"Regex\": ...}", c->path, where);
    if ((s = item(v, "String")) && cJSON_IsString(s)) {
        p->lit_len = strlen(s->valuestring);
        p->lit = dup_n(s->valuestring, p->lit_len);
        return p->lit ? TTT_OK : ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    if ((r = item(v, "Regex")) && cJSON_IsString(r)) return add_regex(c, r->valuestring, &p->re);
    return FAIL("%s: %s.pattern must be {\"String\": ...} or {\"Regex\": ...}", c->path, where);
}

/* exactly one character (Metaspace's replacement, Strip's content) */
static ttt_status get_char(const ctx *c, const cJSON *o, const char *where, const char *k, const char *def, char *out,
                           int *len) {
    const char *s = "";
    TRY(get_str(c, o, where, k, def, &s));
    uint32_t cp;
    size_t n = strlen(s);
    int m = utf8_decode((const unsigned char *)s, n, &cp);
    if (m == 0 || (size_t)m != n) return FAIL("%s: %s.%s must be exactly one character, got \"%.40s\"", c->path, where, k, s);
    memcpy(out, s, n);
    *len = m;
    return TTT_OK;
}

static ttt_status get_prepend_scheme(const ctx *c, const cJSON *o, const char *where, int *out) {
    const cJSON *ps = item(o, "prepend_scheme");
    if (ps && !cJSON_IsNull(ps)) {
        if (!cJSON_IsString(ps)) return FAIL("%s: %s.prepend_scheme must be a string", c->path, where);
        const char *s = ps->valuestring;
        if (strcmp(s, "always") == 0) *out = HF_PREPEND_ALWAYS;
        else if (strcmp(s, "first") == 0) *out = HF_PREPEND_FIRST;
        else if (strcmp(s, "never") == 0) *out = HF_PREPEND_NEVER;
        else return FAIL("%s: %s.prepend_scheme is \"%.40s\"; expected always, first or never", c->path, where, s);
        return TTT_OK;
    }
    int aps = 1; /* the older form */
    TRY(get_bool(c, o, where, "add_prefix_space", 1, &aps));
    *out = aps ? HF_PREPEND_ALWAYS : HF_PREPEND_NEVER;
    return TTT_OK;
}

static const char *type_of(const cJSON *o) {
    const cJSON *t = item(o, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* ---- normalizers, pre-tokenizers, decoders -------------------------------------------------- */

static ttt_status parse_normalizer(const ctx *c, const cJSON *o, int depth) {
    hf_tok *h = c->h;
    if (!o || cJSON_IsNull(o)) return TTT_OK;
    const char *t = type_of(o);
    if (!cJSON_IsObject(o) || !t) return FAIL("%s: a normalizer must be an object with a \"type\"", c->path);
    if (depth > 16) return FAIL("%s: normalizer Sequences nested more than 16 deep", c->path);
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *list = item(o, "normalizers"), *e;
        if (!cJSON_IsArray(list)) return FAIL("%s: normalizer Sequence needs a \"normalizers\" array", c->path);
        cJSON_ArrayForEach(e, list) TRY(parse_normalizer(c, e, depth + 1));
        return TTT_OK;
    }
    hf_norm n = {0};
    n.pat.re = -1;
    const char *s = "";
    if (strcmp(t, "Prepend") == 0) {
        n.type = HFN_PREPEND;
        TRY(get_str(c, o, "normalizer Prepend", "prepend", NULL, &s));
    } else if (strcmp(t, "Replace") == 0) {
        n.type = HFN_REPLACE;
        TRY(get_pattern(c, o, "normalizer Replace", &n.pat));
        ttt_status st = get_str(c, o, "normalizer Replace", "content", NULL, &s);
        if (st != TTT_OK) return free(n.pat.lit), st;
    } else if (strcmp(t, "NFC") == 0 || strcmp(t, "NFD") == 0 || strcmp(t, "NFKC") == 0 || strcmp(t, "NFKD") == 0) {
        n.type = strcmp(t, "NFC") == 0 ? HFN_NFC : strcmp(t, "NFD") == 0 ? HFN_NFD : strcmp(t, "NFKC") == 0 ? HFN_NFKC : HFN_NFKD;
        s = "";
    } else {
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: normalizer \"%.40s\" is not supported (supported: Sequence, Prepend, Replace, NFC, NFD, "
                       "NFKC, NFKD)", c->path, t);
    }
    n.s_len = strlen(s);
    n.s = dup_n(s, n.s_len);
    if (!n.s) return free(n.pat.lit), ttt_err(TTT_ERR_NOMEM, "out of memory");
    return hf_push_norm(h, n);
}

static ttt_status parse_pretok(const ctx *c, const cJSON *o, int depth) {
    hf_tok *h = c->h;
    if (!o || cJSON_IsNull(o)) return TTT_OK;
    const char *t = type_of(o);
    if (!cJSON_IsObject(o) || !t) return FAIL("%s: a pre_tokenizer must be an object with a \"type\"", c->path);
    if (depth > 16) return FAIL("%s: pre_tokenizer Sequences nested more than 16 deep", c->path);
    if (h->byte_level)
        return ttt_err(TTT_ERR_FORMAT, "%s: pre_tokenizer \"%.40s\" after ByteLevel is not supported (ByteLevel "
                       "must be the last pre-tokenizer)", c->path, t);
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *list = item(o, "pretokenizers"), *e;
        if (!cJSON_IsArray(list)) return FAIL("%s: pre_tokenizer Sequence needs a \"pretokenizers\" array", c->path);
        cJSON_ArrayForEach(e, list) TRY(parse_pretok(c, e, depth + 1));
        return TTT_OK;
    }
    hf_pre p = {0};
    p.pat.re = -1;
    if (strcmp(t, "Split") == 0) {
        p.type = HFP_SPLIT;
        TRY(get_pattern(c, o, "pre_tokenizer Split", &p.pat));
        const char *b = "";
        ttt_status st = get_str(c, o, "pre_tokenizer Split", "behavior", NULL, &b);
        if (st != TTT_OK) return free(p.pat.lit), st;
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        p.behavior = -1;
        for (int i = 0; i < 5; i++)
            if (strcmp(b, names[i]) == 0) p.behavior = i;
        if (p.behavior < 0)
            return free(p.pat.lit), FAIL("%s: pre_tokenizer Split.behavior is \"%.40s\"; expected Removed, Isolated, "
                                         "MergedWithPrevious, MergedWithNext or Contiguous", c->path, b);
        st = get_bool(c, o, "pre_tokenizer Split", "invert", 0, &p.invert);
        if (st != TTT_OK) return free(p.pat.lit), st;
    } else if (strcmp(t, "ByteLevel") == 0) {
        p.type = HFP_BYTELEVEL;
        TRY(get_bool(c, o, "pre_tokenizer ByteLevel", "add_prefix_space", 1, &p.add_prefix_space));
        TRY(get_bool(c, o, "pre_tokenizer ByteLevel", "use_regex", 1, &p.use_regex));
        if (p.use_regex && h->re_bytelevel < 0) TRY(add_regex(c, GPT2_PATTERN, &h->re_bytelevel));
        h->byte_level = 1;
    } else if (strcmp(t, "Metaspace") == 0) {
        p.type = HFP_METASPACE;
        TRY(get_char(c, o, "pre_tokenizer Metaspace", "replacement", "\xE2\x96\x81", p.rep, &p.rep_len));
        TRY(get_prepend_scheme(c, o, "pre_tokenizer Metaspace", &p.prepend_scheme));
        TRY(get_bool(c, o, "pre_tokenizer Metaspace", "split", 1, &p.split));
    } else if (strcmp(t, "Digits") == 0) {
        p.type = HFP_DIGITS;
        TRY(get_bool(c, o, "pre_tokenizer Digits", "individual_digits", 0, &p.individual_digits));
    } else if (strcmp(t, "Whitespace") == 0) {
        p.type = HFP_WHITESPACE;
        TRY(add_regex(c, WHITESPACE_PATTERN, &p.pat.re));
    } else if (strcmp(t, "WhitespaceSplit") == 0) {
        p.type = HFP_WHITESPACE_SPLIT;
    } else {
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: pre_tokenizer \"%.40s\" is not supported (supported: Sequence, Split, ByteLevel, "
                       "Metaspace, Digits, Whitespace, WhitespaceSplit)", c->path, t);
    }
    return hf_push_pre(h, p);
}

static ttt_status parse_decoder(const ctx *c, const cJSON *o, int depth) {
    hf_tok *h = c->h;
    if (!o || cJSON_IsNull(o)) return TTT_OK;
    const char *t = type_of(o);
    if (!cJSON_IsObject(o) || !t) return FAIL("%s: a decoder must be an object with a \"type\"", c->path);
    if (depth > 16) return FAIL("%s: decoder Sequences nested more than 16 deep", c->path);
    h->has_decoder = 1;
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *list = item(o, "decoders"), *e;
        if (!cJSON_IsArray(list)) return FAIL("%s: decoder Sequence needs a \"decoders\" array", c->path);
        cJSON_ArrayForEach(e, list) TRY(parse_decoder(c, e, depth + 1));
        return TTT_OK;
    }
    hf_dec d = {0};
    d.pat.re = -1;
    const char *s = "";
    if (strcmp(t, "ByteLevel") == 0) {
        d.type = HFD_BYTELEVEL;
    } else if (strcmp(t, "Replace") == 0) {
        d.type = HFD_REPLACE;
        TRY(get_pattern(c, o, "decoder Replace", &d.pat));
        ttt_status st = get_str(c, o, "decoder Replace", "content", NULL, &s);
        if (st != TTT_OK) return free(d.pat.lit), st;
    } else if (strcmp(t, "ByteFallback") == 0) {
        d.type = HFD_BYTEFALLBACK;
    } else if (strcmp(t, "Fuse") == 0) {
        d.type = HFD_FUSE;
    } else if (strcmp(t, "Strip") == 0) {
        d.type = HFD_STRIP;
        char ch[8];
        int n = 0;
        int64_t a = 0, b = 0;
        TRY(get_char(c, o, "decoder Strip", "content", NULL, ch, &n));
        TRY(get_int(c, o, "decoder Strip", "start", 0, 1 << 20, 0, &a));
        TRY(get_int(c, o, "decoder Strip", "stop", 0, 1 << 20, 0, &b));
        ch[n] = 0;
        s = ch;
        d.start = (int)a, d.stop = (int)b;
        d.s_len = (size_t)n;
        d.s = dup_n(ch, d.s_len);
        goto add;
    } else if (strcmp(t, "Metaspace") == 0) {
        d.type = HFD_METASPACE;
        TRY(get_char(c, o, "decoder Metaspace", "replacement", "\xE2\x96\x81", d.rep, &d.rep_len));
        TRY(get_prepend_scheme(c, o, "decoder Metaspace", &d.prepend_scheme));
    } else {
        return ttt_err(TTT_ERR_FORMAT,
                       "%s: decoder \"%.40s\" is not supported (supported: Sequence, ByteLevel, Replace, "
                       "ByteFallback, Fuse, Strip, Metaspace)", c->path, t);
    }
    d.s_len = strlen(s);
    d.s = dup_n(s, d.s_len);
add:;
    if (!d.s) return free(d.pat.lit), ttt_err(TTT_ERR_NOMEM, "out of memory");
    return hf_push_dec(h, d);
}

/* ---- the BPE model ------------------------------------------------------------------------------ */

/* the model key of a token string: byte-level models map each character back to its byte; 0
 * if a character is outside the byte alphabet (a token BPE can never produce) */
static int model_key(const hf_tok *h, const char *s, size_t n, hf_buf *out) {
    out->n = 0;
    if (!h->byte_level) return hf_buf_put(out, s, n) == 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        int b = k ? hf_cp_to_byte(cp) : -1;
        if (b < 0) return 0;
        unsigned char c = (unsigned char)b;
        if (hf_buf_put(out, &c, 1)) return 0;
        i += (size_t)k;
    }
    return 1;
}

static int32_t vocab_id(const hf_tok *h, const char *s, size_t n) {
    int64_t v;
    return strmap_get(&h->vocab, s, n, &v) ? (int32_t)v : -1;
}

static ttt_status parse_model(const ctx *c, const cJSON *m, const cJSON *added, hf_buf *blob) {
    hf_tok *h = c->h;
    if (!cJSON_IsObject(m)) return FAIL("%s: \"model\" must be an object", c->path);
    const char *t = type_of(m);
    if (t ? strcmp(t, "BPE") != 0 : !item(m, "merges"))
        return ttt_err(TTT_ERR_FORMAT, "%s: model \"%.40s\" is not supported (supported: BPE)", c->path,
                       t ? t : "(no type)");
    const cJSON *dropout = item(m, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0.0))
        return ttt_err(TTT_ERR_FORMAT, "%s: model.dropout (BPE dropout, random merges) is not supported; expected null",
                       c->path);
    TRY(get_bool(c, m, "model", "byte_fallback", 0, &h->byte_fallback));
    TRY(get_bool(c, m, "model", "ignore_merges", 0, &h->ignore_merges));
    TRY(get_bool(c, m, "model", "fuse_unk", 0, &h->fuse_unk));
    const char *pre = "", *suf = "", *unk = "";
    TRY(get_str(c, m, "model", "continuing_subword_prefix", "", &pre));
    TRY(get_str(c, m, "model", "end_of_word_suffix", "", &suf));
    TRY(get_str(c, m, "model", "unk_token", "", &unk));
    h->prefix_len = strlen(pre), h->suffix_len = strlen(suf);
    h->prefix = dup_n(pre, h->prefix_len);
    h->suffix = dup_n(suf, h->suffix_len);
    if (!h->prefix || !h->suffix) return ttt_err(TTT_ERR_NOMEM, "out of memory");

    const cJSON *vocab = item(m, "vocab"), *e;
    if (!cJSON_IsObject(vocab)) return FAIL("%s: model.vocab must be an object {token: id}", c->path);
    int64_t nv = cJSON_GetArraySize(vocab), max_id = -1;
    if (nv < 1 || nv > HF_MAX_VOCAB) return FAIL("%s: model.vocab has %lld entries; expected 1 to %lld", c->path,
                                                 (long long)nv, (long long)HF_MAX_VOCAB);
    cJSON_ArrayForEach(e, vocab) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= (double)HF_MAX_VOCAB ||
            e->valuedouble != (double)(int64_t)e->valuedouble)
            return FAIL("%s: model.vocab[\"%.40s\"] must be an integer id in [0, %lld)", c->path, e->string,
                        (long long)HF_MAX_VOCAB);
        if (e->valueint > max_id) max_id = e->valueint;
    }
    int64_t n_added = cJSON_IsArray(added) ? cJSON_GetArraySize(added) : 0;
    cJSON_ArrayForEach(e, added) {
        int64_t id = -1;
        TRY(get_int(c, e, "added_tokens[]", "id", 0, HF_MAX_VOCAB - 1, -1, &id));
        if (id > max_id) max_id = id;
    }
    TRY(hf_set_size(h, max_id + 1, nv + n_added));
    hf_buf key = {0};
    ttt_status s = TTT_OK;
    cJSON_ArrayForEach(e, vocab) {
        int32_t id = e->valueint;
        size_t n = strlen(e->string);
        if (h->str_off[id] >= 0) {
            s = FAIL("%s: model.vocab gives id %d to both \"%.40s\" and \"%.40s\"", c->path, id,
                     blob->p + h->str_off[id], e->string);
            break;
        }
        if ((s = hf_set_text(h, blob, id, e->string, n)) != TTT_OK) break;
        if (model_key(h, e->string, n, &key) && strmap_put(&h->vocab, key.p, key.n, id)) {
            s = ttt_err(TTT_ERR_NOMEM, "out of memory");
            break;
        }
    }

    /* merges: "a b" strings or ["a", "b"] pairs, in rank order */
    const cJSON *merges = item(m, "merges");
    if (s == TTT_OK && !cJSON_IsArray(merges)) s = FAIL("%s: model.merges must be an array", c->path);
    int64_t nm = s == TTT_OK ? cJSON_GetArraySize(merges) : 0, rank = 0;
    if (s == TTT_OK && strmap_init(&h->pairs, nm)) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    hf_buf ka = {0}, kb = {0};
    for (e = s == TTT_OK ? merges->child : NULL; e && s == TTT_OK; e = e->next, rank++) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(e)) {
            const char *sp = strchr(e->valuestring, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                s = FAIL("%s: model.merges[%lld] is \"%.60s\"; expected two tokens separated by one space", c->path,
                         (long long)rank, e->valuestring);
                break;
            }
            a = e->valuestring, la = (size_t)(sp - a), b = sp + 1, lb = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
                   cJSON_IsString(e->child->next)) {
            a = e->child->valuestring, la = strlen(a), b = e->child->next->valuestring, lb = strlen(b);
        } else {
            s = FAIL("%s: model.merges[%lld] must be a string \"a b\" or a pair [\"a\", \"b\"]", c->path, (long long)rank);
            break;
        }
        /* merged token: a + b without the continuing-subword prefix */
        size_t cut = h->prefix_len <= lb ? h->prefix_len : lb;
        key.n = 0;
        if (hf_buf_put(&key, a, la) || hf_buf_put(&key, b + cut, lb - cut)) {
            s = ttt_err(TTT_ERR_NOMEM, "out of memory");
            break;
        }
        int ok = model_key(h, a, la, &ka) && model_key(h, b, lb, &kb);
        int32_t ia = ok ? vocab_id(h, ka.p, ka.n) : -1, ib = ok ? vocab_id(h, kb.p, kb.n) : -1;
        char *joined = dup_n(key.p, key.n);
        int32_t ir = joined && model_key(h, joined, key.n, &key) ? vocab_id(h, key.p, key.n) : -1;
        free(joined);
        if (ia < 0 || ib < 0 || ir < 0) {
            s = FAIL("%s: model.merges[%lld] (\"%.*s\", \"%.*s\"): %s is not in model.vocab", c->path, (long long)rank,
                     (int)(la > 40 ? 40 : la), a, (int)(lb > 40 ? 40 : lb), b,
                     ia < 0 ? "the first token" : ib < 0 ? "the second token" : "the merged token");
            break;
        }
        uint32_t pk[2] = {(uint32_t)ia, (uint32_t)ib};
        if (strmap_put(&h->pairs, pk, sizeof pk, rank << 32 | (int64_t)ir)) s = ttt_err(TTT_ERR_NOMEM, "out of memory");
    }
    free(ka.p);
    free(kb.p);
    free(key.p);
    TRY(s);

    h->unk = -1;
    if (unk[0]) {
        h->unk = vocab_id(h, unk, strlen(unk));
        if (h->unk < 0 && !h->byte_level) return FAIL("%s: model.unk_token \"%.40s\" is not in model.vocab", c->path, unk);
    }
    return hf_model_finish(h);
}

/* ---- added tokens, the post-processor, tokenizer_config.json ------------------------------------ */

static ttt_status parse_added(const ctx *c, const cJSON *added, hf_buf *blob) {
    hf_tok *h = c->h;
    if (!added || cJSON_IsNull(added)) return TTT_OK;
    if (!cJSON_IsArray(added)) return FAIL("%s: \"added_tokens\" must be an array", c->path);
    int64_t n = cJSON_GetArraySize(added), i = 0;
    if (n > HF_MAX_ADDED) return FAIL("%s: %lld added_tokens; at most %d are supported", c->path, (long long)n, HF_MAX_ADDED);
    const cJSON *e;
    cJSON_ArrayForEach(e, added) {
        hf_added_tok a = {0};
        const char *content = "";
        int64_t id = -1;
        if (!cJSON_IsObject(e)) return FAIL("%s: added_tokens[%lld] must be an object", c->path, (long long)i);
        TRY(get_int(c, e, "added_tokens[]", "id", 0, HF_MAX_VOCAB - 1, -1, &id));
        if (id < 0) return FAIL("%s: added_tokens[%lld] has no \"id\"", c->path, (long long)i);
        TRY(get_str(c, e, "added_tokens[]", "content", NULL, &content));
        TRY(get_bool(c, e, "added_tokens[]", "special", 0, &a.special));
        TRY(get_bool(c, e, "added_tokens[]", "lstrip", 0, &a.lstrip));
        TRY(get_bool(c, e, "added_tokens[]", "rstrip", 0, &a.rstrip));
        TRY(get_bool(c, e, "added_tokens[]", "single_word", 0, &a.single_word));
        TRY(get_bool(c, e, "added_tokens[]", "normalized", !a.special, &a.normalized));
        a.id = (int32_t)id;
        a.content = (char *)content;
        a.len = strlen(content);
        TRY(hf_add_token(h, blob, &a, c->path));
        i++;
    }
    return hf_added_finish(h);
}

/* a token id by its text: added tokens first, then the vocabulary; -1 */
static int32_t token_id(const hf_tok *h, const char *s) {
    int64_t v;
    size_t n = strlen(s);
    if (strmap_get(&h->added_by_text, s, n, &v)) return h->added[v].id;
    hf_buf key = {0};
    int32_t id = model_key(h, s, n, &key) ? vocab_id(h, key.p, key.n) : -1;
    free(key.p);
    return id;
}

static ttt_status push_ids(int32_t **v, int64_t *n, const int32_t *ids, int64_t k) {
    int32_t *q = realloc(*v, (size_t)(*n + k + 1) * sizeof *q);
    if (!q) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    memcpy(q + *n, ids, (size_t)k * sizeof *ids);
    *v = q;
    *n += k;
    return TTT_OK;
}

static ttt_status parse_post(const ctx *c, const cJSON *o, int depth) {
    hf_tok *h = c->h;
    if (!o || cJSON_IsNull(o)) return TTT_OK;
    const char *t = type_of(o);
    if (!cJSON_IsObject(o) || !t) return FAIL("%s: a post_processor must be an object with a \"type\"", c->path);
    if (depth > 16) return FAIL("%s: post_processor Sequences nested more than 16 deep", c->path);
    if (strcmp(t, "ByteLevel") == 0) return TTT_OK; /* offsets only */
    if (strcmp(t, "Sequence") == 0) {
        const cJSON *list = item(o, "processors"), *e;
        if (!cJSON_IsArray(list)) return FAIL("%s: post_processor Sequence needs a \"processors\" array", c->path);
        cJSON_ArrayForEach(e, list) TRY(parse_post(c, e, depth + 1));
        return TTT_OK;
    }
    if (strcmp(t, "TemplateProcessing") != 0)
        return ttt_err(TTT_ERR_FORMAT, "%s: post_processor \"%.40s\" is not supported (supported: "
                       "TemplateProcessing, ByteLevel, Sequence)", c->path, t);
    if (h->n_post_pre || h->n_post_post)
        return ttt_err(TTT_ERR_FORMAT, "%s: more than one TemplateProcessing is not supported", c->path);
    const cJSON *single = item(o, "single"), *specials = item(o, "special_tokens"), *e;
    if (!cJSON_IsArray(single)) return FAIL("%s: TemplateProcessing.single must be an array", c->path);
    int seen_a = 0;
    cJSON_ArrayForEach(e, single) {
        const cJSON *sp = item(e, "SpecialToken"), *sq = item(e, "Sequence");
        if (sq) {
            const cJSON *id = item(sq, "id");
            if (seen_a || !cJSON_IsString(id) || strcmp(id->valuestring, "A") != 0)
                return FAIL("%s: TemplateProcessing.single must hold the sequence $A once", c->path);
            seen_a = 1;
            continue;
        }
        const cJSON *name = sp ? item(sp, "id") : NULL;
        if (!cJSON_IsString(name)) return FAIL("%s: TemplateProcessing.single: expected SpecialToken or Sequence items", c->path);
        const cJSON *st = cJSON_IsObject(specials) ? item(specials, name->valuestring) : NULL;
        const cJSON *ids = st ? item(st, "ids") : NULL, *x;
        if (!cJSON_IsArray(ids))
            return FAIL("%s: TemplateProcessing uses \"%.40s\", which its special_tokens do not define", c->path,
                        name->valuestring);
        cJSON_ArrayForEach(x, ids) {
            if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= (double)h->V ||
                x->valuedouble != (double)(int32_t)x->valuedouble)
                return FAIL("%s: TemplateProcessing special token \"%.40s\" has an id outside 0..%lld", c->path,
                            name->valuestring, (long long)h->V - 1);
            int32_t id = (int32_t)x->valuedouble;
            TRY(seen_a ? push_ids(&h->post_post, &h->n_post_post, &id, 1) : push_ids(&h->post_pre, &h->n_post_pre, &id, 1));
        }
    }
    if (!seen_a) return FAIL("%s: TemplateProcessing.single has no $A", c->path);
    return TTT_OK;
}

/* bos_token / eos_token of tokenizer_config.json: a string, {"content": ...}, or null */
static ttt_status config_token(const char *path, const cJSON *cfg, const char *key, const char **out) {
    const cJSON *v = item(cfg, key);
    *out = NULL;
    if (!v || cJSON_IsNull(v)) return TTT_OK;
    if (cJSON_IsString(v)) *out = v->valuestring;
    else if (cJSON_IsObject(v) && cJSON_IsString(item(v, "content"))) *out = item(v, "content")->valuestring;
    else return FAIL("%s: \"%s\" must be a string, an object with \"content\", or null", path, key);
    return TTT_OK;
}

static ttt_status load_config(ttt_tok *t, const char *json_path) {
    hf_tok *h = t->hf;
    /* defaults from the post-processor: one special token before the sequence is the BOS, one
     * after it the EOS */
    t->bos = h->n_post_pre == 1 ? h->post_pre[0] : -1;
    t->eos = h->n_post_post == 1 ? h->post_post[0] : -1;
    const char *slash = strrchr(json_path, '/');
    char *dir = slash ? dup_n(json_path, (size_t)(slash - json_path)) : dup_n(".", 1);
    char *path = dir ? ttt_path_join(dir, "tokenizer_config.json") : NULL;
    free(dir);
    if (!path) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f) {
        free(path);
        return TTT_OK;
    }
    fclose(f);
    h->config_path = strdup(path);
    cJSON *cfg;
    ttt_status s = ttt_json_load(path, (size_t)64 << 20, TTT_ERR_FORMAT, &cfg);
    const char *bos = NULL, *eos = NULL;
    int add_bos = -1;
    if (s == TTT_OK) s = config_token(path, cfg, "bos_token", &bos);
    if (s == TTT_OK) s = config_token(path, cfg, "eos_token", &eos);
    if (s == TTT_OK) {
        const cJSON *ab = item(cfg, "add_bos_token");
        if (ab && !cJSON_IsNull(ab) && !cJSON_IsBool(ab)) s = FAIL("%s: \"add_bos_token\" must be true or false", path);
        else if (ab && cJSON_IsBool(ab)) add_bos = cJSON_IsTrue(ab);
    }
    if (s == TTT_OK && bos && token_id(h, bos) < 0) s = FAIL("%s: bos_token \"%.40s\" is not a token of tokenizer.json", path, bos);
    if (s == TTT_OK && eos && token_id(h, eos) < 0) s = FAIL("%s: eos_token \"%.40s\" is not a token of tokenizer.json", path, eos);
    /* "ttt_tokenizer" (ttt_tok_save): the built-in tokenizer this file is, with its size */
    const cJSON *nm = s == TTT_OK ? item(cfg, "ttt_tokenizer") : NULL;
    if (nm && cJSON_IsString(nm)) {
        const char *n = nm->valuestring;
        int64_t v = strcmp(n, "llama2") == 0 ? 32000 : tiktoken_encoding_vocab(n);
        if (v == h->V) snprintf(t->name, sizeof t->name, "%s", n);
    }
    if (s == TTT_OK) {
        if (add_bos == 1 && bos) t->bos = token_id(h, bos);
        if (add_bos == 0) t->bos = -1;
        if (eos) t->eos = token_id(h, eos);
    }
    cJSON_Delete(cfg);
    free(path);
    return s;
}

/* ---- the whole file ------------------------------------------------------------------------------ */

ttt_status hf_load(ttt_tok *t, const char *path) {
    hf_tok *h;
    TRY(hf_new(t, &h));
    t->kind = TTT_TOK_HF;
    ctx c = {path, h};
    if (!(h->json_path = strdup(path))) return ttt_err(TTT_ERR_NOMEM, "out of memory");
    cJSON *root;
    char *buf;
    size_t len;
    TRY(ttt_read_file(path, HF_MAX_JSON, &buf, &len));
    /* a name that identifies the file: its contents' hash */
    snprintf(t->name, sizeof t->name, "hf-%016llx", (unsigned long long)strmap_hash(buf, len));
    ttt_status ps = ttt_json_parse(buf, len, path, TTT_ERR_FORMAT, &root);
    free(buf);
    TRY(ps);
    hf_buf blob = {0};
    ttt_status s = TTT_OK;
    const cJSON *ver = item(root, "version");
    if (ver && !cJSON_IsString(ver)) s = FAIL("%s: \"version\" must be a string", path);
    if (s == TTT_OK && !item(root, "model"))
        s = FAIL("%s: no \"model\" (expected a tokenizer.json of the Hugging Face tokenizers library)", path);
    if (s == TTT_OK) s = parse_normalizer(&c, item(root, "normalizer"), 0);
    if (s == TTT_OK) s = parse_pretok(&c, item(root, "pre_tokenizer"), 0);
    if (s == TTT_OK) s = parse_model(&c, item(root, "model"), item(root, "added_tokens"), &blob);
    if (s == TTT_OK) s = parse_added(&c, item(root, "added_tokens"), &blob);
    if (s == TTT_OK) s = parse_post(&c, item(root, "post_processor"), 0);
    if (s == TTT_OK) s = parse_decoder(&c, item(root, "decoder"), 0);
    cJSON_Delete(root);
    h->blob = blob.p;
    if (s != TTT_OK) return s;

    t->vocab_size = h->V;
    return load_config(t, path);
}

void hf_free(hf_tok *h) {
    if (!h) return;
    strmap_free(&h->vocab);
    strmap_free(&h->pairs);
    strmap_free(&h->cut_pairs);
    strmap_free(&h->added_by_text);
    hf_trie_free(&h->trie_raw);
    hf_trie_free(&h->trie_norm);
    free(h->prefix);
    free(h->suffix);
    free(h->json_path);
    free(h->config_path);
    free(h->blob);
    free(h->str_off);
    free(h->str_len);
    free(h->is_special);
    for (int i = 0; i < h->n_norm; i++) free(h->norm[i].s), free(h->norm[i].pat.lit);
    for (int i = 0; i < h->n_pre; i++) free(h->pre[i].pat.lit);
    for (int i = 0; i < h->n_dec; i++) free(h->dec[i].s), free(h->dec[i].pat.lit);
    free(h->norm);
    free(h->pre);
    free(h->dec);
    for (int64_t i = 0; i < h->n_added; i++) free(h->added[i].content);
    free(h->added);
    free(h->post_pre);
    free(h->post_post);
    for (int i = 0; i < h->n_re; i++) pretok_free(&h->re[i]);
    free(h->re);
    free(h);
}
