/* chat.h: `ttt generate --chat`: a prompt formatted as one user message of a chat, with the
 * assistant's turn opened, exactly as the model's Jinja chat template renders it
 * (transformers' apply_chat_template(messages, add_generation_prompt=True, tokenize=False)).
 * No Jinja engine: the common templates are recognised by their text (chat.c):
 *   llama3  ("<|start_header_id|>"): BOS + "<|start_header_id|>user<|end_header_id|>\n\n"
 *           + trim(message) + "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
 *           (Llama 3.1 and later, whose templates add a dated system block, are refused)
 *   chatml  ("<|im_start|>"): [default system block of the template] + "<|im_start|>user\n"
 *           + message + "<|im_end|>\n<|im_start|>assistant\n"
 *   zephyr  ("<|user|>" with eos_token or "</s>"): "<|user|>\n" + message + EOS + "\n<|assistant|>\n"
 * The text is then tokenized without an automatic BOS (the template writes it when it wants
 * one), its special tokens becoming their ids as in transformers. */
#ifndef TTT_GENERATE_CHAT_H
#define TTT_GENERATE_CHAT_H

#include "ttt.h"

/* Format USER with the template text TMPL; bos / eos: the tokenizer's bos_token / eos_token
 * text (nullable: an error if the template needs it). *out: malloc'd, NUL-terminated; *kind
 * (nullable): "llama3", "chatml" or "zephyr". TTT_ERR_ARG (message: why) when the template
 * is not one of these. */
ttt_status ttt_chat_format(const char *tmpl, const char *bos, const char *eos, const char *user, char **out,
                           const char **kind);

/* The same with the template of a model directory: DIR/tokenizer_config.json's "chat_template"
 * (a string, or a list of {"name", "template"}: the one named "default"), else
 * DIR/chat_template.jinja; its "bos_token" / "eos_token" (strings or {"content": ...}). */
ttt_status ttt_chat_format_dir(const char *dir, const char *user, char **out, const char **kind);

#endif
