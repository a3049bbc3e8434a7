"""Project-wide error types: each also inherits the matching builtin.

The CLI catches `MosaicDSEError`, prints its one-line message and exits 2; anything else is a bug.
"""

from __future__ import annotations


class MosaicDSEError(Exception):
    """Base class of every error caused by bad input or misuse (not by a bug)."""


class SpecError(MosaicDSEError, ValueError):
    """An invalid chip specification (sizes, capacities)."""


class LinksError(MosaicDSEError, ValueError):
    """A connectivity matrix or hop profile of the wrong shape, dtype or range."""


class ConfigError(MosaicDSEError, ValueError):
    """An invalid configuration file or override."""


class DataError(MosaicDSEError, FileNotFoundError):
    """A missing or malformed dataset or cache file."""


class ResultsError(MosaicDSEError, ValueError):
    """A missing or malformed results directory / Parquet file."""


class SearchStopped(MosaicDSEError, RuntimeError):
    """A search that cannot go on as configured (e.g. every suggestion is infeasible)."""
