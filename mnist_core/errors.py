"""Every error a person may meet, with no heavy imports: the pages' guard catches these before
torch has loaded (Home never loads it)."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration value is invalid; `field` names the offending setting."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


class DatasetError(Exception):
    """A dataset file is missing or malformed; the message names the file and the problem."""


class ModelError(ValueError):
    """Unknown model name or bad model arguments."""


class RunError(Exception):
    """A run folder or checkpoint is missing, malformed or does not match its model."""


class ImageInputError(ValueError):
    """An upload is not a usable image; the message says why."""


class HandwritingError(ValueError):
    """A sample or an imported zip is unusable; the message says why."""


class JobLimitError(RuntimeError):
    """The server runs as many jobs as it may; the message says what to do."""



class AuditError(ValueError):
    """The label audit is missing, unreadable or for other data; the message says what to do."""


class MarkError(ValueError):
    """A label mark could not be read or saved; the message says why and what to do."""


class SweepError(ValueError):
    """A sweep's space, study or storage cannot be used; the message says why."""


class StorageError(RuntimeError):
    """The storage (a database URL) cannot be used; the message says why, its password hidden."""
