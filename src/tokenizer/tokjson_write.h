/* tokjson_write.h: writes a BPE tokenizer as a Hugging Face tokenizer.json (the format the
 * `tokenizers` library, transformers and transformers.js load) and its tokenizer_config.json.
 * Two layouts:
 *
 *   TOKJSON_BYTE_LEVEL  GPT-2 / tiktoken style byte-level BPE: no normalizer; pre_tokenizer
 *                       ByteLevel(use_regex true) when the split regex is GPT-2's own (or NULL),
 *                       otherwise Sequence[Split(Regex, Isolated, invert false),
 *                       ByteLevel(add_prefix_space false, use_regex false)]; post_processor and
 *                       decoder ByteLevel (post_processor Sequence[ByteLevel, TemplateProcessing]
 *                       when add_bos_token); model BPE without unk/byte fallback. Token strings are
 *                       in the GPT-2 byte-to-unicode alphabet (raw bytes may be given and are
 *                       mapped, see vocab_raw_bytes; the map is hf_byte_to_cp of hf.h).
 *   TOKJSON_SP_BPE      SentencePiece-style BPE with byte fallback, as Llama-2's tokenizer.json:
 *                       normalizer Sequence[Prepend "▁", Replace " " -> "▁"], no pre_tokenizer,
 *                       model BPE(byte_fallback, fuse_unk, unk_token), decoder Sequence[Replace
 *                       "▁" -> " ", ByteFallback, Fuse, Strip(" ", 1, 0)], post_processor
 *                       TemplateProcessing that prepends the BOS token (when add_bos and bos
 *                       are set; otherwise none). Token strings are UTF-8 with U+2581 for
 *                       spaces; the byte pieces are "<0x00>".."<0xFF>".
 *
 * Ids: vocab[i] is the string of id i for 0 <= i < n_ids, or NULL for an id the model vocabulary
 * does not have (a hole, or an id only a special token has). Every special token (text, id)
 * goes into added_tokens (special true, normalized false) and into model.vocab at its id; a
 * special whose id also has a vocab string must have the same string. Merges are (left id,
 * right id) pairs in rank order; each is checked: both ids have strings and the concatenation
 * is the string of some id (the `tokenizers` library refuses a file otherwise). model.vocab
 * keys must be distinct. Merges are written in the classic "left right" string form, or as
 * [left, right] arrays (tokenizers >= 0.20) when some merged string contains a space.
 *
 * The file is written atomically (temporary file + rename). Errors: TTT_ERR_ARG for an
 * inconsistent spec (naming the id / merge), TTT_ERR_IO for the file, TTT_ERR_NOMEM. */
#ifndef TTT_TOKENIZER_TOKJSON_WRITE_H
#define TTT_TOKENIZER_TOKJSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "ttt.h"

typedef enum { TOKJSON_BYTE_LEVEL = 0, TOKJSON_SP_BPE = 1 } tokjson_kind;

/* GPT-2's split regex (r50k_base); a byte-level spec with this pattern (or NULL) is written
 * with ByteLevel(use_regex true), which is the same pattern */
#define TOKJSON_GPT2_PATTERN "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

typedef struct {
    const char *text; /* UTF-8 */
    size_t len;
    int32_t id;
} tokjson_special;

typedef struct {
    tokjson_kind kind;
    int64_t n_ids;                /* ids 0 .. n_ids-1 (at most INT32_MAX) */
    const char *const *vocab;     /* [n_ids] token strings, NULL = no vocabulary entry */
    const size_t *vocab_len;      /* [n_ids] their lengths in bytes */
    int vocab_raw_bytes;          /* byte level: vocab strings are raw bytes, written through
                                     the GPT-2 byte-to-unicode map (specials are not mapped) */
    const int32_t (*merges)[2];   /* [n_merges] (left id, right id), rank order */
    int64_t n_merges;
    const tokjson_special *special; /* [n_special] */
    int n_special;
    const char *pattern;          /* byte level: the split regex (PCRE / Oniguruma syntax);
                                     NULL = GPT-2's */
    /* sp: the unknown token's text (model.unk_token; must be a vocab string); NULL = "<unk>" */
    const char *unk_token;
    /* tokenizer_config.json (and the sp post_processor): token texts or NULL */
    const char *bos_token, *eos_token, *config_unk_token, *pad_token;
    int add_bos_token;            /* sp: TemplateProcessing prepends bos_token */
    int add_eos_token;            /* recorded in tokenizer_config.json */
    int64_t model_max_length;     /* <= 0: transformers' "no limit" value (int(1e30)) */
    int ignore_merges;            /* model.ignore_merges: a piece that is a token is that token
                                     (tiktoken's rule; the `tokenizers` library >= 0.19) */
    const char *ttt_name;         /* tokenizer_config.json "ttt_tokenizer": the built-in tokenizer
                                     this file stands for ("llama2", "r50k_base"; NULL: none) */
} tokjson_spec;

/* The byte of byte-level vocabulary id i (0..255): ids ordered by that code point, as GPT-2's
 * vocabulary and the `tokenizers` trainer order their 256 byte tokens ('!' = 0 ... 'Ń' = 255). */
unsigned char tokjson_byte_of_id(int i);

/* Check the spec, then write tokenizer.json to path atomically. */
ttt_status tokjson_write(const char *path, const tokjson_spec *spec);
/* Write tokenizer_config.json (tokenizer_class "PreTrainedTokenizerFast", bos/eos/unk/pad
 * tokens, add_bos_token/add_eos_token, model_max_length, clean_up_tokenization_spaces false,
 * added_tokens_decoder of the specials) to path atomically. */
ttt_status tokjson_write_config(const char *path, const tokjson_spec *spec);

#endif
