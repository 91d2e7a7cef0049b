/* json.h: reading a JSON file, and checks on parsed JSON (libcjson) that the library leaves to
 * its caller. */
#ifndef TTT_IO_JSON_H
#define TTT_IO_JSON_H

#include <cjson/cJSON.h>

#include "ttt.h"

/* Fail when any object at any depth of ROOT holds the same key twice. libcjson keeps every
 * member and its lookups return the first, while Python's json and Hugging Face keep the last,
 * so a duplicate would make the two read different models. The message names FILE, the key
 * and the path of the object that holds it (e.g. "__metadata__" or "ssm_cfg").
 * In the one object at path SAME_OBJ (NULL: none), a key repeated with the same string value
 * is accepted: every reader gets that value (the training states of earlier versions of this
 * project repeat "seed" in their __metadata__ that way). */
ttt_status ttt_json_check_unique(const cJSON *root, const char *file, const char *same_obj);

/* Read the JSON file PATH (at most max_bytes, a regular file) into *out: one top-level object
 * with no duplicate key anywhere, nothing after it. Errors (code `code` for what the file
 * says, I/O errors as such) name the file and, for bad JSON, the byte near which it broke.
 * The caller frees *out with cJSON_Delete. */
ttt_status ttt_json_load(const char *path, size_t max_bytes, ttt_status code, cJSON **out);
/* The same for text[0, len) already read from PATH (text[len] must be NUL, as ttt_read_file
 * leaves it); PATH only names it in messages. */
ttt_status ttt_json_parse(const char *text, size_t len, const char *path, ttt_status code, cJSON **out);

#endif
