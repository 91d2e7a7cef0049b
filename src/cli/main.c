/* main.c: the ttt command: dispatch to subcommands, help and version. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "ttt.h"

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
    {"init", cmd_init, "create a freshly initialised model directory from a preset"},
    {"forward", cmd_forward, "run a model on token ids: logits, loss, gradients, decode"},
    {"info", cmd_info, "describe a model directory (config, parameter count, tensors)"},
    {"convert", cmd_convert, "rewrite a model's weights: one file or hub shards, bf16/f16/f32"},
    {"train", cmd_train, "train a model on token files (AdamW, cosine schedule, checkpoints, resume)"},
    {"eval", cmd_eval, "perplexity and loss by position on a token file"},
    {"generate", cmd_generate, "continue a prompt: one prefill, then token-by-token decoding"},
    {"serve", cmd_serve, "an OpenAI-compatible HTTP server with continuous batching and sessions"},
    {"bench", cmd_bench, "latency of prefill, decode and training against the machine's ceilings"},
    {"tokenize", cmd_tokenize, "text to token ids (GPT-2/tiktoken BPE or Llama-2 BPE)"},
    {"detokenize", cmd_detokenize, "token ids back to text"},
    {"data", cmd_data, "token files of every data split for one tokenizer (after make data)"},
    {"tokenizer", cmd_tokenizer, "train a BPE tokenizer on text files, write tokenizer.json (tokenizer train)"},
    {"synth", cmd_synth, "synthetic token files with a loss mask (synth mqar: associative recall)"},
};
#define N_COMMANDS (int)(sizeof commands / sizeof commands[0])

int cli_fail(const char *cmd) {
    fprintf(stderr, "ttt %s: %s\n", cmd, ttt_last_error());
    return 1;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *fp) {
    fprintf(fp,
            "ttt %s: Test-Time Training (TTT) language models in C\n\n"
            "usage: ttt <command> [flags]     (ttt <command> --help for its flags)\n\n"
            "commands:\n",
            TTT_VERSION);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "  %-10s %s\n", "help", "this message");
    fprintf(fp, "\nttt --version prints the version.\n");
}

#if defined(__SANITIZE_ADDRESS__)
/* the sanitizer build fails an impossible allocation the way the release build does (malloc
 * returns NULL and the command reports it) instead of aborting */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
#endif

/* Output that could not be written is an error: a command whose stdout is a full disk, a
 * closed pipe's file or /dev/full must not exit 0. RC is the command's status. */
static int finish_stdout(int rc) {
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "ttt: error writing standard output: %s\n", errno ? strerror(errno) : "write failed");
        return rc ? rc : 1;
    }
    return rc;
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *c = argv[1];
    if (strcmp(c, "help") == 0 || strcmp(c, "--help") == 0 || strcmp(c, "-h") == 0) {
        if (argc > 2) {
            for (int i = 0; i < N_COMMANDS; i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char help[] = "--help";
                    char *av[] = {help};
                    return commands[i].fn(1, av);
                }
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(c, "--version") == 0 || strcmp(c, "version") == 0) {
        printf("ttt %s\n", TTT_VERSION);
        return 0;
    }
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(c, commands[i].name) == 0) return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "ttt: unknown command '%s'\n\n", c);
    usage(stderr);
    return 2;
}

int main(int argc, char **argv) { return finish_stdout(dispatch(argc, argv)); }
