"""Errors that carry a message meant for the user, printed by the CLI without a traceback."""


class ConfigurationError(ValueError):
    """An argument, config field or input file is invalid; the message names it and the valid values."""


class ModelUnavailableError(RuntimeError):
    """Model weights could not be found locally and could not be downloaded."""


class RunStopped(RuntimeError):
    """The run cannot go on (say, every batch's pipeline call fails): a broken setup, not one bad clip."""


def disk_full(error: BaseException | None) -> OSError | None:
    """The "no space left" (or over quota) error behind ``error``, if that is what it comes down to."""
    import errno

    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return error
        error = error.__cause__ or error.__context__
    return None
