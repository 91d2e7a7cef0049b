/* tokjson_write.c: tokenizer.json and tokenizer_config.json writers (see tokjson_write.h). The
 * JSON is written by hand (one vocabulary entry and one merge per line, like the files the
 * `tokenizers` library saves) with full string escaping; everything is checked before the
 * temporary file is opened. */
#include "tokenizer/tokjson_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"
#include "tokenizer/hf.h"
#include "tokenizer/strmap.h"
#include "tokenizer/utf8.h"

/* bytes_to_unicode() of GPT-2's encoder.py: hf_byte_to_cp (hf_util.c); its printable bytes
 * stand for themselves */
static int printable_byte(unsigned b) { return hf_byte_to_cp((unsigned char)b) == b; }

unsigned char tokjson_byte_of_id(int i) {
    /* ids in code-point order: the 188 printable bytes ascending, then the others ascending */
    int k = 0;
    for (unsigned pass = 0; pass < 2; pass++)
        for (unsigned b = 0; b < 256; b++)
            if (printable_byte(b) == (pass == 0) && k++ == i) return (unsigned char)b;
    return 0;
}

/* UTF-8 of code point cp (< 0x800 here) appended to out; returns bytes written */
static size_t put_cp(unsigned char *out, uint32_t cp) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    out[0] = (unsigned char)(0xC0 | (cp >> 6));
    out[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
}

/* the escaped body of a JSON string literal of n bytes of valid UTF-8 (no quotes) */
static void json_body(FILE *fp, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", fp); break;
        case '\\': fputs("\\\\", fp); break;
        case '\n': fputs("\\n", fp); break;
        case '\r': fputs("\\r", fp); break;
        case '\t': fputs("\\t", fp); break;
        case '\b': fputs("\\b", fp); break;
        case '\f': fputs("\\f", fp); break;
        default:
            if (c < 0x20) fprintf(fp, "\\u%04x", c);
            else fputc(c, fp);
        }
    }
}

static void json_str(FILE *fp, const char *s, size_t n) {
    fputc('"', fp);
    json_body(fp, s, n);
    fputc('"', fp);
}

static void json_cstr_or_null(FILE *fp, const char *s) {
    if (s) json_str(fp, s, strlen(s));
    else fputs("null", fp);
}

/* The model vocabulary as written: key bytes of every id that has one (byte level raw bytes
 * mapped), a key -> id map, and where the specials sit. */
typedef struct {
    unsigned char *blob;
    size_t *off, *len; /* [n_ids]; len = SIZE_MAX: no entry */
    strmap keys;
    int merges_as_arrays;
} keyset;

static void keyset_free(keyset *k) {
    free(k->blob);
    free(k->off);
    free(k->len);
    strmap_free(&k->keys);
    memset(k, 0, sizeof *k);
}

/* format the message first: it may quote bytes of k's blob */
#define KFAIL(...) \
    do { \
        ttt_status kfail_ = ttt_err(TTT_ERR_ARG, __VA_ARGS__); \
        keyset_free(k); \
        return kfail_; \
    } while (0)

static ttt_status build_keys(const tokjson_spec *sp, keyset *k) {
    memset(k, 0, sizeof *k);
    if (sp->kind != TOKJSON_BYTE_LEVEL && sp->kind != TOKJSON_SP_BPE)
        return ttt_err(TTT_ERR_ARG, "tokenizer.json writer: unknown kind %d", (int)sp->kind);
    if (sp->n_ids <= 0 || sp->n_ids > INT32_MAX)
        return ttt_err(TTT_ERR_ARG, "tokenizer.json writer: %lld ids (expected 1 .. %d)", (long long)sp->n_ids,
                       INT32_MAX);
    if (sp->n_special < 0 || (sp->n_special && !sp->special) || !sp->vocab || !sp->vocab_len ||
        sp->n_merges < 0 || (sp->n_merges && !sp->merges))
        return ttt_err(TTT_ERR_ARG, "tokenizer.json writer: incomplete spec");
    int map = sp->kind == TOKJSON_BYTE_LEVEL && sp->vocab_raw_bytes;
    size_t n = (size_t)sp->n_ids, total = 0;
    k->off = malloc(n * sizeof *k->off);
    k->len = malloc(n * sizeof *k->len);
    if (!k->off || !k->len) goto nomem;
    for (size_t i = 0; i < n; i++) {
        k->len[i] = SIZE_MAX;
        if (!sp->vocab[i]) continue;
        size_t add = sp->vocab_len[i] * (map ? 2 : 1);
        if (add > ((size_t)1 << 30) || total > SIZE_MAX / 2)
            KFAIL("tokenizer.json writer: token %zu is too long", i);
        total += add;
    }
    for (int s = 0; s < sp->n_special; s++) total += sp->special[s].len;
    k->blob = malloc(total + 1);
    if (!k->blob || strmap_init(&k->keys, sp->n_ids + sp->n_special) != 0) goto nomem;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (!sp->vocab[i]) continue;
        k->off[i] = pos;
        const unsigned char *v = (const unsigned char *)sp->vocab[i];
        if (map) {
            for (size_t j = 0; j < sp->vocab_len[i]; j++) pos += put_cp(k->blob + pos, hf_byte_to_cp(v[j]));
        } else {
            if (sp->vocab_len[i]) memcpy(k->blob + pos, v, sp->vocab_len[i]);
            pos += sp->vocab_len[i];
        }
        k->len[i] = pos - k->off[i];
    }
    /* specials: their own text at their id (never mapped) */
    for (int s = 0; s < sp->n_special; s++) {
        const tokjson_special *t = &sp->special[s];
        if (!t->text || t->len == 0)
            KFAIL("tokenizer.json writer: special token %d is empty", s);
        if (t->id < 0 || t->id >= sp->n_ids)
            KFAIL("tokenizer.json writer: special token '%.*s' has id %d outside 0..%lld",
                                           (int)t->len, t->text, t->id, (long long)sp->n_ids - 1);
        for (int r = 0; r < s; r++)
            if (sp->special[r].id == t->id)
                KFAIL("tokenizer.json writer: two special tokens have id %d", t->id);
        size_t id = (size_t)t->id;
        if (k->len[id] != SIZE_MAX) {
            if (k->len[id] != t->len || memcmp(k->blob + k->off[id], t->text, t->len) != 0)
                KFAIL("tokenizer.json writer: special token '%.*s' has id %d, which is another token",
                                               (int)t->len, t->text, t->id);
            continue;
        }
        k->off[id] = pos;
        memcpy(k->blob + pos, t->text, t->len);
        pos += t->len;
        k->len[id] = t->len;
    }
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (k->len[i] == SIZE_MAX) continue;
        any = 1;
        const unsigned char *key = k->blob + k->off[i];
        if (k->len[i] == 0)
            KFAIL("tokenizer.json writer: token %zu is the empty string", i);
        if (!utf8_valid(key, k->len[i]))
            KFAIL("tokenizer.json writer: token %zu is not valid UTF-8%s", i,
                                           sp->kind == TOKJSON_BYTE_LEVEL ? " (give raw bytes with vocab_raw_bytes)" : "");
        int64_t prev;
        if (strmap_get(&k->keys, key, k->len[i], &prev))
            KFAIL("tokenizer.json writer: ids %lld and %zu have the same string '%.*s'",
                                           (long long)prev, i, (int)k->len[i], (const char *)key);
        if (strmap_put(&k->keys, key, k->len[i], (int64_t)i) != 0) goto nomem;
    }
    if (!any) KFAIL("tokenizer.json writer: the vocabulary is empty");
    /* merges: both sides exist and the concatenation is a token */
    size_t cat_cap = 0;
    unsigned char *cat = NULL;
    for (int64_t m = 0; m < sp->n_merges; m++) {
        int32_t l = sp->merges[m][0], r = sp->merges[m][1];
        if (l < 0 || r < 0 || l >= sp->n_ids || r >= sp->n_ids || k->len[l] == SIZE_MAX || k->len[r] == SIZE_MAX) {
            free(cat);
            KFAIL("tokenizer.json writer: merge %lld (%d, %d) names an id without a token",
                                           (long long)m, l, r);
        }
        size_t ln = k->len[l], rn = k->len[r];
        if (ln + rn > cat_cap) {
            cat_cap = 2 * (ln + rn);
            unsigned char *nc = realloc(cat, cat_cap);
            if (!nc) {
                free(cat);
                goto nomem;
            }
            cat = nc;
        }
        memcpy(cat, k->blob + k->off[l], ln);
        memcpy(cat + ln, k->blob + k->off[r], rn);
        int64_t id;
        if (!strmap_get(&k->keys, cat, ln + rn, &id)) {
            ttt_status st = ttt_err(TTT_ERR_ARG, "tokenizer.json writer: merge %lld ('%.*s' '%.*s') makes '%.*s', which is not in the vocabulary",
                                    (long long)m, (int)ln, (const char *)k->blob + k->off[l], (int)rn,
                                    (const char *)k->blob + k->off[r], (int)(ln + rn), (const char *)cat);
            free(cat);
            keyset_free(k);
            return st;
        }
        if (memchr(cat, ' ', ln + rn)) k->merges_as_arrays = 1;
    }
    free(cat);
    return TTT_OK;
nomem:
    keyset_free(k);
    return ttt_err(TTT_ERR_NOMEM, "tokenizer.json writer: out of memory");
}

static void write_added_token(FILE *fp, const char *text, size_t len, int32_t id, const char *indent) {
    fprintf(fp, "%s{\n%s  \"id\": %d,\n%s  \"content\": ", indent, indent, id, indent);
    json_str(fp, text, len);
    fprintf(fp, ",\n%s  \"single_word\": false,\n%s  \"lstrip\": false,\n%s  \"rstrip\": false,\n"
                "%s  \"normalized\": false,\n%s  \"special\": true\n%s}",
            indent, indent, indent, indent, indent, indent);
}

/* specials in id order (indices into sp->special) */
static int *special_order(const tokjson_spec *sp) {
    int *ord = malloc((size_t)(sp->n_special > 0 ? sp->n_special : 1) * sizeof *ord);
    if (!ord) return NULL;
    for (int i = 0; i < sp->n_special; i++) {
        int j = i;
        while (j > 0 && sp->special[ord[j - 1]].id > sp->special[i].id) ord[j] = ord[j - 1], j--;
        ord[j] = i;
    }
    return ord;
}

/* TemplateProcessing that puts sp->bos_token (which is in k) before a sequence */
static void write_template(FILE *fp, const tokjson_spec *sp, const keyset *k) {
    int64_t bos_id = 0;
    strmap_get(&k->keys, sp->bos_token, strlen(sp->bos_token), &bos_id);
    size_t bl = strlen(sp->bos_token);
    fputs("{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": ", fp);
    json_str(fp, sp->bos_token, bl);
    fputs(", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [{\"SpecialToken\": {\"id\": ", fp);
    json_str(fp, sp->bos_token, bl);
    fputs(", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": ", fp);
    json_str(fp, sp->bos_token, bl);
    fputs(", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {", fp);
    json_str(fp, sp->bos_token, bl);
    fputs(": {\"id\": ", fp);
    json_str(fp, sp->bos_token, bl);
    fprintf(fp, ", \"ids\": [%lld], \"tokens\": [", (long long)bos_id);
    json_str(fp, sp->bos_token, bl);
    fputs("]}}}", fp);
}

static int is_gpt2_pattern(const char *p) { return !p || strcmp(p, TOKJSON_GPT2_PATTERN) == 0; }

ttt_status tokjson_write(const char *path, const tokjson_spec *sp) {
    keyset k;
    TRY(build_keys(sp, &k));
    const char *unk = sp->unk_token ? sp->unk_token : "<unk>";
    int64_t bid;
    if (sp->add_bos_token && (!sp->bos_token || !strmap_get(&k.keys, sp->bos_token, strlen(sp->bos_token), &bid))) {
        keyset_free(&k);
        return ttt_err(TTT_ERR_ARG, "tokenizer.json writer: add_bos_token needs a BOS token that is in the vocabulary");
    }
    if (sp->kind == TOKJSON_SP_BPE) {
        int64_t id;
        if (!strmap_get(&k.keys, unk, strlen(unk), &id)) {
            keyset_free(&k);
            return ttt_err(TTT_ERR_ARG, "tokenizer.json writer: the unknown token '%s' is not in the vocabulary", unk);
        }
    } else if (sp->pattern && !utf8_valid((const unsigned char *)sp->pattern, strlen(sp->pattern))) {
        keyset_free(&k);
        return ttt_err(TTT_ERR_ARG, "tokenizer.json writer: the split pattern is not valid UTF-8");
    }
    int *ord = special_order(sp);
    if (!ord) {
        keyset_free(&k);
        return ttt_err(TTT_ERR_NOMEM, "tokenizer.json writer: out of memory");
    }
    ttt_atomic_file af;
    ttt_status s = ttt_atomic_open(&af, path);
    if (s != TTT_OK) {
        free(ord);
        keyset_free(&k);
        return s;
    }
    FILE *fp = af.fp;
    fputs("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [", fp);
    for (int i = 0; i < sp->n_special; i++) {
        const tokjson_special *t = &sp->special[ord[i]];
        fputs(i ? ",\n" : "\n", fp);
        write_added_token(fp, t->text, t->len, t->id, "    ");
    }
    fputs(sp->n_special ? "\n  ],\n" : "],\n", fp);
    if (sp->kind == TOKJSON_BYTE_LEVEL) {
        fputs("  \"normalizer\": null,\n", fp);
        if (is_gpt2_pattern(sp->pattern)) {
            fputs("  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, "
                  "\"use_regex\": true},\n", fp);
        } else {
            fputs("  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
                  "{\"Regex\": ", fp);
            json_str(fp, sp->pattern, strlen(sp->pattern));
            fputs("}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": "
                  "false, \"trim_offsets\": true, \"use_regex\": false}]},\n", fp);
        }
        if (sp->add_bos_token) { /* ByteLevel (offsets only), then the BOS */
            fputs("  \"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\", "
                  "\"add_prefix_space\": true, \"trim_offsets\": false, \"use_regex\": true}, ", fp);
            write_template(fp, sp, &k);
            fputs("]},\n", fp);
        } else {
            fputs("  \"post_processor\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": false, "
                  "\"use_regex\": true},\n", fp);
        }
        fputs("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, "
              "\"use_regex\": true},\n"
              "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
              "    \"continuing_subword_prefix\": \"\",\n    \"end_of_word_suffix\": \"\",\n    \"fuse_unk\": false,\n"
              "    \"byte_fallback\": false,\n", fp);
        fprintf(fp, "    \"ignore_merges\": %s,\n    \"vocab\": {", sp->ignore_merges ? "true" : "false");
    } else {
        fputs("  \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\xe2\x96\x81\"}, "
              "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\xe2\x96\x81\"}]},\n"
              "  \"pre_tokenizer\": null,\n", fp);
        if (sp->add_bos_token) {
            fputs("  \"post_processor\": ", fp);
            write_template(fp, sp, &k);
            fputs(",\n", fp);
        } else {
            fputs("  \"post_processor\": null,\n", fp);
        }
        fputs("  \"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": "
              "\"\xe2\x96\x81\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}, {\"type\": \"Strip\", "
              "\"content\": \" \", \"start\": 1, \"stop\": 0}]},\n"
              "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": ", fp);
        json_str(fp, unk, strlen(unk));
        fputs(",\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": true,\n"
              "    \"byte_fallback\": true,\n", fp);
        fprintf(fp, "    \"ignore_merges\": %s,\n    \"vocab\": {", sp->ignore_merges ? "true" : "false");
    }
    int first = 1;
    for (int64_t i = 0; i < sp->n_ids; i++) {
        if (k.len[i] == SIZE_MAX) continue;
        fputs(first ? "\n      " : ",\n      ", fp);
        first = 0;
        json_str(fp, (const char *)k.blob + k.off[i], k.len[i]);
        fprintf(fp, ": %lld", (long long)i);
    }
    fputs("\n    },\n    \"merges\": [", fp);
    for (int64_t m = 0; m < sp->n_merges; m++) {
        int32_t l = sp->merges[m][0], r = sp->merges[m][1];
        fputs(m ? ",\n      " : "\n      ", fp);
        if (k.merges_as_arrays) {
            fputc('[', fp);
            json_str(fp, (const char *)k.blob + k.off[l], k.len[l]);
            fputs(", ", fp);
            json_str(fp, (const char *)k.blob + k.off[r], k.len[r]);
            fputc(']', fp);
        } else {
            fputc('"', fp);
            json_body(fp, (const char *)k.blob + k.off[l], k.len[l]);
            fputc(' ', fp);
            json_body(fp, (const char *)k.blob + k.off[r], k.len[r]);
            fputc('"', fp);
        }
    }
    fputs(sp->n_merges ? "\n    ]\n  }\n}\n" : "]\n  }\n}\n", fp);
    free(ord);
    keyset_free(&k);
    return ttt_atomic_commit(&af);
}

ttt_status tokjson_write_config(const char *path, const tokjson_spec *sp) {
    if (sp->n_special < 0 || (sp->n_special && !sp->special))
        return ttt_err(TTT_ERR_ARG, "tokenizer_config.json writer: incomplete spec");
    const char *names[4] = {sp->bos_token, sp->eos_token, sp->config_unk_token, sp->pad_token};
    for (int i = 0; i < 4; i++)
        if (names[i] && !utf8_valid((const unsigned char *)names[i], strlen(names[i])))
            return ttt_err(TTT_ERR_ARG, "tokenizer_config.json writer: a token name is not valid UTF-8");
    for (int i = 0; i < sp->n_special; i++)
        if (!sp->special[i].text || !utf8_valid((const unsigned char *)sp->special[i].text, sp->special[i].len))
            return ttt_err(TTT_ERR_ARG, "tokenizer_config.json writer: special token %d is not valid UTF-8", i);
    int *ord = special_order(sp);
    if (!ord) return ttt_err(TTT_ERR_NOMEM, "tokenizer_config.json writer: out of memory");
    ttt_atomic_file af;
    ttt_status s = ttt_atomic_open(&af, path);
    if (s != TTT_OK) {
        free(ord);
        return s;
    }
    FILE *fp = af.fp;
    fprintf(fp, "{\n  \"add_bos_token\": %s,\n  \"add_eos_token\": %s,\n  \"added_tokens_decoder\": {",
            sp->add_bos_token ? "true" : "false", sp->add_eos_token ? "true" : "false");
    for (int i = 0; i < sp->n_special; i++) {
        const tokjson_special *t = &sp->special[ord[i]];
        fprintf(fp, "%s    \"%d\": {\n      \"content\": ", i ? ",\n" : "\n", t->id);
        json_str(fp, t->text, t->len);
        fputs(",\n      \"lstrip\": false,\n      \"normalized\": false,\n      \"rstrip\": false,\n"
              "      \"single_word\": false,\n      \"special\": true\n    }", fp);
    }
    fputs(sp->n_special ? "\n  },\n" : "},\n", fp);
    fputs("  \"bos_token\": ", fp);
    json_cstr_or_null(fp, sp->bos_token);
    fputs(",\n  \"clean_up_tokenization_spaces\": false,\n  \"eos_token\": ", fp);
    json_cstr_or_null(fp, sp->eos_token);
    fputs(",\n  \"model_max_length\": ", fp);
    if (sp->model_max_length > 0) fprintf(fp, "%lld", (long long)sp->model_max_length);
    else fputs("1000000000000000019884624838656", fp);
    fputs(",\n  \"pad_token\": ", fp);
    json_cstr_or_null(fp, sp->pad_token);
    fputs(",\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n", fp);
    if (sp->ttt_name) {
        fputs("  \"ttt_tokenizer\": ", fp);
        json_cstr_or_null(fp, sp->ttt_name);
        fputs(",\n", fp);
    }
    fputs("  \"unk_token\": ", fp);
    json_cstr_or_null(fp, sp->config_unk_token);
    fputs("\n}\n", fp);
    free(ord);
    return ttt_atomic_commit(&af);
}
