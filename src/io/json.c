/* json.c: reading a JSON file, and the duplicate-key check over a parsed cJSON tree (see
 * json.h). */
#include "io/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/fsutil.h"

static int cmp_key(const void *a, const void *b) {
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

/* PATH is the dotted path of OBJ ("" for the top level). The depth of the recursion is
 * bounded by libcjson's nesting limit (CJSON_NESTING_LIMIT). */
static ttt_status check(const cJSON *obj, const char *file, const char *path, const char *same_obj) {
    int same_ok = same_obj && strcmp(path, same_obj) == 0;
    if (cJSON_IsObject(obj)) {
        int n = 0;
        for (const cJSON *it = obj->child; it; it = it->next) n++;
        if (n > 1) {
            const cJSON **ord = malloc(sizeof *ord * (size_t)n);
            if (!ord) return ttt_err(TTT_ERR_NOMEM, "%s: out of memory checking JSON keys", file);
            int i = 0;
            for (const cJSON *it = obj->child; it; it = it->next) ord[i++] = it;
            qsort(ord, (size_t)n, sizeof *ord, cmp_key);
            for (i = 1; i < n; i++)
                if (strcmp(ord[i - 1]->string, ord[i]->string) == 0 &&
                    !(same_ok && cJSON_IsString(ord[i - 1]) && cJSON_IsString(ord[i]) &&
                      strcmp(ord[i - 1]->valuestring, ord[i]->valuestring) == 0)) {
                    ttt_status s = ttt_err(
                        TTT_ERR_FORMAT,
                        "%s: duplicate key \"%s\" in %s%s%s (each key may appear once; readers "
                        "disagree on which copy wins)",
                        file, ord[i]->string, *path ? "object \"" : "the top-level object",
                        path, *path ? "\"" : "");
                    free(ord);
                    return s;
                }
            free(ord);
        }
    }
    if (!cJSON_IsObject(obj) && !cJSON_IsArray(obj)) return TTT_OK;
    int idx = 0;
    for (const cJSON *it = obj->child; it; it = it->next, idx++) {
        if (!cJSON_IsObject(it) && !cJSON_IsArray(it)) continue;
        char sub[256];
        int k = cJSON_IsObject(obj) ? snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", it->string)
                                    : snprintf(sub, sizeof sub, "%s[%d]", path, idx);
        if (k < 0 || (size_t)k >= sizeof sub) snprintf(sub + sizeof sub - 4, 4, "..."); /* shown cut */
        TRY(check(it, file, sub, same_obj));
    }
    return TTT_OK;
}

ttt_status ttt_json_check_unique(const cJSON *root, const char *file, const char *same_obj) {
    return check(root, file, "", same_obj);
}

ttt_status ttt_json_load(const char *path, size_t max_bytes, ttt_status code, cJSON **out) {
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    TRY(ttt_read_file(path, max_bytes, &text, &len));
    ttt_status s = ttt_json_parse(text, len, path, code, out);
    free(text);
    return s;
}

ttt_status ttt_json_parse(const char *text, size_t len, const char *path, ttt_status code, cJSON **out) {
    *out = NULL;
    const char *endp = NULL;
    /* length includes the terminating NUL, which cJSON requires when checking for trailing bytes */
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &endp, 1);
    long at = endp ? (long)(endp - text) : -1L;
    if (!root) return ttt_err(code, "%s: not valid JSON (error near byte %ld)", path, at);
    ttt_status s = cJSON_IsObject(root) ? ttt_json_check_unique(root, path, NULL)
                                        : ttt_err(code, "%s: expected a JSON object", path);
    if (s != TTT_OK) {
        cJSON_Delete(root);
        return s;
    }
    *out = root;
    return TTT_OK;
}
