"""Stand-in for transformers.activations: the activation table (ttt.py uses "silu")."""
from torch import nn

ACT2FN = {"silu": nn.SiLU(), "swish": nn.SiLU(), "gelu": nn.GELU(), "relu": nn.ReLU()}
