"""Errors that carry a message meant for the user, printed by the CLI without a traceback."""


class ConfigurationError(ValueError):
    """An argument, config field or input file is invalid; the message names it and the valid values."""


class ModelUnavailableError(RuntimeError):
    """Model weights could not be found locally and could not be downloaded."""


class RunStopped(RuntimeError):
    """The run cannot go on (say, every batch's pipeline call fails): a broken setup, not one bad clip."""
