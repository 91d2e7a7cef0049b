/* cmd_tokenize.c: `ttt tokenize` and `ttt detokenize` (placeholder until the tokenizer
 * module lands). */
#include <stdio.h>

#include "cli/commands.h"

int cmd_tokenize(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "ttt tokenize: not implemented yet\n");
    return 1;
}

int cmd_detokenize(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "ttt detokenize: not implemented yet\n");
    return 1;
}
