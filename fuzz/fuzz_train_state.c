/* fuzz_train_state.c: libFuzzer harness for the training-state reader: the bytes as the
 * train_state.safetensors of a tiny TTT-Linear model, read by ckpt_read_state as a resume with
 * batch 2 and seed 0 would. What it accepts must be a state a resume can continue from: a step
 * of at least 1 and exactly step x batch windows consumed, the seed unchanged.
 *
 * Seed: TTT_FUZZ_SEED_OUT=FILE fuzz_train_state writes a valid state of the harness's model to
 * FILE and exits (mk/fuzz.mk does this before fuzzing). */
#include <stdint.h>

#include "fuzz_util.h"
#include "model/model.h"
#include "train/checkpoint.h"
#include "ttt.h"

static ttt_model *model;
static void *mom_m, *mom_v;
static const char *keys[] = {"seq_len", "batch", "train_data", "shuffle"};
static const char *vals[] = {"8", "2", "4000 tokens, checksum 7996b4893b4260f4", "1"};
static const ckpt_expect expect = {2, 0, keys, vals, 4};

/* a valid state of the harness's model, formatted here (not by the library's writer, so that
 * the seed does not depend on the code under test): the metadata a checkpoint of step 3 with
 * batch 2 holds, and every moment tensor, m then v, all zero */
static void write_seed(const char *out) {
    size_t cap = 1 << 20, k = 0;
    char *h = malloc(cap);
    if (!h) abort();
    k += (size_t)snprintf(h + k, cap - k, "{\"__metadata__\":{\"ttt_train_state_version\":\"1\",\"step\":\"3\","
                          "\"windows_consumed\":\"6\",\"seed\":\"0\"");
    for (int i = 0; i < 4; i++) k += (size_t)snprintf(h + k, cap - k, ",\"%s\":\"%s\"", keys[i], vals[i]);
    k += (size_t)snprintf(h + k, cap - k, "}");
    uint64_t off = 0;
    for (int mv = 0; mv < 2; mv++)
        for (int64_t i = 0; i < model->tab.n; i++) {
            const param_info *p = &model->tab.p[i];
            k += (size_t)snprintf(h + k, cap - k, ",\"adam.%c.%s\":{\"dtype\":\"F32\",\"shape\":[", mv ? 'v' : 'm', p->name);
            for (int d = 0; d < p->ndim; d++) k += (size_t)snprintf(h + k, cap - k, "%s%lld", d ? "," : "", (long long)p->shape[d]);
            uint64_t end = off + 4 * (uint64_t)p->numel;
            k += (size_t)snprintf(h + k, cap - k, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                                  (unsigned long long)end);
            off = end;
        }
    k += (size_t)snprintf(h + k, cap - k, "}");
    while (k % 8) h[k++] = ' ';
    if (k >= cap) abort();
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)k >> (8 * i));
    FILE *fp = fopen(out, "wb");
    if (!fp || fwrite(len8, 1, 8, fp) != 8 || fwrite(h, 1, k, fp) != k) exit(1);
    for (uint64_t i = 0; i < off; i++) fputc(0, fp);
    if (fclose(fp) != 0) exit(1);
    free(h);
    /* the seed must be accepted */
    train_state st = {0, 0, 0, mom_m, mom_v};
    if (ckpt_read_state(out, model, &st, &expect) != TTT_OK || st.step != 3) {
        fprintf(stderr, "seed not accepted: %s\n", ttt_last_error());
        exit(1);
    }
    exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    ttt_config c;
    if (ttt_config_preset("ttt-linear-tiny", &c) != TTT_OK) abort();
    c.num_hidden_layers = 1, c.hidden_size = 8, c.num_attention_heads = 2, c.intermediate_size = 8;
    c.vocab_size = 11;
    ttt_options o;
    ttt_options_default(&o);
    o.threads = 1;
    if (ttt_model_create(&c, 0, &o, &model) != TTT_OK) {
        fprintf(stderr, "model: %s\n", ttt_last_error());
        abort();
    }
    size_t pb = (size_t)model->tab.total * model->elem;
    mom_m = calloc(1, pb), mom_v = calloc(1, pb);
    if (!mom_m || !mom_v) abort();
    const char *out = getenv("TTT_FUZZ_SEED_OUT");
    if (out) write_seed(out);
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    const char *p = fuzz_file("train_state.safetensors", data, n);
    train_state st = {-7, -7, 99, mom_m, mom_v};
    if (ckpt_read_state(p, model, &st, &expect) == TTT_OK) {
        if (st.step < 1 || st.windows != st.step * 2 || st.seed != 0) abort();
    } else if (st.step != -7 || st.windows != -7 || st.seed != 99) {
        abort(); /* a refused state leaves the position alone */
    }
    return 0;
}
