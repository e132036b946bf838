"""Errors that genlab reports to users.

Every error a user can cause (a misspelt key, a missing file, a checkpoint of another model)
is a :class:`GenlabError` whose message names the problem and the fix. The command-line tool
prints such errors as one line without a traceback.
"""


class GenlabError(Exception):
    """A problem with the user's input, files or settings; the message says how to fix it."""


class ConfigError(GenlabError, ValueError):
    """An unknown configuration key or a value of the wrong type."""


class DataError(GenlabError):
    """A missing, corrupt or unsuitable data set or file."""


class CheckpointError(GenlabError):
    """A saved model or training run that cannot be loaded as asked."""


class TrainingDiverged(GenlabError):
    """The loss became NaN or infinite during training."""


class StorageError(GenlabError):
    """A file could not be written: the disk is full or the folder is not writable."""


class RunLockedError(GenlabError):
    """Another training process holds the run folder."""


class TimeLimitExceeded(GenlabError):
    """Work ran past the time limit it was given (a server's limit per request)."""
