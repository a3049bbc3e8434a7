"""`mosaic-dse keys [SECTION]`: every config key with its type, default, allowed values and help,
read from the one place each key is declared (its dataclass field)."""

from __future__ import annotations

import argparse
from dataclasses import MISSING
from typing import Any


def register(subparsers: Any) -> None:
    """Add the `keys` parser."""
    from search.config.schema import SECTIONS

    parser = subparsers.add_parser("keys", help="list the config keys (type, default, allowed "
                                   "values, help)", description=__doc__)
    parser.add_argument("section", nargs="?", choices=SECTIONS,
                        help="one section only (default: all)")
    parser.set_defaults(func=run)


def key_lines(section: str) -> list[str]:
    """One line per key of [section]: name, type, default, allowed values, searchable, help."""
    from search.config.schema import _TYPE_WORDS, SCHEMA

    lines = [f"[{section}]"]
    for name, rule in SCHEMA[section].items():
        default = "required" if rule.default is MISSING else f"default {rule.default!r}"
        allowed = f", {rule.allowed}" if rule.allowed is not None else ""
        if isinstance(rule.allowed, tuple):
            allowed = f", one of {', '.join(rule.allowed)}"
        flags = ", searchable" if rule.searchable else ""
        lines.append(f"  {name}: {_TYPE_WORDS[rule.type]}, {default}{allowed}{flags}\n"
                     f"      {rule.help}")
    if section == "training":
        lines.append("  p1, p3, p5, ...: a number in [0, 1], searchable\n"
                     "      hop profile: target fraction of active links at hop distance d")
    return lines


def run(args: argparse.Namespace) -> int:
    """Print the keys of one or all sections."""
    from search.config.schema import SECTIONS

    for section in [args.section] if args.section else SECTIONS:
        print("\n".join(key_lines(section)))
    return 0
