# demo-settings.sh: the main job's model and training settings (sourced by scripts/demo.sh and
# scripts/bf16-train-check.sh), each overridable through the environment, e.g.
#   DEMO_STEPS=400 DEMO_WIDTH=256 make demo
# The vocabulary is the 4096-id byte-level BPE trained on the training split (make data-bpe):
# at width 192 the Llama-2 vocabulary's 32000 rows would be most of the model and of its cost.
# The main job before issue 20 was DEMO_VOCAB=llama2 DEMO_LAYERS=2 DEMO_WIDTH=128
# DEMO_INTERMEDIATE=344 DEMO_STEPS=300 (the Llama-2 tokenizer of make data).
STEPS=${DEMO_STEPS:-1500}
LAYERS=${DEMO_LAYERS:-3}
WIDTH=${DEMO_WIDTH:-192}
HEADS=${DEMO_HEADS:-4}
INTER=${DEMO_INTERMEDIATE:-512}
SEQ=${DEMO_SEQ_LEN:-256}
BATCH=${DEMO_BATCH:-16}
LR=${DEMO_LR:-6e-3}
VOCAB=${DEMO_VOCAB:-4096}
case $VOCAB in
llama2) TOKENIZER=data/tok/llama2 TOK=data/tokens/llama2 ;;
*) TOKENIZER=data/tok/bpe$VOCAB TOK=data/tokens/bpe$VOCAB ;;
esac
