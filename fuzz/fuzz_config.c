/* fuzz_config.c: libFuzzer harness for the config.json reader ttt_config_load
 * (src/model/config.c). */
#include "fuzz_util.h"
#include "ttt.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t n) {
    const char *p = fuzz_file("config.json", data, n);
    ttt_config cfg;
    (void)ttt_config_load(p, &cfg);
    return 0;
}
