/* fuzz_st_index.c: libFuzzer harness for the sharded-checkpoint reader st_set_open
 * (src/io/st_set.c): the input is model.safetensors.index.json, beside two small valid shards
 * (model-00001-of-00002.safetensors holding "a", model-00002-of-00002.safetensors holding "b"). */
#include "fuzz_util.h"
#include "io/st_set.h"

static void make_shards(void) {
    static int done;
    if (done) return;
    float v[6] = {1, 2, 3, 4, 5, 6};
    st_entry a = {"a", ST_F32, 2, {2, 3}, v, ST_SRC_F32}, b = {"b", ST_BF16, 1, {6}, v, ST_SRC_F32};
    char p[300];
    snprintf(p, sizeof p, "%s/model-00001-of-00002.safetensors", fuzz_dir());
    if (st_write(p, &a, 1) != TTT_OK) abort();
    snprintf(p, sizeof p, "%s/model-00002-of-00002.safetensors", fuzz_dir());
    if (st_write(p, &b, 1) != TTT_OK) abort();
    done = 1;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    make_shards();
    fuzz_file("model.safetensors.index.json", data, n);
    st_set s;
    if (st_set_open(&s, fuzz_dir()) == TTT_OK) {
        const st_file *f = NULL;
        for (int i = 0; i < s.n; i++)
            if (st_set_find(&s, s.e[i].t->name, &f) != s.e[i].t) abort();
        st_set_close(&s);
    }
    return 0;
}
