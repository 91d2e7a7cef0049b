/* test_info.c: `ttt info`'s parameter line: the total, the embedding (rows x width, twice with a
 * separate LM head) and the rest, checked against the sums of the tensors `--tensors` lists
 * (the embedding and LM head tensors by name), for every family, tied and untied. */
#include <stdlib.h>
#include <string.h>

#include "test.h"

TEST(test_info_parameter_split) {
    static const char *const cases[][2] = {{"ttt-linear-tiny", ""}, {"ttt-mlp-tiny", ""}, {"llama-tiny", ""},
                                           {"llama-tiny", "--untied"}, {"mamba-tiny", ""}, {"ttt-linear-tiny", "--untied"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = tmp_path("info_split");
        char *out;
        EXPECT(run_cmd(&out, "rm -rf %s && %s init --preset %s %s --out %s", dir, test_ttt_bin, cases[i][0], cases[i][1],
                       dir) == 0, "%s", out);
        free(out);
        /* expected "T (tied embedding E, non-embedding N)" from the tensor list, and the line */
        EXPECT(run_cmd(&out,
                       "%s info --model %s --tensors | awk '"
                       "/^parameters:/ { line = $0; sub(/^parameters: */, \"\", line) }"
                       "/^  [^ ]+ +\\[/ { n = 1; s = $0; sub(/^[^[]*\\[/, \"\", s); sub(/\\].*/, \"\", s);"
                       "  k = split(s, d, \", \"); for (j = 1; j <= k; j++) n *= d[j]; t += n;"
                       "  if ($1 ~ /embed|lm_head/) { e += n; c++ } }"
                       "END { printf \"%%s|%%d (%%s %%d, non-embedding %%d)\\n\", line, t,"
                       "  (c > 1 ? \"embedding and LM head\" : \"tied embedding\"), e, t - e }'",
                       test_ttt_bin, dir) == 0,
               "%s", out);
        char *bar = strchr(out, '|');
        size_t nl = bar ? strcspn(bar + 1, "\n") : 0;
        EXPECT(bar && (size_t)(bar - out) == nl && strncmp(out, bar + 1, nl) == 0,
               "%s %s: the parameters line | the tensors' sums: %s", cases[i][0], cases[i][1], out);
        free(out);
    }
    return TEST_PASS;
}
