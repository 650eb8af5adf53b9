"""vtrail: a flight recorder and triage desk for virtualized infrastructure."""

__version__ = "0.1.0"
