"""_lib.py: finds and loads libttt.so with ctypes, declares the prototypes the package uses and
turns a non-zero ttt_status into a Python exception carrying ttt_last_error().

Where the library is looked for, in this order:
  1. the environment variable TTT_LIB (a path to libttt.so);
  2. a libttt.so shipped inside the installed package (ttt/libttt.so, copied by `make python`
     or by pip when python/ttt/libttt.so exists at build time);
  3. build/libttt.so of the repository when the package is imported from a checkout
     (python/ttt/ -> ../../build/libttt.so);
  4. the system library installed by `make install` (ctypes.util.find_library("ttt"), then
     /usr/local/lib/libttt.so and /usr/lib/libttt.so).

ctypes.CDLL calls release the GIL for the duration of each C call, so other Python threads run
while a long forward or training step is in progress.

Other modules add their own prototypes on `lib` (e.g. `lib.ttt_foo.argtypes = [...]`) and wrap
calls returning a ttt_status in `check(...)`.
"""
import ctypes
import ctypes.util
import os

__all__ = ["lib", "check", "TTTError", "library_path", "STATUS_NAMES"]

# ttt_status (include/ttt.h)
STATUS_NAMES = {
    0: "TTT_OK",
    1: "TTT_ERR_IO",
    2: "TTT_ERR_FORMAT",
    3: "TTT_ERR_CONFIG",
    4: "TTT_ERR_ARG",
    5: "TTT_ERR_NOMEM",
    6: "TTT_ERR_NUMERIC",
}


class TTTError(RuntimeError):
    """A libttt call failed. `status` is the ttt_status code (int), `status_name` its name
    ("TTT_ERR_IO", ...), and str(err) the library's message (ttt_last_error())."""

    def __init__(self, message, status=4):
        super().__init__(message)
        self.status = int(status)
        self.status_name = STATUS_NAMES.get(self.status, "TTT_ERR_%d" % self.status)


def _candidates():
    env = os.environ.get("TTT_LIB")
    if env:
        # TTT_LIB is explicit: use it or fail, never fall back silently
        return [("TTT_LIB", env)]
    here = os.path.dirname(os.path.abspath(__file__))
    out = [("package", os.path.join(here, "libttt.so"))]
    repo = os.path.dirname(os.path.dirname(here))
    if os.path.isfile(os.path.join(repo, "include", "ttt.h")):
        out.append(("checkout", os.path.join(repo, "build", "libttt.so")))
    found = ctypes.util.find_library("ttt")
    if found:
        out.append(("system", found))
    for d in ("/usr/local/lib", "/usr/lib"):
        out.append(("system", os.path.join(d, "libttt.so")))
    return out


def _load():
    tried = []
    for origin, path in _candidates():
        if origin != "system" or os.path.sep in path:
            if not os.path.isfile(path):
                tried.append("%s (%s: not found)" % (path, origin))
                continue
        try:
            return ctypes.CDLL(path), path
        except OSError as e:
            tried.append("%s (%s: %s)" % (path, origin, e))
            if origin == "TTT_LIB":
                break
    raise ImportError("ttt: cannot load libttt.so; tried: " + "; ".join(tried) +
                      ". Build it with `make lib` (or `make python`) or set TTT_LIB=/path/to/libttt.so")


lib, library_path = _load()

lib.ttt_last_error.argtypes = []
lib.ttt_last_error.restype = ctypes.c_char_p


def last_error():
    """The library's message of the last failure on this thread ("" if none)."""
    msg = lib.ttt_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def check(status, what=None):
    """Raise TTTError(ttt_last_error()) if `status` (a ttt_status returned by a call) is not
    TTT_OK; return None otherwise. `what` (optional) prefixes the message with the call's name."""
    status = int(status)
    if status != 0:
        msg = last_error() or STATUS_NAMES.get(status, "error %d" % status)
        if what:
            msg = "%s: %s" % (what, msg)
        raise TTTError(msg, status)


class ArgumentError(TTTError, ValueError):
    """A bad argument refused on the Python side before any C call (wrong shape, id out of
    range, bad option value): a TTTError (status TTT_ERR_ARG) and a ValueError."""

    def __init__(self, message):
        super().__init__(message, 4)


class DTypeError(TTTError, TypeError):
    """An array of the wrong dtype (refused, never reinterpreted): a TTTError and a TypeError."""

    def __init__(self, message):
        super().__init__(message, 4)
