"""The `fastvrrp` command: run | check | lab | bench | status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def _cmd_check(args: argparse.Namespace) -> int:
    from .config import check_command

    return check_command(args.file, sys.stdout, sys.stderr)


def _cmd_bench(args: argparse.Namespace) -> int:
    repo = Path(__file__).resolve().parent.parent
    if not (repo / "bench" / f"{args.what}.py").exists():
        print(f"fastvrrp bench needs a source checkout: {repo / 'bench'} not found", file=sys.stderr)
        return 2
    sys.path.insert(0, str(repo))
    module = __import__(f"bench.{args.what}", fromlist=["main"])
    return module.main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastvrrp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="parse a keepalived.conf and print the model or the errors")
    check.add_argument("-f", "--file", default="/etc/keepalived/keepalived.conf")
    check.set_defaults(func=_cmd_check)

    bench = sub.add_parser("bench", help="run a benchmark from bench/")
    bench.add_argument("what", choices=["wire"])
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
