/* utf8.h: strict UTF-8 decoding of one character (no overlong forms, no surrogates, nothing
 * above U+10FFFF), used to split text into characters for the Llama tokenizer and to check
 * tokenizer files. */
#ifndef TTT_TOKENIZER_UTF8_H
#define TTT_TOKENIZER_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length (1..4) of the valid UTF-8 character at s (n bytes available), with its code point
 * in *cp; 0 if the bytes there are not a valid character. */
int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* 1 if all n bytes are valid UTF-8. */
int utf8_valid(const unsigned char *s, size_t n);

#endif
