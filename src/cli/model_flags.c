/* model_flags.c: a preset and the overrides of its configuration, read from the command line
 * (shared by `ttt init` and `ttt train --preset`). */
#include "cli/model_flags.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const flag_spec model_flags[] = {MODEL_FLAG_SPECS, {NULL, 0}};

const char *model_flag_given(const args *a) {
    for (int i = 0; model_flags[i].name; i++)
        if (strcmp(model_flags[i].name, "preset") != 0 && args_has(a, model_flags[i].name)) return model_flags[i].name;
    return NULL;
}

/* which families each override applies to: a flag that the preset's family ignores is an
 * error rather than a silent no-op */
enum { F_TTT = 1, F_LLAMA = 2, F_MAMBA = 4 };
static const struct {
    const char *flag;
    int families;
} applies[] = {
    {"heads", F_TTT | F_LLAMA},        {"intermediate", F_TTT | F_LLAMA}, {"mini-batch", F_TTT},
    {"conv-kernel", F_TTT | F_MAMBA},  {"max-position", F_TTT | F_LLAMA}, {"kv-heads", F_LLAMA},
    {"ttt-type", F_TTT},               {"backbone", F_TTT},               {"base-lr", F_TTT},
    {"rope-theta", F_TTT | F_LLAMA},   {"fixed-lr-gate", F_TTT},          {"unit-token-scale", F_TTT},
};

static int check_applicable(const args *a, const char *cmd, const ttt_config *cfg) {
    int fam = cfg->arch == TTT_ARCH_LLAMA ? F_LLAMA : cfg->arch == TTT_ARCH_MAMBA ? F_MAMBA : F_TTT;
    static const char *const names[] = {"TTT", "Transformer (llama)", "Mamba"};
    for (size_t i = 0; i < sizeof applies / sizeof applies[0]; i++)
        if (args_has(a, applies[i].flag) && !(applies[i].families & fam)) {
            char to[64] = "";
            for (int k = 0; k < 3; k++)
                if (applies[i].families & (1 << k))
                    snprintf(to + strlen(to), sizeof to - strlen(to), "%s%s", *to ? ", " : "", names[k]);
            fprintf(stderr, "ttt %s: --%s does not apply to the %s model of preset '%s' (it applies to: %s)\n",
                    cmd, applies[i].flag, names[fam == F_TTT ? 0 : fam == F_LLAMA ? 1 : 2],
                    args_str(a, "preset", ""), to);
            return 2;
        }
    if (args_has(a, "tied") && args_has(a, "untied")) {
        fprintf(stderr, "ttt %s: --tied and --untied contradict each other: give one of them\n", cmd);
        return 2;
    }
    return 0;
}

int model_config_from_flags(const args *a, const char *cmd, ttt_config *cfg) {
    if (ttt_config_preset(args_str(a, "preset", ""), cfg) != TTT_OK) return cli_fail(cmd);
    if (check_applicable(a, cmd, cfg)) return 2;
    const int64_t MAXD = (int64_t)1 << 30;
    int64_t v;
#define OVERRIDE(flag, field)                                    \
    if (args_int(a, flag, cfg->field, 1, MAXD, &v)) return 2; \
    cfg->field = v;
    OVERRIDE("layers", num_hidden_layers)
    OVERRIDE("width", hidden_size)
    OVERRIDE("heads", num_attention_heads)
    OVERRIDE("intermediate", intermediate_size)
    OVERRIDE("mini-batch", mini_batch_size)
    OVERRIDE("conv-kernel", conv_kernel)
    OVERRIDE("max-position", max_position_embeddings)
    OVERRIDE("kv-heads", num_key_value_heads)
#undef OVERRIDE
    if (cfg->arch == TTT_ARCH_MAMBA) { /* d_inner and dt rank follow the width */
        cfg->intermediate_size = cfg->expand * cfg->hidden_size;
        cfg->time_step_rank = (cfg->hidden_size + 15) / 16;
    }
    /* a Transformer given another head count keeps full multi-head attention unless
     * --kv-heads says otherwise */
    if (cfg->arch == TTT_ARCH_LLAMA && !args_has(a, "kv-heads") &&
        cfg->num_attention_heads % cfg->num_key_value_heads != 0)
        cfg->num_key_value_heads = cfg->num_attention_heads;
    const char *tt = args_str(a, "ttt-type", NULL);
    if (tt) {
        if (strcmp(tt, "linear") == 0) {
            cfg->ttt_layer_type = TTT_INNER_LINEAR;
            cfg->ttt_base_lr = 1.0;
        } else if (strcmp(tt, "mlp") == 0) {
            cfg->ttt_layer_type = TTT_INNER_MLP;
            cfg->ttt_base_lr = 0.1;
        } else {
            fprintf(stderr, "ttt %s: --ttt-type must be linear or mlp, got '%s'\n", cmd, tt);
            return 2;
        }
    }
    const char *bb = args_str(a, "backbone", NULL);
    if (bb) {
        if (strcmp(bb, "mamba") != 0 && strcmp(bb, "transformer") != 0) {
            fprintf(stderr, "ttt %s: --backbone must be mamba or transformer, got '%s'\n", cmd, bb);
            return 2;
        }
        cfg->pre_conv = cfg->share_qk = cfg->use_gate = strcmp(bb, "mamba") == 0;
    }
    if (args_double(a, "base-lr", cfg->ttt_base_lr, &cfg->ttt_base_lr)) return 2;
    if (args_double(a, "rope-theta", cfg->rope_theta, &cfg->rope_theta)) return 2;
    if (args_has(a, "fixed-lr-gate")) cfg->ttt_fixed_lr_gate = 1;
    if (args_has(a, "unit-token-scale")) cfg->ttt_unit_token_scale = 1;
    if (args_has(a, "untied")) cfg->tie_word_embeddings = 0;
    if (args_has(a, "tied")) cfg->tie_word_embeddings = 1;
    return 0;
}
