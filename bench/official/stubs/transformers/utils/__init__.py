"""Stand-in for transformers.utils: ModelOutput (a dataclass container indexable by position
over its non-None fields, as transformers' is) and logging.get_logger."""
import dataclasses
import logging as _logging


class ModelOutput:
    def _values(self):
        return [getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, k):
        if isinstance(k, str):
            return getattr(self, k)
        return self._values()[k]

    def get(self, k, default=None):
        return getattr(self, k, default)

    def to_tuple(self):
        return tuple(self._values())


class _Logging:
    @staticmethod
    def get_logger(name):
        log = _logging.getLogger(name)
        if not hasattr(log, "warning_once"):
            log.warning_once = log.warning
        return log


logging = _Logging()
