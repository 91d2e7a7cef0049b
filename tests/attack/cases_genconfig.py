"""cases_genconfig.py: the attack cases of the Hugging Face model-directory files read by
`ttt generate` and the Llama loader (src/generate/gen_config.c, src/generate/chat.c,
src/model/lm_llama.c): generation_config.json, tokenizer_config.json's chat template with
--chat, and config.json's rope_scaling / head_dim / bias fields, added to the table of cases.py."""
import json
import os
import subprocess

from cases import OK, both, case, make_special

GENC = "generate --model {m32} --tokenizer {tokdir}/llama2 --prompt hi --quiet --threads 1 "


def m32(c):
    p = c.p("m32")
    subprocess.run([c.fx.ttt, "init", "--preset", "llama-tiny", "--layers", "1", "--width", "8", "--heads", "2",
                    "--intermediate", "8", "--vocab", "32000", "--out", p], capture_output=True, check=True)
    c.vars["m32"] = p


def put(name, data):
    """write NAME into the model directory m32 (bytes, str, or an object as JSON)"""
    def s(c):
        if not isinstance(data, (bytes, str)):
            text = json.dumps(data)
        else:
            text = data
        c.write("m32/" + name, text if isinstance(text, bytes) else text.encode())
    return both(m32, s)


GC = "generation_config.json"
case("genc-ok", GENC + "--max-tokens 2", OK, put(GC, {"do_sample": True, "temperature": 0.7, "top_p": 0.9,
                                                      "eos_token_id": [2, 3]}), needs="llama2", quick=True)
case("genc-not-json", GENC, r"generation_config.json", put(GC, b"{\"do_sample\": "), needs="llama2", quick=True)
case("genc-array", GENC, r"generation_config.json", put(GC, b"[]"), needs="llama2")
case("genc-dup-key", GENC, r"twice|generation_config.json", put(GC, b"{\"top_k\": 1, \"top_k\": 2}"), needs="llama2")
case("genc-do-sample-str", GENC, r"do_sample", put(GC, {"do_sample": "yes"}), needs="llama2")
case("genc-temp-neg", GENC, r"temperature", put(GC, {"do_sample": True, "temperature": -1}), needs="llama2", quick=True)
case("genc-top-k-float", GENC, r"top_k", put(GC, {"do_sample": True, "top_k": 2.5}), needs="llama2")
case("genc-top-p-zero", GENC, r"top_p", put(GC, {"do_sample": True, "top_p": 0}), needs="llama2")
case("genc-max-new-neg", GENC, r"max_new_tokens", put(GC, {"max_new_tokens": -3}), needs="llama2")
case("genc-max-length-huge", GENC, r"max_length", put(GC, {"max_length": 1e300}), needs="llama2")
case("genc-eos-range", GENC, r"eos_token_id", put(GC, {"eos_token_id": 99999999}), needs="llama2", quick=True)
case("genc-eos-empty", GENC, r"eos_token_id", put(GC, {"eos_token_id": []}), needs="llama2")
case("genc-eos-long", GENC, r"eos_token_id", put(GC, {"eos_token_id": list(range(100))}), needs="llama2")
case("genc-eos-string", GENC, r"eos_token_id", put(GC, {"eos_token_id": "</s>"}), needs="llama2")
case("genc-fifo", GENC, r"FIFO|generation_config", both(m32, lambda c: os.mkfifo(c.p("m32/" + GC))), needs="llama2")
case("genc-dir", GENC, r"directory|generation_config", both(m32, lambda c: make_special(c.p("m32/" + GC), "dir")),
     needs="llama2")

TC = "tokenizer_config.json"
CHAT = GENC + "--chat --max-tokens 1"
case("chat-none", CHAT, r"chat template|chat_template", m32, needs="llama2", quick=True)
case("chat-unknown", CHAT, r"cannot|not one|recogn", put(TC, {"chat_template": "{{ messages }}"}), needs="llama2")
case("chat-not-string", CHAT, r"chat_template", put(TC, {"chat_template": 7}), needs="llama2")
case("chat-list-no-default", CHAT, r"chat_template|default", put(TC, {"chat_template": [{"name": "x", "template": "y"}]}),
     needs="llama2")
case("chat-config-not-json", CHAT, r"tokenizer_config.json", put(TC, b"{{"), needs="llama2")
case("chat-chatml-ok", CHAT, OK, put(TC, {"chat_template": "{% for message in messages %}{{'<|im_start|>' + message['role'] "
                                               "+ '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                                               "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"}),
     needs="llama2")


def rope(value, key="rope_scaling"):
    return lambda c: c.edit_config(c.model("llama"), lambda j: j.update({key: value}))


INFO = "info --model {m}"
case("rope-yarn", INFO, r"rope_scaling|yarn", rope({"rope_type": "yarn", "factor": 2.0}), quick=True)
case("rope-factor-str", INFO, r"factor", rope({"rope_type": "linear", "factor": "2"}))
case("rope-factor-small", INFO, r"factor", rope({"rope_type": "linear", "factor": 0.5}))
case("rope-factor-nan", INFO, r"factor|JSON", lambda c: c.edit_config(c.model("llama"), lambda j: j.update(
    rope_scaling={"rope_type": "linear", "factor": float("nan")})))
case("rope-llama3-missing", INFO, r"low_freq_factor|high_freq_factor|original_max", rope({"rope_type": "llama3", "factor": 8.0}))
case("rope-llama3-order", INFO, r"low_freq_factor|high_freq_factor", rope({
    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0,
    "original_max_position_embeddings": 8192}), quick=True)
case("rope-extra-key", INFO, r"rope_scaling", rope({"rope_type": "linear", "factor": 2.0, "beta": 1}))
case("rope-types-disagree", INFO, r"type", rope({"rope_type": "linear", "type": "dynamic", "factor": 2.0}))
case("rope-not-object", INFO, r"rope_scaling", rope([1, 2]))
case("rope-ok-linear", INFO, OK, rope({"rope_type": "linear", "factor": 2.0}))
case("headdim-odd", INFO, r"head_dim", rope(3, "head_dim"))
case("headdim-negative", INFO, r"head_dim", rope(-4, "head_dim"))
case("headdim-mismatch", INFO, r"head_dim|shape|q_proj", rope(8, "head_dim"))
case("bias-not-bool", INFO, r"attention_bias", rope("yes", "attention_bias"))
case("bias-missing-tensor", INFO, r"bias", rope(True, "mlp_bias"))
case("maxpos-zero", INFO, r"max_position_embeddings", rope(0, "max_position_embeddings"))
