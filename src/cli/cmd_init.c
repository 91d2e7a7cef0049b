/* cmd_init.c: `ttt init`: write a freshly initialised model directory from a preset, with
 * optional overrides of individual config fields. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "ttt.h"

static const flag_spec flags[] = {
    {"preset", 1}, {"out", 1}, {"seed", 1}, {"layers", 1}, {"width", 1}, {"heads", 1},
    {"intermediate", 1}, {"vocab", 1}, {"mini-batch", 1}, {"ttt-type", 1}, {"backbone", 1},
    {"base-lr", 1}, {"conv-kernel", 1}, {"rope-theta", 1}, {"untied", 0}, {"tied", 0},
    {"bos", 1}, {"eos", 1}, {"dtype", 1}, {"max-position", 1}, {"kv-heads", 1}, {"fixed-lr-gate", 0}, {"unit-token-scale", 0}, {NULL, 0}};

static void help(void) {
    printf("usage: ttt init --preset NAME --out DIR [--seed N] [overrides]\n\n"
           "Writes DIR/config.json and DIR/model.safetensors, initialised as in the paper's JAX\n"
           "recipe (spec 3.3) from the seed (default 0).\n\n"
           "overrides:\n"
           "  --layers N --width N --heads N --intermediate N --vocab N --mini-batch N\n"
           "  --ttt-type linear|mlp       inner model (sets ttt_base_lr to 1.0 / 0.1 unless --base-lr)\n"
           "  --backbone mamba|transformer pre_conv, share_qk and use_gate all true / all false\n"
           "  --base-lr X --conv-kernel N --rope-theta X --bos ID --eos ID\n"
           "  --max-position N --kv-heads N (Transformer)\n"
           "  --fixed-lr-gate --unit-token-scale  TTT ablations: the inner lr gate held at zero (every\n"
           "                              token steps with eta_base*sigmoid(0)/f); tau = 1 for every token\n"
           "  --untied | --tied           separate lm_head.weight or head tied to the embedding\n"
           "  --dtype f32|f16|bf16        storage type of model.safetensors (default f32)\n\n"
           "presets:\n");
    const char *desc;
    for (int i = 0; ttt_preset_name(i, &desc); i++) printf("  %-20s %s\n", ttt_preset_name(i, NULL), desc);
}

int cmd_init(int argc, char **argv) {
    args a;
    if (args_parse(&a, "init", flags, argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "preset") || args_require(&a, "out")) return 2;
    ttt_config cfg;
    if (ttt_config_preset(args_str(&a, "preset", ""), &cfg) != TTT_OK) return cli_fail("init");
    int64_t seed, v;
    if (args_int(&a, "seed", 0, 0, INT64_MAX, &seed)) return 2;
    const int64_t MAXD = (int64_t)1 << 30;
#define OVERRIDE(flag, field) \
    if (args_int(&a, flag, cfg.field, 1, MAXD, &v)) return 2; \
    cfg.field = v;
    OVERRIDE("layers", num_hidden_layers)
    OVERRIDE("width", hidden_size)
    OVERRIDE("heads", num_attention_heads)
    OVERRIDE("intermediate", intermediate_size)
    OVERRIDE("vocab", vocab_size)
    OVERRIDE("mini-batch", mini_batch_size)
    OVERRIDE("conv-kernel", conv_kernel)
    OVERRIDE("max-position", max_position_embeddings)
    OVERRIDE("kv-heads", num_key_value_heads)
#undef OVERRIDE
    if (cfg.arch == TTT_ARCH_MAMBA) { /* d_inner and dt rank follow the width */
        cfg.intermediate_size = cfg.expand * cfg.hidden_size;
        cfg.time_step_rank = (cfg.hidden_size + 15) / 16;
    }
    if (args_int(&a, "bos", cfg.bos_token_id, -1, MAXD, &v)) return 2;
    cfg.bos_token_id = v;
    if (args_int(&a, "eos", cfg.eos_token_id, -1, MAXD, &v)) return 2;
    cfg.eos_token_id = v;
    const char *tt = args_str(&a, "ttt-type", NULL);
    if (tt) {
        if (strcmp(tt, "linear") == 0) {
            cfg.ttt_layer_type = TTT_INNER_LINEAR;
            cfg.ttt_base_lr = 1.0;
        } else if (strcmp(tt, "mlp") == 0) {
            cfg.ttt_layer_type = TTT_INNER_MLP;
            cfg.ttt_base_lr = 0.1;
        } else {
            fprintf(stderr, "ttt init: --ttt-type must be linear or mlp, got '%s'\n", tt);
            return 2;
        }
    }
    const char *bb = args_str(&a, "backbone", NULL);
    if (bb) {
        if (strcmp(bb, "mamba") != 0 && strcmp(bb, "transformer") != 0) {
            fprintf(stderr, "ttt init: --backbone must be mamba or transformer, got '%s'\n", bb);
            return 2;
        }
        cfg.pre_conv = cfg.share_qk = cfg.use_gate = strcmp(bb, "mamba") == 0;
    }
    if (args_double(&a, "base-lr", cfg.ttt_base_lr, &cfg.ttt_base_lr)) return 2;
    if (args_double(&a, "rope-theta", cfg.rope_theta, &cfg.rope_theta)) return 2;
    if (args_has(&a, "fixed-lr-gate")) cfg.ttt_fixed_lr_gate = 1;
    if (args_has(&a, "unit-token-scale")) cfg.ttt_unit_token_scale = 1;
    if (args_has(&a, "untied")) cfg.tie_word_embeddings = 0;
    if (args_has(&a, "tied")) cfg.tie_word_embeddings = 1;
    const char *dt = args_str(&a, "dtype", "f32");
    ttt_file_dtype fd;
    if (strcmp(dt, "f32") == 0)
        fd = TTT_DTYPE_F32;
    else if (strcmp(dt, "f16") == 0)
        fd = TTT_DTYPE_F16;
    else if (strcmp(dt, "bf16") == 0)
        fd = TTT_DTYPE_BF16;
    else {
        fprintf(stderr, "ttt init: --dtype must be f32, f16 or bf16, got '%s'\n", dt);
        return 2;
    }
    ttt_model *m;
    if (ttt_model_create(&cfg, (uint64_t)seed, NULL, &m) != TTT_OK) return cli_fail("init");
    const char *out = args_str(&a, "out", NULL);
    ttt_status s = ttt_model_save(m, out, fd);
    int64_t n = ttt_param_numel_total(m);
    ttt_model_free(m);
    if (s != TTT_OK) return cli_fail("init");
    fprintf(stderr, "ttt init: wrote %s (%s, %lld parameters, seed %lld)\n", out,
            args_str(&a, "preset", ""), (long long)n, (long long)seed);
    return 0;
}
