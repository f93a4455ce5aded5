"""The project's error hierarchy.

Every error the pipeline raises on purpose derives from :class:`L4SError`, and each subclass
also inherits the matching built-in, so callers can catch either way
(``except L4SError`` or ``except FileNotFoundError``). Messages say what was expected, what
was found, and what to change.
"""

from __future__ import annotations


class L4SError(Exception):
    """Base class of every error raised on purpose by landslide4sense."""


class ConfigError(L4SError, ValueError):
    """A region YAML or a parameter is invalid."""


class InputDataError(L4SError, ValueError):
    """A raster or vector input exists but cannot be used as it is."""


class OutdatedFileError(InputDataError):
    """A file written by an older landslide4sense, in a format this version no longer reads."""


class MissingInputError(L4SError, FileNotFoundError):
    """An input file the pipeline needs is absent."""


class SourceError(L4SError, OSError):
    """A remote source (Earth Engine, ASF, STAC) failed or answered something unusable."""


class EmptyResultError(L4SError, ValueError):
    """A stage produced nothing usable (for example, a region without a single valid tile)."""


class MissingExtraError(L4SError, ImportError):
    """An optional dependency group (a pip extra) that a command needs is not installed."""
