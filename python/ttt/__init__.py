"""ttt: Python interface to libttt (Test-Time Training language models in C) over ctypes."""
from ._lib import TTTError, check, lib, library_path

Error = TTTError  # the name for the exception

__version__ = "0.1.0"
__all__ = ["TTTError", "Error", "library_path", "__version__"]
