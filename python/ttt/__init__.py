"""ttt: Python interface to libttt (Test-Time Training language models in C) over ctypes.

    import ttt
    m = ttt.Model.load("model_dir")
    logits = m.forward(ids)                 # numpy float32 [B, L, V]
    loss, grads = m.forward_backward(ids, targets)
    for piece in m.generate("Once upon a time", max_tokens=50, seed=0):
        print(piece, end="")
    ttt.train(m, "train.tok", steps=100, seq_len=128, callback=print)

Errors of the library raise ttt.TTTError (alias ttt.Error) carrying its message
(ttt_last_error()); arguments refused before any C call raise its subclasses ArgumentError
(also a ValueError) and DTypeError (also a TypeError).

With PyTorch installed, `import ttt.torch` gives TTTLinear / TTTMLP (the authors' ttt.py
parameter names) and the autograd functions over the library's fused inner loop; it is not
imported here, so the package works without PyTorch."""
from ._lib import ArgumentError, DTypeError, TTTError, check, lib, library_path
from . import _structs  # noqa: F401  (prototypes and the struct layout check)
from .model import Cache, Model
from .tokenizer import Tokenizer
from . import tokfile
from .train import EvalResult, Progress, TrainResult, evaluate, latest_checkpoint, train

Error = TTTError  # the name for the exception

__version__ = "0.1.0"
__all__ = ["Model", "Cache", "Tokenizer", "tokfile", "train", "evaluate", "Progress", "TrainResult", "EvalResult",
           "latest_checkpoint",
           "TTTError", "Error", "ArgumentError", "DTypeError", "library_path", "__version__"]
