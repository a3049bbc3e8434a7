"""Options shared by the commands: --config and --set, seeds, and exact --set values."""

from __future__ import annotations

import argparse
from typing import Any


def add_config_options(parser: argparse.ArgumentParser, default: str = "default") -> None:
    """--config FILE|NAME and repeatable --set section.key=value."""
    parser.add_argument("--config", default=default,
                        help=f"TOML config file or shipped config name: default, tiny, study, "
                             f"chip (default: {default})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override one config entry, e.g. training.epochs=3 (repeatable; "
                             "`mosaic-dse keys` lists every key)")


def toml_override(key: str, value: Any) -> str:
    """A --set override that sets `key` to exactly `value` (strings TOML-escaped, so paths
    with backslashes, quotes or tabs arrive unchanged)."""
    from search.config.files import toml_value

    return f"{key}={toml_value(value)}"


def seed(text: str) -> int:
    """argparse type: an integer seed in [0, 2**32 - 1] (the samplers' range)."""
    from search.config.schema import SEED_MAX

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"must be in [0, {SEED_MAX}], got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value
