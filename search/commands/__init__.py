"""CLI subcommands; each module exposes `register(subparsers)`, imported lazily."""
