/* model_flags.h: the model-configuration flags that `ttt init` and `ttt train --preset` share
 * (a preset plus overrides of its sizes and options), parsed in one place so that the two
 * commands accept the same model flags with the same meaning. */
#ifndef TTT_CLI_MODEL_FLAGS_H
#define TTT_CLI_MODEL_FLAGS_H

#include "cli/args.h"
#include "ttt.h"

/* entries of a flag_spec table: every flag model_config_from_flags reads */
#define MODEL_FLAG_SPECS                                                                                    \
    {"preset", 1}, {"layers", 1}, {"width", 1}, {"heads", 1}, {"intermediate", 1}, {"mini-batch", 1},     \
        {"ttt-type", 1}, {"backbone", 1}, {"base-lr", 1}, {"conv-kernel", 1}, {"rope-theta", 1},           \
        {"max-position", 1}, {"kv-heads", 1}, {"fixed-lr-gate", 0}, {"unit-token-scale", 0}, {"untied", 0}, \
        {"tied", 0}

/* the help text of those flags (after the command's own usage lines) */
#define MODEL_FLAGS_HELP                                                                                  \
    "  --layers N --width N --heads N --intermediate N --mini-batch N\n"                                    \
    "  --ttt-type linear|mlp       inner model (sets ttt_base_lr to 1.0 / 0.1 unless --base-lr)\n"        \
    "  --backbone mamba|transformer pre_conv, share_qk and use_gate all true / all false\n"               \
    "  --base-lr X --conv-kernel N --rope-theta X\n"                                                      \
    "  --max-position N --kv-heads N (Transformer)\n"                                                     \
    "  --fixed-lr-gate --unit-token-scale  TTT ablations: the inner lr gate held at zero (every\n"         \
    "                              token steps with eta_base*sigmoid(0)/f); tau = 1 for every token\n"    \
    "  --untied | --tied           separate lm_head.weight or head tied to the embedding\n"

/* the first flag of MODEL_FLAG_SPECS other than --preset that `a` has, or NULL */
const char *model_flag_given(const args *a);

/* cfg = the preset named by --preset with the overrides applied. 0 on success; on an unknown
 * preset or a bad value prints "ttt CMD: ..." and returns nonzero (the command's exit status). */
int model_config_from_flags(const args *a, const char *cmd, ttt_config *cfg);

#endif
