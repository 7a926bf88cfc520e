"""``fapilog`` command line: ``python -m fapilog version``, ``fapilog audit verify DIR``."""

from __future__ import annotations

import argparse
import sys

from fapilog._version import __version__
from fapilog.audit._cli import add_audit_parser, run_audit


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fapilog`` command.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(prog="fapilog", description="fapilog utilities")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print the fapilog version")
    add_audit_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "audit":
        return run_audit(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
