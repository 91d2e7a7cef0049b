# demo-settings.sh: the main job's model and training settings (sourced by scripts/demo.sh and
# scripts/bf16-train-check.sh), each overridable through the environment, e.g.
#   DEMO_STEPS=400 DEMO_WIDTH=256 make demo
STEPS=${DEMO_STEPS:-300}
LAYERS=${DEMO_LAYERS:-2}
WIDTH=${DEMO_WIDTH:-128}
HEADS=${DEMO_HEADS:-4}
INTER=${DEMO_INTERMEDIATE:-344}
SEQ=${DEMO_SEQ_LEN:-256}
BATCH=${DEMO_BATCH:-16}
LR=${DEMO_LR:-6e-3}
TOK=data/tokens/llama2
