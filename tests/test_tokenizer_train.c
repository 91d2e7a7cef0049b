/* test_tokenizer_train.c: `ttt tokenizer train` and the tokenizer.json writer. Oracles: merges
 * worked out by hand for a tiny corpus (both kinds); an independent naive BPE trainer written
 * here (every step recounts every pair of every word from scratch, same tie rule) on a generated
 * corpus; @lenml/tokenizers (transformers.js' tokenizers, tests/tok_oracle.cjs under node) loading
 * the files, encoding the corpus to exactly the token count the trainer reports and decoding it
 * back unchanged; the project's tokenizer.json reader (`ttt tokenize`) giving that count too; the JSON's structure read back with cJSON; byte-identical files for 1, 2 and 3
 * threads; clear errors for bad input. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "test_tokenizer_util.h"
#include "tokenizer/bpe_train.h"
#include "tokenizer/hf.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokjson_write.h"
#include "tokenizer/utf8.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* the generated corpus: words, punctuation, numbers, accents, dashes, newlines, double spaces;
 * document d (deterministic LCG) */
static char *gen_doc(int d, size_t target, size_t *len) {
    static const char *const words[] = {
        "the", "and", "of", "world", "tokenizer", "train", "training", "trained", "naïve", "café", "straße",
        "hello", "there", "they're", "don't", "it's", "we've", "merge", "merges", "merged", "pair", "pairs",
        "byte", "bytes", "piece", "pieces", "Über", "—", "…", "42", "1999", "3.14", "state", "union", "THE", "And"};
    static const char *const seps[] = {" ", " ", " ", " ", " ", ", ", ". ", "\n", "\n\n", "  ", "; ", "! ", "? ", " (", ") ", "\t"};
    size_t cap = target + 64, n = 0;
    char *s = malloc(cap + 1);
    uint64_t x = 0x9E3779B97F4A7C15ULL * (uint64_t)(d + 1);
    while (n < target) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *w = words[(x >> 33) % (sizeof words / sizeof *words)];
        const char *p = seps[(x >> 17) % (sizeof seps / sizeof *seps)];
        char made[64];
        if ((x >> 60) & 1) { /* a made-up word of 1 to 3 syllables */
            static const char *const syl[] = {"ka", "ro", "mi", "ten", "sor", "ul", "bra", "ne", "qui", "ست", "zé", "po",
                                              "lin", "dar", "vo", "esh", "ti", "gum", "fra", "ol", "ny", "ber", "chi", "wa"};
            made[0] = 0;
            int ns = 1 + (int)((x >> 40) % 3);
            for (int k = 0; k < ns; k++) strcat(made, syl[(x >> (20 + 5 * k)) % (sizeof syl / sizeof *syl)]);
            w = made;
        }
        size_t wl = strlen(w), pl = strlen(p);
        if (n + wl + pl > cap) break;
        memcpy(s + n, w, wl), n += wl;
        memcpy(s + n, p, pl), n += pl;
    }
    s[n] = 0;
    *len = n;
    return s;
}

/* write n generated documents as files tmp/<prefix>N.txt; the paths joined by spaces into list */
static void gen_files(const char *prefix, int n, size_t bytes, char *list, size_t list_cap) {
    list[0] = 0;
    for (int d = 0; d < n; d++) {
        char name[64];
        snprintf(name, sizeof name, "%s%d.txt", prefix, d);
        size_t len;
        char *s = gen_doc(d, bytes, &len);
        if (d == n - 1) { /* a rare character, outside a 0.999 coverage alphabet */
            const char *rare = " жук ";
            memcpy(s + len / 2, rare, strlen(rare));
        }
        write_whole(tmp_path(name), s, len);
        free(s);
        size_t at = strlen(list);
        snprintf(list + at, list_cap - at, "%s%s", at ? " " : "", tmp_path(name));
    }
}

/* the "tokens N" figure of the trainer's stdout line, or -1 */
static long long train_tokens(const char *out) {
    const char *p = out;
    while ((p = strstr(p, "tokens ")) != NULL) {
        if (p == out || p[-1] == '\n') return atoll(p + 7);
        p++;
    }
    return -1;
}

static cJSON *load_json(const char *path) {
    char *s = read_whole(path, NULL);
    if (!s) return NULL;
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

/* the model's merges as "left right" strings (either stored form) */
static int json_merge(const cJSON *m, char *buf, size_t cap) {
    if (cJSON_IsString(m)) {
        snprintf(buf, cap, "%s", m->valuestring);
        return 1;
    }
    if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2) {
        snprintf(buf, cap, "%s %s", cJSON_GetArrayItem(m, 0)->valuestring, cJSON_GetArrayItem(m, 1)->valuestring);
        return 1;
    }
    return 0;
}

static const char *oracle_pkg(void) {
    const char *p = tdata("pkg/lenml-tokenizers-3.7.2/package");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/dist/main.js", p);
    if (!tdata_exists(probe)) return NULL;
    if (run_cmd(NULL, "node --version") != 0) return NULL;
    return p;
}

/* ---- 1. a corpus worked out by hand ---------------------------------------------------- */

/* "hello world hello there\nthe world is big.\n", min frequency 1.
 * byte-bpe, GPT-2 pieces: hello, Ġworld x2, Ġhello, Ġthere, Ċ x2, the, Ġis, Ġbig, '.'.
 * Ids are GPT-2's: letters a=64 .. z=89, Ġ=220, new tokens from 256.
 *   he (4: hello, Ġhello, Ġthere, the)
 *   then count 2, smallest ids first: (l,d)=(75,67) < (l,l) < (o,r) < (t,he)=(83,256) < (w,or)=(86,259)
 *   < (Ġ,wor)=(220,261) < (he,ll)=(256,258) < (Ġwor,ld)=(262,257) < (hell,o)=(263,78),
 *   then count 1: (b,i)=(65,72) < (i,s)=(72,82) < (r,e)=(81,68); 256 + 13 + <|endoftext|> = 270.
 * sp-bpe: "▁hello▁world▁hello▁there\nthe▁world▁is▁big.\n"; words ▁hello x2, ▁world x2,
 * ▁there\nthe, ▁is, ▁big.\n; alphabet by frequency: ▁7 l6 e5 h4 o4 r3 \n2 d2 i2 t2 w2 .1 b1 g1 s1
 * (internal ids 0..14); he (4); then count 2: (▁,w)=(0,10) < (▁,he)=(0,15) < (l,l) < (l,d) < (o,r)
 * < (t,he) < (▁w,or) < (▁he,ll) < (▁wor,ld) < (▁hell,o); count 1: (▁,i) < (▁,b) < (▁,the) < (e,\n)
 * < (r,e\n); 259 + 15 + 16 = 290. */
TEST(tok_train_hand) {
    const char *text = "hello world hello there\nthe world is big.\n";
    write_whole(tmp_path("hand.txt"), text, strlen(text));
    static const char *const want_byte[] = {"h e", "l d", "l l", "o r", "t he", "w or", "Ġ wor",
                                            "he ll", "Ġwor ld", "hell o", "b i", "i s", "r e"};
    static const char *const want_sp[] = {"h e", "▁ w", "▁ he", "l l", "l d", "o r", "t he", "▁w or",
                                          "▁he ll", "▁wor ld", "▁hell o", "▁ i", "▁ b", "▁ the", "e \n", "r e\n"};
    for (int kind = 0; kind < 2; kind++) {
        const char *const *want = kind ? want_sp : want_byte;
        int n_want = kind ? 16 : 13;
        char *out;
        int rc = run_cmd(&out, "%s tokenizer train --kind %s --input %s --vocab %d --min-frequency 1 --out %s --config %s",
                         test_ttt_bin, kind ? "sp-bpe" : "byte-bpe", tmp_path("hand.txt"), kind ? 290 : 270,
                         tmp_path("hand.json"), tmp_path("hand_cfg.json"));
        EXPECT(rc == 0, "train %d failed: %s", kind, out);
        EXPECT(train_tokens(out) == (kind ? 14 : 17), "kind %d: %lld tokens on the corpus (hand count %d)", kind,
               train_tokens(out), kind ? 14 : 17);
        free(out);
        cJSON *j = load_json(tmp_path("hand.json"));
        EXPECT(j, "hand.json does not parse");
        cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
        cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges"), *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
        EXPECT(cJSON_GetArraySize(merges) == n_want, "kind %d: %d merges, expected %d", kind,
               cJSON_GetArraySize(merges), n_want);
        for (int i = 0; i < n_want; i++) {
            char buf[256];
            EXPECT(json_merge(cJSON_GetArrayItem(merges, i), buf, sizeof buf), "merge %d malformed", i);
            if (strcmp(buf, want[i]) != 0) {
                test_fail("kind %d: merge %d is '%s', by hand '%s'", kind, i, buf, want[i]);
                cJSON_Delete(j);
                return TEST_FAIL;
            }
        }
        EXPECT(cJSON_GetArraySize(vocab) == (kind ? 290 : 270), "kind %d: vocab has %d entries", kind,
               cJSON_GetArraySize(vocab));
        if (kind == 0) {
            cJSON *eot = cJSON_GetObjectItemCaseSensitive(vocab, "<|endoftext|>"), *hello = cJSON_GetObjectItemCaseSensitive(vocab, "hello");
            EXPECT(eot && eot->valueint == 269, "<|endoftext|> should be id 269 (after the vocabulary)");
            EXPECT(hello && hello->valueint == 265, "'hello' should be id 265 (merge 10 -> 256 + 9)");
            EXPECT(cJSON_GetObjectItemCaseSensitive(vocab, "!")->valueint == 0 && cJSON_GetObjectItemCaseSensitive(vocab, "Ġ")->valueint == 220,
                   "byte ids are not GPT-2's ('!' = 0, 'Ġ' = 220)");
        } else {
            cJSON *sp = cJSON_GetObjectItemCaseSensitive(vocab, "▁"), *l = cJSON_GetObjectItemCaseSensitive(vocab, "l"),
                  *s = cJSON_GetObjectItemCaseSensitive(vocab, "s");
            EXPECT(sp && sp->valueint == 259 && l && l->valueint == 260 && s && s->valueint == 273,
                   "sp alphabet order: ▁=259 l=260 s=273 expected");
            EXPECT(cJSON_GetObjectItemCaseSensitive(vocab, "<0x0A>")->valueint == 13 && cJSON_GetObjectItemCaseSensitive(vocab, "</s>")->valueint == 2,
                   "sp fixed ids: </s>=2, <0x0A>=13 expected");
        }
        cJSON_Delete(j);
    }
    return TEST_PASS;
}

/* ---- 2. against a naive reference trainer -------------------------------------------- */

typedef struct {
    int32_t *s;
    int32_t n;
    int64_t count;
} rword;

typedef struct {
    char **str;
    size_t *len;
    int n, cap;
} rvocab;

static int rvocab_find(const rvocab *v, const char *s, size_t n) {
    for (int i = 0; i < v->n; i++)
        if (v->len[i] == n && memcmp(v->str[i], s, n) == 0) return i;
    return -1;
}

static void rvocab_add(rvocab *v, const char *s, size_t n) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 512;
        v->str = realloc(v->str, (size_t)v->cap * sizeof *v->str);
        v->len = realloc(v->len, (size_t)v->cap * sizeof *v->len);
    }
    v->str[v->n] = malloc(n + 1);
    memcpy(v->str[v->n], s, n);
    v->len[v->n++] = n;
}

typedef struct {
    int32_t a, b;
    int64_t c;
} rpair;

static int rpair_cmp(const void *x, const void *y) {
    const rpair *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return (p->b > q->b) - (p->b < q->b);
}

/* Naive BPE: each step lists every adjacent pair of every word (weighted), sorts and sums them,
 * takes the largest count (ties: the smaller (a, b)), and rewrites every word. Returns merges. */
static int naive_bpe(rword *w, int nw, rvocab *v, int target, int64_t minf, int32_t (*merges)[2]) {
    int nm = 0;
    int64_t total = 0;
    for (int i = 0; i < nw; i++) total += w[i].n;
    rpair *ps = malloc((size_t)(total + 1) * sizeof *ps);
    while (v->n < target) {
        int64_t np = 0;
        for (int i = 0; i < nw; i++)
            for (int k = 0; k + 1 < w[i].n; k++) ps[np++] = (rpair){w[i].s[k], w[i].s[k + 1], w[i].count};
        if (np == 0) break;
        qsort(ps, (size_t)np, sizeof *ps, rpair_cmp);
        rpair best = {0, 0, 0};
        for (int64_t i = 0; i < np;) {
            int64_t j = i, c = 0;
            while (j < np && ps[j].a == ps[i].a && ps[j].b == ps[i].b) c += ps[j++].c;
            if (c > best.c) best = (rpair){ps[i].a, ps[i].b, c}; /* sorted: the first of equal counts is the smallest */
            i = j;
        }
        if (best.c < minf) break;
        size_t la = v->len[best.a], lb = v->len[best.b];
        char *cat = malloc(la + lb);
        memcpy(cat, v->str[best.a], la), memcpy(cat + la, v->str[best.b], lb);
        int id = rvocab_find(v, cat, la + lb);
        if (id < 0) id = v->n, rvocab_add(v, cat, la + lb);
        free(cat);
        merges[nm][0] = best.a, merges[nm][1] = best.b, nm++;
        for (int i = 0; i < nw; i++) {
            int32_t o = 0;
            for (int32_t k = 0; k < w[i].n;) {
                if (k + 1 < w[i].n && w[i].s[k] == best.a && w[i].s[k + 1] == best.b) w[i].s[o++] = id, k += 2;
                else w[i].s[o++] = w[i].s[k++];
            }
            w[i].n = o;
        }
    }
    free(ps);
    return nm;
}

static int piece_cb(void *ctx, size_t b, size_t e) {
    size_t *pr = ctx;
    size_t n = pr[0]++;
    pr[1 + 2 * n] = b, pr[2 + 2 * n] = e;
    return 0;
}

TEST(tok_train_reference) {
    enum { NDOC = 3, VOCAB_BYTE = 700, VOCAB_SP = 700 };
    const char *texts[NDOC];
    size_t lens[NDOC];
    for (int d = 0; d < NDOC; d++) texts[d] = gen_doc(d, 6000, &lens[d]);
    int status = TEST_PASS;
    for (int kind = 0; kind < 2 && status == TEST_PASS; kind++) {
        /* the reference's words */
        rword *w = calloc(200000, sizeof *w);
        int nw = 0;
        rvocab v = {0};
        if (kind == 0) {
            for (int i = 0; i < 256; i++) {
                char b = (char)tokjson_byte_of_id(i);
                rvocab_add(&v, &b, 1);
            }
            pretok pre;
            pretok_state st;
            EXPECT(pretok_compile(&pre, TOKJSON_GPT2_PATTERN, "gpt2") == TTT_OK && pretok_state_init(&st, &pre) == TTT_OK,
                   "pretok");
            for (int d = 0; d < NDOC; d++) {
                size_t *pr = malloc((2 * lens[d] + 2) * sizeof *pr), end;
                pr[0] = 0;
                pretok_split(&pre, &st, texts[d], lens[d], 0, lens[d], piece_cb, pr, &end);
                for (size_t p = 0; p < pr[0]; p++) {
                    size_t b = pr[1 + 2 * p], e = pr[2 + 2 * p];
                    w[nw].s = malloc((e - b) * sizeof(int32_t));
                    w[nw].n = (int32_t)(e - b);
                    w[nw].count = 1;
                    for (size_t k = b; k < e; k++) w[nw].s[k - b] = rvocab_find(&v, texts[d] + k, 1);
                    nw++;
                }
                free(pr);
            }
            pretok_state_free(&st);
            pretok_free(&pre);
        } else {
            /* sp: normalise, split before every "▁" that follows a non-"▁", characters by
             * frequency (coverage 1: all of them) */
            char *norm[NDOC];
            size_t nlen[NDOC];
            for (int d = 0; d < NDOC; d++) {
                norm[d] = malloc(3 * lens[d] + 4);
                size_t n = 0;
                memcpy(norm[d], "\xe2\x96\x81", 3), n = 3;
                for (size_t i = 0; i < lens[d]; i++) {
                    if (texts[d][i] == ' ') memcpy(norm[d] + n, "\xe2\x96\x81", 3), n += 3;
                    else norm[d][n++] = texts[d][i];
                }
                nlen[d] = n;
            }
            /* characters and their counts (a plain list) */
            uint32_t cps[512];
            int64_t cnt[512];
            int nc = 0;
            for (int d = 0; d < NDOC; d++)
                for (size_t i = 0; i < nlen[d];) {
                    uint32_t cp;
                    int k = utf8_decode((const unsigned char *)norm[d] + i, nlen[d] - i, &cp);
                    int f = -1;
                    for (int c = 0; c < nc; c++)
                        if (cps[c] == cp) f = c;
                    if (f < 0) f = nc, cps[nc] = cp, cnt[nc++] = 0;
                    cnt[f]++;
                    i += (size_t)k;
                }
            for (int a = 0; a < nc; a++) /* selection sort: count desc, code point asc */
                for (int b = a + 1; b < nc; b++)
                    if (cnt[b] > cnt[a] || (cnt[b] == cnt[a] && cps[b] < cps[a])) {
                        uint32_t t = cps[a];
                        int64_t u = cnt[a];
                        cps[a] = cps[b], cnt[a] = cnt[b], cps[b] = t, cnt[b] = u;
                    }
            for (int c = 0; c < nc; c++) {
                char u[4];
                int k = 0;
                uint32_t cp = cps[c];
                if (cp < 0x80) u[k++] = (char)cp;
                else if (cp < 0x800) u[k++] = (char)(0xC0 | cp >> 6), u[k++] = (char)(0x80 | (cp & 63));
                else u[k++] = (char)(0xE0 | cp >> 12), u[k++] = (char)(0x80 | ((cp >> 6) & 63)), u[k++] = (char)(0x80 | (cp & 63));
                rvocab_add(&v, u, (size_t)k);
            }
            for (int d = 0; d < NDOC; d++) {
                size_t i = 0;
                while (i < nlen[d]) {
                    int32_t buf[4096], n = 0;
                    int prev_space = 1;
                    while (i < nlen[d]) {
                        uint32_t cp;
                        int k = utf8_decode((const unsigned char *)norm[d] + i, nlen[d] - i, &cp);
                        int space = cp == 0x2581;
                        if (space && !prev_space && n) break;
                        buf[n++] = rvocab_find(&v, norm[d] + i, (size_t)k);
                        prev_space = space;
                        i += (size_t)k;
                    }
                    w[nw].s = malloc((size_t)n * sizeof(int32_t));
                    memcpy(w[nw].s, buf, (size_t)n * sizeof(int32_t));
                    w[nw].n = n, w[nw].count = 1;
                    nw++;
                }
                free(norm[d]);
            }
        }
        int base = v.n; /* internal alphabet size */
        int fixed = kind ? 259 : 0, nsp = kind ? 0 : 1;
        int target_internal = (kind ? VOCAB_SP : VOCAB_BYTE) - fixed - nsp;
        int32_t(*ref)[2] = malloc(4096 * sizeof *ref);
        int nref = naive_bpe(w, nw, &v, target_internal, 1, ref);

        bpe_train_opts o;
        bpe_train_defaults(&o);
        o.kind = kind ? BPE_TRAIN_SP : BPE_TRAIN_BYTE;
        o.vocab_size = kind ? VOCAB_SP : VOCAB_BYTE;
        o.min_frequency = 1;
        o.char_coverage = 1.0;
        bpe_model m;
        ttt_status s = bpe_train_texts(&o, texts, lens, NDOC, &m);
        if (s != TTT_OK) {
            test_fail("kind %d: %s", kind, ttt_last_error());
            status = TEST_FAIL;
        } else {
            int off = fixed; /* final id of internal id 0 */
            if (m.n_merges != nref || m.n_alphabet != base) {
                test_fail("kind %d: %lld merges and %lld alphabet, reference %d and %d", kind, (long long)m.n_merges,
                          (long long)m.n_alphabet, nref, base);
                status = TEST_FAIL;
            }
            for (int k = 0; k < nref && status == TEST_PASS; k++)
                if (m.merges[k][0] != ref[k][0] + off || m.merges[k][1] != ref[k][1] + off) {
                    test_fail("kind %d: merge %d is (%d, %d), the naive reference's (%d, %d)", kind, k, m.merges[k][0] - off,
                              m.merges[k][1] - off, ref[k][0], ref[k][1]);
                    status = TEST_FAIL;
                }
            int64_t ref_tokens = 0;
            for (int i = 0; i < nw; i++) ref_tokens += w[i].n;
            if (status == TEST_PASS && m.corpus_tokens != ref_tokens) {
                test_fail("kind %d: %lld corpus tokens, reference %lld", kind, (long long)m.corpus_tokens,
                          (long long)ref_tokens);
                status = TEST_FAIL;
            }
            /* token strings of the vocabulary are the reference's */
            for (int i = 0; i < v.n && status == TEST_PASS; i++)
                if (m.tok_len[i + off] != v.len[i] || memcmp(m.tok[i + off], v.str[i], v.len[i]) != 0) {
                    test_fail("kind %d: token %d differs from the reference's", kind, i + off);
                    status = TEST_FAIL;
                }
            bpe_model_free(&m);
        }
        for (int i = 0; i < nw; i++) free(w[i].s);
        for (int i = 0; i < v.n; i++) free(v.str[i]);
        free(v.str), free(v.len), free(w), free(ref);
    }
    for (int d = 0; d < NDOC; d++) free((char *)texts[d]);
    return status;
}

/* ---- 3. the files load in transformers.js, encode and decode ----------------------------- */

TEST(tok_train_oracle) {
    const char *pkg = oracle_pkg();
    if (!pkg) return test_skip("@lenml/tokenizers not at %s or node missing (make data)", tdata("pkg/lenml-tokenizers-3.7.2/package"));
    char files[4096];
    gen_files("oracle", 3, 6000, files, sizeof files);
    const char *oracle = fixture("../tok_oracle.cjs");
    static const struct {
        const char *flags;
        const char *name;
    } cases[] = {
        {"--kind byte-bpe --vocab 600", "byte"},
        {"--kind byte-bpe --vocab 600 --special '<|endoftext|>' '<|pad|>' --special-first", "byte-first"},
        {"--kind byte-bpe --vocab 550 --pattern '[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+'",
         "byte-pattern"},
        {"--kind sp-bpe --vocab 600 --special '<pad>'", "sp"},
        {"--kind sp-bpe --vocab 600 --character-coverage 0.999 --min-frequency 3", "sp-coverage"},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char json[512], cfg[512];
        snprintf(json, sizeof json, "%s", tmp_path("oracle.json"));
        snprintf(cfg, sizeof cfg, "%s", tmp_path("tokenizer_config.json"));
        char *out;
        int rc = run_cmd(&out, "%s tokenizer train %s --input %s --out %s", test_ttt_bin, cases[c].flags, files, json);
        EXPECT(rc == 0, "%s: train failed: %s", cases[c].name, out);
        long long toks = train_tokens(out);
        free(out);
        rc = run_cmd(&out, "node %s %s %s %s files '--text=a<|endoftext|>b' '--text=<pad>' %s", oracle, pkg, json, cfg,
                     files);
        EXPECT(rc == 0, "%s: the oracle failed: %s", cases[c].name, out);
        cJSON *r = cJSON_Parse(strchr(out, '{') ? strchr(out, '{') : out);
        EXPECT(r, "%s: oracle output: %s", cases[c].name, out);
        long long nt = (long long)cJSON_GetObjectItemCaseSensitive(r, "tokens")->valuedouble;
        int fails = cJSON_GetObjectItemCaseSensitive(r, "roundtrip_failures")->valueint;
        int vocab = cJSON_GetObjectItemCaseSensitive(r, "vocab")->valueint;
        cJSON *tx = cJSON_GetObjectItemCaseSensitive(r, "texts");
        cJSON *t0 = cJSON_GetArrayItem(tx, 0), *t1 = cJSON_GetArrayItem(tx, 1);
        int n0 = cJSON_GetArraySize(t0), eot = n0 == 3 ? cJSON_GetArrayItem(t0, 1)->valueint : -1;
        int pad = cJSON_GetArraySize(t1) == 1 ? cJSON_GetArrayItem(t1, 0)->valueint : -1;
        cJSON_Delete(r);
        if (nt != toks || fails != 0) {
            test_fail("%s: transformers.js encodes the corpus to %lld tokens (trainer: %lld), %d documents do not "
                      "decode back: %s", cases[c].name, nt, toks, fails, out);
            free(out);
            return TEST_FAIL;
        }
        free(out);
        int want_vocab = strstr(cases[c].flags, "550") ? 550 : 600;
        EXPECT(vocab == want_vocab, "%s: transformers.js sees %d ids, expected %d", cases[c].name, vocab, want_vocab);
        /* special tokens are matched in the text (a, special, b); sp adds no <s> without add_special_tokens */
        if (strcmp(cases[c].name, "byte") == 0)
            EXPECT(eot == 599, "byte: 'a<|endoftext|>b' should be a, 599, b; the special is %d", eot);
        if (strcmp(cases[c].name, "byte-first") == 0)
            EXPECT(eot == 0, "byte-first: 'a<|endoftext|>b' should be a, 0, b; the special is %d", eot);
        if (strcmp(cases[c].name, "sp") == 0) EXPECT(pad == 599, "sp: '<pad>' should be id 599, is %d", pad);
    }
    return TEST_PASS;
}

/* ---- 4. structure of the file, read back ----------------------------------------------- */

TEST(tok_train_structure) {
    char files[4096];
    gen_files("struct", 2, 8000, files, sizeof files);
    for (int kind = 0; kind < 2; kind++) {
        char *out;
        int rc = run_cmd(&out, "%s tokenizer train --kind %s --input %s --vocab 600 --out %s --special '<x>'",
                         test_ttt_bin, kind ? "sp-bpe" : "byte-bpe", files, tmp_path("struct.json"));
        EXPECT(rc == 0, "train: %s", out);
        long long toks = train_tokens(out);
        free(out);
        /* the project's own tokenizer.json reader (src/tokenizer/hf_*.c) encodes the corpus to the
         * trainer's count */
        write_whole(tmp_path("struct.list"), "struct0.txt\nstruct1.txt\n", 24);
        rc = run_cmd(&out, "%s tokenize --tokenizer %s --input-list %s --count", test_ttt_bin, tmp_path("struct.json"),
                     tmp_path("struct.list"));
        EXPECT(rc == 0 && atoll(out) == toks, "kind %d: ttt tokenize reads the file and counts %s tokens (trainer %lld)",
               kind, out, toks);
        free(out);
        cJSON *j = load_json(tmp_path("struct.json"));
        cJSON *cfg = load_json(tmp_path("tokenizer_config.json"));
        EXPECT(j && cfg, "files do not parse");
        cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model"), *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab"),
              *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
        int n = cJSON_GetArraySize(vocab);
        EXPECT(n == 600, "kind %d: %d vocab entries", kind, n);
        /* ids are a bijection onto 0..n-1 */
        const char **by_id = calloc((size_t)n, sizeof *by_id);
        cJSON *e;
        cJSON_ArrayForEach(e, vocab) {
            int id = e->valueint;
            EXPECT(id >= 0 && id < n && !by_id[id], "kind %d: id %d repeated or out of range", kind, id);
            by_id[id] = e->string;
        }
        int base;
        if (kind == 0) {
            for (int i = 0; i < 256; i++) {
                unsigned char b = tokjson_byte_of_id(i);
                uint32_t cp = hf_byte_to_cp(b), got;
                EXPECT(utf8_decode((const unsigned char *)by_id[i], strlen(by_id[i]), &got) == (int)strlen(by_id[i]) &&
                           got == cp, "byte id %d is '%s', expected U+%04X", i, by_id[i], cp);
            }
            base = 256;
        } else {
            EXPECT(!strcmp(by_id[0], "<unk>") && !strcmp(by_id[1], "<s>") && !strcmp(by_id[2], "</s>"), "sp specials");
            for (int b = 0; b < 256; b++) {
                char want[8];
                snprintf(want, sizeof want, "<0x%02X>", b);
                EXPECT(!strcmp(by_id[3 + b], want), "sp byte id %d is '%s'", 3 + b, by_id[3 + b]);
            }
            base = 259;
            while (base < n && utf8_decode((const unsigned char *)by_id[base], strlen(by_id[base]), &(uint32_t){0}) ==
                                   (int)strlen(by_id[base]))
                base++; /* the single characters */
            EXPECT(!strcmp(cJSON_GetObjectItemCaseSensitive(j, "normalizer")->child->valuestring, "Sequence"), "sp normalizer");
            EXPECT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")), "sp byte_fallback");
        }
        /* every merge: both sides tokens, the concatenation the next new id (or an earlier one) */
        int next = base;
        for (int k = 0; k < cJSON_GetArraySize(merges); k++) {
            char buf[512], l[512], r[512];
            json_merge(cJSON_GetArrayItem(merges, k), buf, sizeof buf);
            char *sp = strchr(buf, ' ');
            EXPECT(sp, "merge %d has no space", k);
            *sp = 0;
            snprintf(l, sizeof l, "%s", buf), snprintf(r, sizeof r, "%s", sp + 1);
            EXPECT(cJSON_GetObjectItemCaseSensitive(vocab, l) && cJSON_GetObjectItemCaseSensitive(vocab, r), "merge %d: '%s' '%s' not tokens", k, l, r);
            char cat[1100];
            snprintf(cat, sizeof cat, "%s%s", l, r);
            cJSON *id = cJSON_GetObjectItemCaseSensitive(vocab, cat);
            EXPECT(id, "merge %d: '%s' is not a token", k, cat);
            EXPECT(id->valueint == next || id->valueint < next, "merge %d: '%s' has id %d, expected %d", k, cat,
                   id->valueint, next);
            if (id->valueint == next) next++;
        }
        EXPECT(next == n - 1 && !strcmp(by_id[n - 1], "<x>"), "kind %d: merges end at id %d, special <x> at %d ('%s')",
               kind, next, n - 1, by_id[n - 1]);
        cJSON *added = cJSON_GetObjectItemCaseSensitive(j, "added_tokens");
        EXPECT(cJSON_GetArraySize(added) == (kind ? 4 : 1), "kind %d: %d added tokens", kind, cJSON_GetArraySize(added));
        EXPECT(!strcmp(cJSON_GetObjectItemCaseSensitive(cfg, "tokenizer_class")->valuestring, "PreTrainedTokenizerFast"), "class");
        EXPECT(!strcmp(cJSON_GetObjectItemCaseSensitive(cfg, "bos_token")->valuestring, kind ? "<s>" : "<x>"), "bos token");
        EXPECT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cfg, "add_bos_token")) == kind, "add_bos_token");
        free(by_id);
        cJSON_Delete(j);
        cJSON_Delete(cfg);
    }
    return TEST_PASS;
}

/* ---- 5. the thread count does not change the result ------------------------------------ */

TEST(tok_train_threads) {
    char files[4096];
    gen_files("thr", 6, 5000, files, sizeof files);
    for (int kind = 0; kind < 2; kind++) {
        char *ref = NULL;
        size_t ref_len = 0;
        for (int t = 1; t <= 3; t++) {
            char *out;
            int rc = run_cmd(&out, "%s tokenizer train --kind %s --input %s --vocab 700 --threads %d --out %s",
                             test_ttt_bin, kind ? "sp-bpe" : "byte-bpe", files, t, tmp_path("thr.json"));
            EXPECT(rc == 0, "train: %s", out);
            free(out);
            size_t len;
            char *s = read_whole(tmp_path("thr.json"), &len);
            EXPECT(s, "no output");
            if (!ref) {
                ref = s, ref_len = len;
                continue;
            }
            int same = len == ref_len && memcmp(s, ref, len) == 0;
            free(s);
            if (!same) {
                free(ref);
                test_fail("kind %d: tokenizer.json with %d threads differs from 1 thread", kind, t);
                return TEST_FAIL;
            }
        }
        free(ref);
    }
    return TEST_PASS;
}

/* ---- 6. bad input ------------------------------------------------------------------------ */

TEST(tok_train_errors) {
    const char *text = "some text to train on, some more text.\n";
    write_whole(tmp_path("err.txt"), text, strlen(text));
    write_whole(tmp_path("empty.txt"), "", 0);
    const char *in = tmp_path("err.txt"), *out = tmp_path("err.json");
    int ok = 1;
    ok &= expect_cli_error("missing.txt", "tokenizer train --input %s --vocab 300 --out %s", tmp_path("missing.txt"), out);
    ok &= expect_cli_error("too small|256", "tokenizer train --input %s --vocab 100 --out %s", in, out);
    ok &= expect_cli_error("too small|sp-bpe", "tokenizer train --kind sp-bpe --input %s --vocab 262 --out %s", in, out);
    ok &= expect_cli_error("too large", "tokenizer train --input %s --vocab 99999999 --out %s", in, out);
    ok &= expect_cli_error("--vocab", "tokenizer train --input %s --vocab many --out %s", in, out);
    ok &= expect_cli_error("/nonexistent-dir", "tokenizer train --input %s --vocab 300 --out /nonexistent-dir/t.json", in);
    ok &= expect_cli_error("--kind|byte-bpe or sp-bpe", "tokenizer train --input %s --vocab 300 --out %s --kind wordpiece", in, out);
    ok &= expect_cli_error("empty", "tokenizer train --input %s --vocab 300 --out %s", tmp_path("empty.txt"), out);
    ok &= expect_cli_error("--input", "tokenizer train --vocab 300 --out %s", out);
    ok &= expect_cli_error("--out", "tokenizer train --input %s --vocab 300", in);
    ok &= expect_cli_error("--pattern", "tokenizer train --kind sp-bpe --input %s --vocab 400 --out %s --pattern x", in, out);
    ok &= expect_cli_error("--pattern", "tokenizer train --input %s --vocab 300 --out %s --pattern '(unclosed'", in, out);
    ok &= expect_cli_error("twice", "tokenizer train --input %s --vocab 300 --out %s --special A A", in, out);
    ok &= expect_cli_error("<s>", "tokenizer train --kind sp-bpe --input %s --vocab 400 --out %s --special '<s>'", in, out);
    ok &= expect_cli_error("coverage", "tokenizer train --kind sp-bpe --input %s --vocab 400 --out %s --character-coverage 1.5", in, out);
    ok &= expect_cli_error("directory", "tokenizer train --input %s --vocab 300 --out %s", test_tmpdir, out);
    ok &= expect_cli_error("unknown subcommand", "tokenizer frobnicate");
    ok &= expect_cli_error("needs at least one value", "tokenizer train --input --vocab 300 --out %s", out);
    EXPECT(ok, "error cases failed (see above)");
    /* none of them left a file */
    EXPECT(!read_whole(out, NULL), "a failed run wrote %s", out);
    /* a vocabulary the text cannot fill stops early, says so, and still writes a valid file */
    char *o;
    int rc = run_cmd(&o, "%s tokenizer train --input %s --vocab 5000 --out %s", test_ttt_bin, in, out);
    EXPECT(rc == 0 && strstr(o, "stopped early"), "short corpus: %s", o);
    free(o);
    cJSON *j = load_json(out);
    EXPECT(j && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"), "vocab")) < 300,
           "short corpus: vocabulary not cut short");
    cJSON_Delete(j);
    return TEST_PASS;
}

/* ---- 7. the writer on its own ------------------------------------------------------------ */

TEST(tok_json_writer) {
    /* byte level from raw bytes: ' ', 'a', " a"; a custom pattern goes into a Split */
    const char *vocab[4] = {" ", "a", " a", NULL};
    size_t vlen[4] = {1, 1, 2, 0};
    int32_t merges[1][2] = {{0, 1}};
    tokjson_special sp[1] = {{"<|e|>", 5, 3}};
    tokjson_spec s;
    memset(&s, 0, sizeof s);
    s.kind = TOKJSON_BYTE_LEVEL;
    s.n_ids = 4;
    s.vocab = vocab;
    s.vocab_len = vlen;
    s.vocab_raw_bytes = 1;
    s.merges = (const int32_t(*)[2])merges;
    s.n_merges = 1;
    s.special = sp;
    s.n_special = 1;
    s.pattern = "\\s+|\\S+";
    EXPECT(tokjson_write(tmp_path("w.json"), &s) == TTT_OK, "write: %s", ttt_last_error());
    cJSON *j = load_json(tmp_path("w.json"));
    EXPECT(j, "w.json does not parse");
    cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"), "vocab");
    EXPECT(cJSON_GetObjectItemCaseSensitive(v, "Ġa") && cJSON_GetObjectItemCaseSensitive(v, "Ġa")->valueint == 2, "raw ' a' should be written 'Ġa'");
    EXPECT(cJSON_GetObjectItemCaseSensitive(v, "<|e|>") && cJSON_GetObjectItemCaseSensitive(v, "<|e|>")->valueint == 3, "special in the vocab");
    cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"), "merges"), 0);
    EXPECT(cJSON_IsString(m0) && !strcmp(m0->valuestring, "Ġ a"), "merge should be \"Ġ a\"");
    cJSON *pre = cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer");
    EXPECT(!strcmp(cJSON_GetObjectItemCaseSensitive(pre, "type")->valuestring, "Sequence"), "custom pattern -> Sequence[Split, ByteLevel]");
    cJSON_Delete(j);
    /* a merge whose result is not a token */
    int32_t bad[1][2] = {{1, 0}};
    s.merges = (const int32_t(*)[2])bad;
    EXPECT(tokjson_write(tmp_path("w2.json"), &s) == TTT_ERR_ARG && strstr(ttt_last_error(), "not in the vocabulary"),
           "a bad merge must be refused: %s", ttt_last_error());
    /* two ids with one string */
    const char *dup[4] = {"a", "a", "aa", NULL};
    size_t dlen[4] = {1, 1, 2, 0};
    s.vocab = dup, s.vocab_len = dlen, s.n_merges = 0;
    EXPECT(tokjson_write(tmp_path("w3.json"), &s) == TTT_ERR_ARG && strstr(ttt_last_error(), "same string"),
           "duplicate strings must be refused: %s", ttt_last_error());
    EXPECT(!read_whole(tmp_path("w2.json"), NULL) && !read_whole(tmp_path("w3.json"), NULL), "refused specs wrote files");
    /* sp with a space inside a token (not from the trainer): merges in the array form */
    const char *spv[5] = {"<unk>", "x y", "z", "x yz", NULL};
    size_t splen[5] = {5, 3, 1, 4, 0};
    int32_t spm[1][2] = {{1, 2}};
    tokjson_special sps[1] = {{"<unk>", 5, 0}};
    memset(&s, 0, sizeof s);
    s.kind = TOKJSON_SP_BPE;
    s.n_ids = 4, s.vocab = spv, s.vocab_len = splen, s.merges = (const int32_t(*)[2])spm, s.n_merges = 1;
    s.special = sps, s.n_special = 1;
    EXPECT(tokjson_write(tmp_path("w4.json"), &s) == TTT_OK, "sp write: %s", ttt_last_error());
    j = load_json(tmp_path("w4.json"));
    m0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "model"), "merges"), 0);
    EXPECT(cJSON_IsArray(m0) && !strcmp(cJSON_GetArrayItem(m0, 0)->valuestring, "x y"), "merge with a space: array form");
    EXPECT(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "post_processor")), "no BOS asked: no post_processor");
    cJSON_Delete(j);
    return TEST_PASS;
}
