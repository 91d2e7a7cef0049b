/* test_shards.c: model directories in the Hugging Face hub's sharded layout
 * (model.safetensors.index.json + model-0000N-of-0000M.safetensors, src/io/st_set.c). The
 * golden Llama and Mamba cases re-saved as three BF16 shards, their tensors dealt out across
 * the shards in an interleaved order, give bit for bit the numbers of the same BF16-rounded
 * model stored as one file, and stay within the bf16 rounding of the golden logits (5e-2 of
 * the largest). A bad index or shard set is refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "models.h"
#include "test.h"

/* copy DIR's config.json into OUT and write m's tensors as NS BF16 shards (tensor i in shard
 * i mod NS) with an index; extra_map: raw entries, each ending in ",\n", put first into
 * "weight_map" (NULL: none) */
static int write_sharded(const ttt_model *m, const char *src_dir, const char *out, int ns, const char *extra_map) {
    char p[1024];
    char *cfg = NULL;
    size_t len = 0;
    snprintf(p, sizeof p, "%s/config.json", src_dir);
    cfg = read_whole(p, &len);
    EXPECT(cfg, "read %s", p);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", out, out);
    EXPECT(system(cmd) == 0, "mkdir %s", out);
    snprintf(p, sizeof p, "%s/config.json", out);
    write_whole(p, cfg, len);
    free(cfg);
    float *w = flat_tensors(m, 0);
    int64_t np = ttt_param_count(m);
    st_entry *e = calloc((size_t)np, sizeof *e);
    EXPECT(w && e, "memory");
    for (int64_t i = 0, o = 0; i < np; i++) {
        e[i].name = ttt_param_name(m, i);
        e[i].dtype = ST_BF16;
        e[i].ndim = ttt_param_shape(m, i, e[i].shape);
        e[i].src = ST_SRC_F32;
        e[i].data = w + o;
        int64_t n = 1;
        for (int q = 0; q < e[i].ndim; q++) n *= e[i].shape[q];
        o += n;
    }
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", out);
    FILE *ix = fopen(p, "w");
    EXPECT(ix, "open %s", p);
    fprintf(ix, "{\n  \"metadata\": {\"total_size\": 0},\n  \"weight_map\": {\n%s", extra_map ? extra_map : "");
    int first = 1;
    for (int k = 0; k < ns; k++) {
        st_entry *sub = calloc((size_t)np, sizeof *sub);
        int n = 0;
        for (int64_t i = k; i < np; i += ns) sub[n++] = e[i];
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, ns);
        snprintf(p, sizeof p, "%s/%s", out, name);
        EXPECT(st_write(p, sub, n) == TTT_OK, "%s", ttt_last_error());
        for (int j = 0; j < n; j++, first = 0) fprintf(ix, "%s    \"%s\": \"%s\"", first ? "" : ",\n", sub[j].name, name);
        free(sub);
    }
    fprintf(ix, "\n  }\n}\n");
    fclose(ix);
    free(w), free(e);
    return 1;
}

/* the golden case NAME: sharded BF16 == single-file BF16 bit for bit, both near the golden logits */
static int golden_sharded(const char *name) {
    char src[512], one[512];
    snprintf(src, sizeof src, "%s/golden/%s", test_fixtures, name);
    ttt_model *m = NULL;
    EXPECT(ttt_model_load(src, NULL, &m) == TTT_OK, "%s", ttt_last_error());
    snprintf(one, sizeof one, "%s", tmp_path("shard_one"));
    EXPECT(ttt_model_save(m, one, TTT_DTYPE_BF16) == TTT_OK, "%s", ttt_last_error());
    const char *sh = tmp_path("shard_three");
    int ok = write_sharded(m, src, sh, 3, NULL);
    ttt_model_free(m);
    if (!ok) return 0;
    return golden_same_outputs(src, one, sh, "bf16 shards vs one bf16 file, and vs the golden logits");
}

TEST(test_shards_golden_llama) { return golden_sharded("llama_lm") ? TEST_PASS : TEST_FAIL; }
TEST(test_shards_golden_mamba) { return golden_sharded("mamba_lm") ? TEST_PASS : TEST_FAIL; }

/* ------------------------------------------------------------------------------------------ */

/* a sharded copy of a tiny model at DIR, then EDIT (a shell command run inside it); loading must
 * fail with every '|'-separated needle in the message */
static int bad_case(const ttt_model *m, const char *src, const char *extra_map, const char *edit, const char *needles) {
    const char *dir = tmp_path("shard_bad");
    if (!write_sharded(m, src, dir, 3, extra_map)) return 0;
    char cmd[1500];
    if (edit) {
        snprintf(cmd, sizeof cmd, "cd '%s' && %s", dir, edit);
        EXPECT(system(cmd) == 0, "edit: %s", edit);
    }
    ttt_model *x = NULL;
    ttt_status s = ttt_model_load(dir, NULL, &x);
    ttt_model_free(x);
    if (s == TTT_OK) {
        test_fail("loaded after '%s' / extra '%s'", edit ? edit : "", extra_map ? extra_map : "");
        return 0;
    }
    char buf[256];
    snprintf(buf, sizeof buf, "%s", needles);
    for (char *n = strtok(buf, "|"); n; n = strtok(NULL, "|"))
        if (!strstr(ttt_last_error(), n)) {
            test_fail("after '%s': message lacks '%s': %s", edit ? edit : extra_map, n, ttt_last_error());
            return 0;
        }
    return 1;
}

TEST(test_shards_bad_index) {
    const char *src = tiny_model("shard_src", "");
    ttt_model *m = NULL;
    EXPECT(ttt_model_load(src, NULL, &m) == TTT_OK, "%s", ttt_last_error());
    int ok = 1;
    { /* the good copy loads */
        const char *dir = tmp_path("shard_good");
        ok &= write_sharded(m, src, dir, 3, NULL);
        ttt_model *x = NULL;
        EXPECT(ttt_model_load(dir, NULL, &x) == TTT_OK, "the sharded copy: %s", ttt_last_error());
        ttt_model_free(x);
    }
    ok &= bad_case(m, src, "    \"ghost.weight\": \"model-00001-of-00003.safetensors\",\n", NULL,
                   "ghost.weight|model-00001-of-00003.safetensors|does not hold it");
    ok &= bad_case(m, src, "    \"a\": \"../evil.safetensors\",\n", NULL, "not a file name|../evil");
    ok &= bad_case(m, src, "    \"a\": 7,\n", NULL, "must be a string");
    ok &= bad_case(m, src, NULL, "rm model-00002-of-00003.safetensors", "model-00002-of-00003.safetensors");
    ok &= bad_case(m, src, NULL, "echo '{\"metadata\": {}}' > model.safetensors.index.json", "weight_map");
    ok &= bad_case(m, src, NULL, "echo '{\"weight_map\": {' > model.safetensors.index.json", "not valid JSON");
    ok &= bad_case(m, src, NULL, "echo '{\"weight_map\": {}}' > model.safetensors.index.json", "lists no tensor");
    ok &= bad_case(m, src, NULL, "echo '{\"weight_map\": {\"a\": \"x\", \"a\": \"y\"}}' > model.safetensors.index.json",
                   "duplicate key");
    /* a tensor mapped to another shard than the one that holds it, and a tensor in two shards */
    ok &= bad_case(m, src, NULL,
                   "/usr/bin/python3 -c \"import json; p='model.safetensors.index.json'; d=json.load(open(p)); "
                   "k=next(iter(d['weight_map'])); d['weight_map'][k]='model-00002-of-00003.safetensors'; "
                   "json.dump(d, open(p,'w'))\"",
                   "is mapped to model-00002-of-00003.safetensors but is in");
    ok &= bad_case(m, src, NULL, "cp model-00001-of-00003.safetensors model-00004-of-00004.safetensors && "
                   "/usr/bin/python3 -c \"import json; p='model.safetensors.index.json'; d=json.load(open(p)); "
                   "d['weight_map']['zz']='model-00004-of-00004.safetensors'; json.dump(d, open(p,'w'))\"",
                   "is in two shards");
    /* a shard with a tensor the map does not list */
    ok &= bad_case(m, src, NULL,
                   "/usr/bin/python3 -c \"import json; p='model.safetensors.index.json'; d=json.load(open(p)); "
                   "k=next(iter(d['weight_map'])); del d['weight_map'][k]; json.dump(d, open(p,'w'))\"",
                   "does not list");
    /* neither layout */
    ok &= bad_case(m, src, NULL, "rm model.safetensors.index.json", "model.safetensors");
    /* model.safetensors wins over an index, as in transformers: a broken index beside it is not read */
    {
        const char *dir = tmp_path("shard_both");
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s' && echo broken > '%s/model.safetensors.index.json'", dir,
                 src, dir, dir);
        EXPECT(system(cmd) == 0, "copy");
        ttt_model *x = NULL;
        EXPECT(ttt_model_load(dir, NULL, &x) == TTT_OK, "model.safetensors beside a broken index: %s", ttt_last_error());
        ttt_model_free(x);
    }
    ttt_model_free(m);
    return ok ? TEST_PASS : TEST_FAIL;
}
