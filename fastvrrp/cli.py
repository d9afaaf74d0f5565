"""The `fastvrrp` command: run | check | lab | bench | status."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence


def _cmd_check(args: argparse.Namespace) -> int:
    from .config import check_command

    return check_command(args.file, sys.stdout, sys.stderr, scripts=not args.skip_scripts)


def _cmd_run(args: argparse.Namespace) -> int:
    from .daemon import serve
    from .logs import setup_logging

    setup_logging(syslog=args.syslog, debug=args.debug)
    metrics = None
    if args.metrics:
        from .metrics import parse_address

        try:
            metrics = parse_address(args.metrics)
        except ValueError as e:
            print(e, file=sys.stderr)
            return 2
    return serve(
        args.file,
        pid_file=args.pid_file,
        dump_dir=args.dump_dir,
        use_uvloop=not args.no_uvloop,
        metrics=metrics,
        control_socket=args.control_socket,
    )


def _cmd_status(args: argparse.Namespace) -> int:
    from .control import status_command

    return status_command(args.control_socket, args.json, args.watch, sys.stdout, sys.stderr)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import doctor_command

    return doctor_command(args.file, sys.stdout, sys.stderr)


def _cmd_lab(args: argparse.Namespace) -> int:
    from .lab.command import run

    return run(args)


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

    run = sub.add_parser("run", help="run the VRRP instances of a keepalived.conf in the foreground")
    run.add_argument("-f", "--file", default="/etc/keepalived/keepalived.conf")
    run.add_argument("--pid-file", help="write our pid here while running")
    run.add_argument("--dump-dir", default="/tmp", help="where SIGUSR1/SIGUSR2 write fastvrrp.data/.stats")
    run.add_argument("--syslog", action="store_true", help="log to syslog too (stderr always)")
    run.add_argument("--debug", action="store_true", help="log debug lines")
    run.add_argument("--no-uvloop", action="store_true", help="use asyncio's own event loop")
    run.add_argument("--metrics", metavar="ADDR:PORT", help="serve Prometheus metrics here (HTTP, /metrics)")
    run.add_argument("--control-socket", metavar="PATH", help="control socket (default: abstract, per namespace)")
    run.set_defaults(func=_cmd_run)

    status = sub.add_parser("status", help="ask the fastvrrp of this network namespace how its instances are")
    status.add_argument("--json", action="store_true", help="print the whole status as JSON")
    status.add_argument("--watch", type=float, nargs="?", const=1.0, metavar="SECONDS", help="refresh every SECONDS")
    status.add_argument("--control-socket", metavar="PATH", help="the daemon's --control-socket, if it was given one")
    status.set_defaults(func=_cmd_status)

    check = sub.add_parser("check", help="parse a keepalived.conf and print the model or the errors")
    check.add_argument("-f", "--file", default="/etc/keepalived/keepalived.conf")
    check.add_argument("--skip-scripts", action="store_true",
                       help="do not check the scripts on this host (a file meant for another host)")
    check.set_defaults(func=_cmd_check)

    doctor = sub.add_parser("doctor", help="find what keeps VRRP adverts out (firewall, multicast, rp_filter)")
    doctor.add_argument("-f", "--file", default="/etc/keepalived/keepalived.conf")
    doctor.set_defaults(func=_cmd_doctor)

    from .lab.command import add_arguments as add_lab_arguments

    lab = sub.add_parser("lab", help="replay the master/backup experiment in throw-away namespaces")
    add_lab_arguments(lab)
    lab.set_defaults(func=_cmd_lab)

    bench = sub.add_parser("bench", help="run a benchmark from bench/")
    bench.add_argument("what", choices=["wire", "takeover", "advert_gap", "cpu", "operations"])
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=_cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
