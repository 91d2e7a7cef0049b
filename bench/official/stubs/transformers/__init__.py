"""Stand-in for the few names of Hugging Face `transformers` that the authors' ttt.py imports
(bench/official/README.md): a config base class, the activation table, output containers, a
model base class and a logger. Only what ttt.py needs to build TTTForCausalLM, run its forward
(with and without a cache) and its backward; no downloading, no generation utilities."""


class PretrainedConfig:
    """The attributes of transformers' PretrainedConfig that ttt.py's TTTConfig and model read."""

    def __init__(self, pad_token_id=None, bos_token_id=None, eos_token_id=None, tie_word_embeddings=True, **kwargs):
        self.pad_token_id = pad_token_id
        self.bos_token_id = bos_token_id
        self.eos_token_id = eos_token_id
        self.tie_word_embeddings = tie_word_embeddings
        self.output_hidden_states = kwargs.pop("output_hidden_states", False)
        self.use_return_dict = kwargs.pop("return_dict", True)
        for k, v in kwargs.items():
            setattr(self, k, v)
