"""Stand-in for transformers.modeling_utils.PreTrainedModel: an nn.Module holding the config,
whose post_init() initialises the weights with the subclass's _init_weights and ties the
output embedding to the input embedding when the config says so (as transformers does)."""
from torch import nn


class PreTrainedModel(nn.Module):
    def __init__(self, config, *args, **kwargs):
        super().__init__()
        self.config = config

    def post_init(self):
        self.apply(self._init_weights)
        if getattr(self.config, "tie_word_embeddings", False) and hasattr(self, "get_output_embeddings"):
            out = self.get_output_embeddings()
            if out is not None:
                out.weight = self.get_input_embeddings().weight

    def _init_weights(self, module):
        pass

    @property
    def device(self):
        return next(self.parameters()).device

    @property
    def dtype(self):
        return next(self.parameters()).dtype
