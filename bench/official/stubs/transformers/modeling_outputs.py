"""Stand-in for transformers.modeling_outputs: the two names ttt.py imports (type hints only)."""
from .utils import ModelOutput


class BaseModelOutputWithPast(ModelOutput):
    pass


class CausalLMOutputWithPast(ModelOutput):
    pass
