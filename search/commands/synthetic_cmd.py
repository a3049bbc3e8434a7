"""`mosaic-dse make-synthetic-shd DIR`: write the synthetic SHD dataset in tonic's SHD layout."""

from __future__ import annotations

import argparse
from typing import Any

from search.commands.common import positive_int, seed


def register(subparsers: Any) -> None:
    """Add the `make-synthetic-shd` parser."""
    parser = subparsers.add_parser(
        "make-synthetic-shd",
        help="write the synthetic SHD dataset (tonic layout) into a directory",
        description="Write DIR/SHD/shd_{train,test}.h5 (+ .h5.zip) in SHD's exact HDF5 format: "
        "20 classes of cochleagram-like spike patterns that differ in temporal order. Load it "
        'with [data].dataset = "shd" and [data].root = "DIR".',
    )
    parser.add_argument("directory", metavar="DIR", help="output directory (created if needed)")
    parser.add_argument("--train", type=positive_int, default=2000, metavar="N",
                        help="training samples (default 2000)")
    parser.add_argument("--test", type=positive_int, default=500, metavar="M",
                        help="test samples (default 500)")
    parser.add_argument("--seed", type=seed, default=0, metavar="S",
                        help="random seed in [0, 2**32 - 1]; same seed, same dataset (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate the files and print where they are."""
    from hardware.errors import DataError
    from model.synthetic import write_synthetic_shd

    try:
        files = write_synthetic_shd(args.directory, args.train, args.test, args.seed)
    except OSError as exc:
        raise DataError(f"cannot write the synthetic SHD into {args.directory}: {exc} "
                        "(choose a writable DIR)") from exc
    print(f"wrote {args.train} train and {args.test} test samples (seed {args.seed}):")
    for path in (files.train_h5, files.test_h5, files.train_zip, files.test_zip):
        print(f"  {path}")
    root = files.train_h5.parent.parent
    print(f'use it with [data].dataset = "shd" and [data].root = "{root}"')
    return 0
