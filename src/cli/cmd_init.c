/* cmd_init.c: `ttt init`: write a freshly initialised model directory from a preset, with
 * optional overrides of individual config fields. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "ttt.h"

static const flag_spec own_flags[] = {{"out", 1},  {"seed", 1}, {"vocab", 1},
                                   {"bos", 1},       {"eos", 1},  {"dtype", 1}, {NULL, 0}};

static void help(void) {
    printf("usage: ttt init --preset NAME --out DIR [--seed N] [overrides]\n\n"
           "Writes DIR/config.json and DIR/model.safetensors, initialised as in the paper's JAX\n"
           "recipe (docs/design.md 3.4) from the seed (default 0).\n\n"
           "overrides (one that does not apply to the preset's family is an error):\n");
    model_flags_help(stdout);
    printf("  --vocab N --bos ID --eos ID\n"
           "  --dtype f32|f16|bf16        storage type of model.safetensors (default f32)\n\n"
           "presets:\n");
    const char *desc;
    for (int i = 0; ttt_preset_name(i, &desc); i++) printf("  %-20s %s\n", ttt_preset_name(i, NULL), desc);
}

int cmd_init(int argc, char **argv) {
    args a;
    flag_spec spec[96];
    if (args_parse(&a, "init", model_flags_spec(spec, 96, own_flags), argc, argv)) return 2;
    if (a.help) {
        help();
        return 0;
    }
    if (args_require(&a, "preset") || args_require(&a, "out")) return 2;
    ttt_config cfg;
    int rc = model_config_from_flags(&a, "init", &cfg);
    if (rc) return rc;
    int64_t seed, v;
    if (args_int(&a, "seed", 0, 0, INT64_MAX, &seed)) return 2;
    const int64_t MAXD = (int64_t)1 << 30;
    if (args_int(&a, "vocab", cfg.vocab_size, 1, MAXD, &v)) return 2;
    cfg.vocab_size = v;
    if (args_int(&a, "bos", cfg.bos_token_id, -1, MAXD, &v)) return 2;
    cfg.bos_token_id = v;
    if (args_int(&a, "eos", cfg.eos_token_id, -1, MAXD, &v)) return 2;
    cfg.eos_token_id = v;
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
