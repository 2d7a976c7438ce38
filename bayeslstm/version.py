"""The package version, in one place (reports and the command line read it too)."""

__version__ = "0.1.0"
