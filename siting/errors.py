"""Exceptions users catch. Every message names the input, the problem and the fix."""

from __future__ import annotations


class SitingError(Exception):
    """Base class for every error `siting` raises on purpose."""


class ConfigError(SitingError):
    """A study setting is missing, unknown or out of range."""


class InputDataError(SitingError):
    """An input file is missing, malformed, empty or unusable."""


class CRSError(InputDataError):
    """Geometry has no CRS, or one that cannot be reprojected."""


class RoutingError(SitingError):
    """The street graph cannot connect what was asked."""


class OutputError(SitingError):
    """The output folder cannot be created or written."""


class ArgumentError(SitingError, TypeError):
    """An API function was given an argument of the wrong type (also a TypeError)."""
