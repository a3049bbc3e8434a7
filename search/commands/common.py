"""Options shared by the commands that take a config: --config and --set."""

from __future__ import annotations

import argparse


def add_config_options(parser: argparse.ArgumentParser, default: str = "default") -> None:
    """--config FILE|NAME and repeatable --set section.key=value."""
    parser.add_argument("--config", default=default,
                        help=f"TOML config file or shipped config name: default, tiny, study "
                             f"(default: {default})")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="SECTION.KEY=VALUE",
                        help="override one config entry, e.g. training.epochs=3 (repeatable)")
