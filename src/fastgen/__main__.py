"""Command line: ``python -m fastgen demo [NAME ...] [--out DIR] [--device cpu|cuda|auto] [--quick]``.

Argument parsing and dispatch only: the demos themselves, and their registry ``DEMOS``, live in
``fastgen.demos`` (one module per model family); ``demo`` with no names runs them all, in
registration order.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fastgen.demos import DEMOS, DemoContext

__all__ = ["DEMOS", "main"]


def _parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {d.name:<12} {d.summary}" for d in DEMOS.values())
    p = argparse.ArgumentParser(
        prog="python -m fastgen",
        description="fastgen command line.",
        epilog=f"demos:\n{listing}\n\nexample: python -m fastgen demo --out fastgen_demo --device auto",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="fit the models on the shipped data sets and compare with their peers",
                       epilog=f"demos:\n{listing}", formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("names", nargs="*", metavar="NAME", help="demos to run (default: all)")
    d.add_argument("--out", type=Path, default=Path("fastgen_demo"),
                   help="folder for the figures (default: ./fastgen_demo)")
    d.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                   help="where fastgen computes (default: cpu)")
    d.add_argument("--quick", action="store_true",
                   help="smoke run: fewer epochs, restarts and chains (seconds per demo; the numbers and "
                        "figures are not the demo's)")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command != "demo":
        parser.print_help()
        return 0
    unknown = [n for n in args.names if n not in DEMOS]
    if unknown:
        parser.error(f"unknown demo {unknown[0]!r}; choose from {', '.join(DEMOS)}")
    from fastgen import _backend
    try:
        resolved = _backend.resolve_device(args.device)
    except (RuntimeError, ValueError) as exc:
        print(f"python -m fastgen demo: {exc}", file=sys.stderr)
        return 2
    ctx = DemoContext(out=args.out, device=args.device, resolved=resolved, quick=args.quick)
    for i, name in enumerate(args.names or list(DEMOS)):
        if i:
            print()
        print(f"== {name} ==")
        DEMOS[name].run(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
