/* cmd_info.c: `ttt info`: describe a model directory. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "ttt.h"

static const flag_spec flags[] = {{"model", 1}, {"tensors", 0}, {NULL, 0}};

int cmd_info(int argc, char **argv) {
    args a;
    if (args_parse(&a, "info", flags, argc, argv)) return 2;
    if (a.help) {
        printf("usage: ttt info --model DIR [--tensors]\n\n"
               "Loads and checks the model directory and prints its configuration and parameter\n"
               "count; --tensors also lists every tensor with its shape.\n");
        return 0;
    }
    if (args_require(&a, "model")) return 2;
    ttt_model *m;
    if (ttt_model_load(args_str(&a, "model", ""), NULL, &m) != TTT_OK) return cli_fail("info");
    const ttt_config *c = ttt_model_config(m);
    printf("model:        %s\n", args_str(&a, "model", ""));
    if (c->arch == TTT_ARCH_LLAMA) {
        printf("type:         Transformer (Llama architecture)\n");
        printf("layers:       %lld\nwidth:        %lld\nheads:        %lld (key/value heads %lld, head dim %lld)\n",
               (long long)c->num_hidden_layers, (long long)c->hidden_size, (long long)c->num_attention_heads,
               (long long)c->num_key_value_heads, (long long)(c->hidden_size / c->num_attention_heads));
        printf("swiglu:       %lld\nvocab:        %lld\nrope_theta:   %g\nmax context:  %lld\n",
               (long long)c->intermediate_size, (long long)c->vocab_size, c->rope_theta,
               (long long)c->max_position_embeddings);
    } else if (c->arch == TTT_ARCH_MAMBA) {
        printf("type:         Mamba-1%s\n", c->mamba_ssm_format ? " (mamba_ssm format)" : "");
        printf("layers:       %lld\nwidth:        %lld\nd_inner:      %lld\nd_state:      %lld\n"
               "dt_rank:      %lld\nconv:         %lld\nvocab:        %lld (embedding rows %lld)\n",
               (long long)c->num_hidden_layers, (long long)c->hidden_size, (long long)c->intermediate_size,
               (long long)c->state_size, (long long)c->time_step_rank, (long long)c->conv_kernel,
               (long long)c->vocab_size, (long long)ttt_config_vocab_rows(c));
    } else {
        int mamba = c->pre_conv && c->share_qk && c->use_gate, tf = !c->pre_conv && !c->share_qk && !c->use_gate;
        printf("type:         TTT-%s, %s backbone\n", c->ttt_layer_type == TTT_INNER_MLP ? "MLP" : "Linear",
               mamba ? "Mamba" : tf ? "Transformer" : "custom");
        printf("layers:       %lld\nwidth:        %lld\nheads:        %lld (head dim %lld)\n",
               (long long)c->num_hidden_layers, (long long)c->hidden_size, (long long)c->num_attention_heads,
               (long long)(c->hidden_size / c->num_attention_heads));
        printf("swiglu:       %lld\nvocab:        %lld\nmini-batch:   %lld\nttt_base_lr:  %g\n",
               (long long)c->intermediate_size, (long long)c->vocab_size, (long long)c->mini_batch_size,
               c->ttt_base_lr);
        printf("pre_conv %d, share_qk %d, use_gate %d, conv_kernel %lld, tied head %d, rope_theta %g\n",
               c->pre_conv, c->share_qk, c->use_gate, (long long)c->conv_kernel, c->tie_word_embeddings,
               c->rope_theta);
    }
    if (c->tokenizer[0]) printf("tokenizer:    %s (bos %lld, eos %lld)\n", c->tokenizer, (long long)c->bos_token_id,
                                (long long)c->eos_token_id);
    printf("parameters:   %lld\n", (long long)ttt_param_numel_total(m));
    if (args_has(&a, "tensors")) {
        for (int64_t i = 0; i < ttt_param_count(m); i++) {
            int64_t sh[8];
            int nd = ttt_param_shape(m, i, sh);
            printf("  %-60s [", ttt_param_name(m, i));
            for (int k = 0; k < nd; k++) printf("%s%lld", k ? ", " : "", (long long)sh[k]);
            printf("]\n");
        }
    }
    ttt_model_free(m);
    return 0;
}
