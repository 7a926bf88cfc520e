"""The ``fapilog`` command (also ``python -m fapilog``); see ``docs/cli.md``.

Subcommands: ``version``, ``config``, ``doctor``, ``pretty``, ``plugins``,
``audit verify`` and ``spool inspect|drain``;
``--version``.
"""

from __future__ import annotations

import argparse
import sys

from fapilog._version import __version__
from fapilog.audit._cli import add_audit_parser, run_audit
from fapilog.cli import _config, _doctor, _plugins, _pretty, _spool


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fapilog`` command.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = argparse.ArgumentParser(prog="fapilog", description="fapilog utilities")
    parser.add_argument("--version", action="version", version=f"fapilog {__version__}")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("version", help="print the fapilog version")
    _config.add_parser(sub)
    _doctor.add_parser(sub)
    _pretty.add_parser(sub)
    _plugins.add_parser(sub)
    _spool.add_parser(sub)
    add_audit_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "config":
        return _config.run(args)
    if args.command == "doctor":
        return _doctor.run(args)
    if args.command == "pretty":
        return _pretty.run(args)
    if args.command == "plugins":
        return _plugins.run(args)
    if args.command == "spool":
        return _spool.run(args)
    if args.command == "audit":
        return run_audit(args)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
