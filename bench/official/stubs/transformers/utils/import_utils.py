"""Stand-in for transformers.utils.import_utils: the causal_conv1d CUDA package is never
available on a CPU, so ttt.py takes its PyTorch convolution path."""


def is_causal_conv1d_available():
    return False
