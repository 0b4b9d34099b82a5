"""Reading a source section's options, each checked, with one line to fix a bad value (ConfigError)."""

from __future__ import annotations

from impact_miner.errors import ConfigError
from impact_miner.model import SourceSection


def flag(section: SourceSection, key: str, default: bool = False) -> bool:
    """``true`` or ``false``; anything else (``"false"`` included) is refused."""
    value = section.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"sources.{section.name}.{key} must be true or false")
    return value


def seconds(section: SourceSection, key: str, default: float, *, minimum: float) -> float:
    """A number of seconds of at least ``minimum``."""
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise ConfigError(f"sources.{section.name}.{key} must be a number of seconds ≥ {minimum:g}")
    return float(value)
