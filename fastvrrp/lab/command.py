"""`fastvrrp lab`: options, the checks made before anything is built, and the run.

Everything that can make the lab fail half-way (not root, a missing tool, a bad option) is
checked first; namespaces left by a killed earlier run are removed before new ones are made;
SIGTERM and SIGHUP unwind like Ctrl-C, so the namespaces go away whatever ends the run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from ..peers import IMPLEMENTATIONS

DEFAULT_PLOT = "fastvrrp-lab.png"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--impl", help="implementations of r1,r2 (e.g. fastvrrp,keepalived); default both fastvrrp")
    parser.add_argument("--impl-r1", choices=IMPLEMENTATIONS, help="r1's implementation (the master)")
    parser.add_argument("--impl-r2", choices=IMPLEMENTATIONS, help="r2's implementation (the backup)")
    parser.add_argument(
        "--version", type=int, choices=(2, 3), default=None, help="VRRP version (default 2; 3 with --ipv6)"
    )
    parser.add_argument(
        "--interval", type=float, default=1.0, help="advert interval in seconds (default 1, as in the experiment)"
    )
    parser.add_argument("--priority-r1", type=int, default=100)
    parser.add_argument("--priority-r2", type=int, default=50)
    parser.add_argument("--ipv6", action="store_true", help="VIP fd00:201::100 (VRRPv3)")
    parser.add_argument("--firewall", choices=("iptables", "nftables"), help="default: iptables if installed")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    parser.add_argument("--plot", type=Path, default=Path(DEFAULT_PLOT), metavar="FILE", help="PNG of the run")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the configs and daemon logs here (default: removed)")


def _impls(args: argparse.Namespace) -> tuple[str, str]:
    impls = ["fastvrrp", "fastvrrp"]
    if args.impl:
        parts = [p.strip() for p in args.impl.split(",")]
        impls = parts * 2 if len(parts) == 1 else parts
    if args.impl_r1:
        impls[0] = args.impl_r1
    if args.impl_r2:
        impls[1] = args.impl_r2
    if len(impls) != 2:
        raise ValueError(f"--impl takes one or two implementations, not {args.impl!r}")
    return impls[0], impls[1]


def preflight(impls: tuple[str, str], needs: list[str]) -> list[str]:
    """Problems that would stop the lab half-way, found before anything is built."""
    problems = []
    if os.geteuid() != 0:
        problems.append("needs root: it creates network namespaces (run it with sudo, or `make demo`)")
    missing = [tool for tool in ["ip", *needs] if shutil.which(tool) is None]
    if "keepalived" in impls and shutil.which("keepalived") is None:
        missing.append("keepalived")
    if missing:
        problems.append(f"not installed: {', '.join(missing)} (scripts/bootstrap installs them)")
    return problems


def remove_stale_workdirs(tmp: Path | None = None) -> list[Path]:
    """Work directories of lab runs that were killed (their pid is gone): configs and logs."""
    from .experiment import WORKDIR_PREFIX

    removed = []
    for path in (tmp or Path(tempfile.gettempdir())).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = path.name[len(WORKDIR_PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or Path(f"/proc/{pid}").exists():
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _unwind(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> int:
    from .. import netns
    from . import report, strict_firewall
    from .experiment import Lab, LabConfig, LabError

    try:
        version = args.version or (3 if args.ipv6 else 2)
        config = LabConfig(
            impls=_impls(args), version=version, interval=args.interval,
            priorities=(args.priority_r1, args.priority_r2), ipv6=args.ipv6, firewall=args.firewall,
        )  # fmt: skip
        config.check()
    except (ValueError, LabError) as e:
        print(f"fastvrrp lab: {e}", file=sys.stderr)
        return 2
    kind = strict_firewall.choose(config.firewall, config.family)
    needs = strict_firewall.tools(kind, config.family) if kind else [config.firewall or "iptables-restore or nft"]
    problems = preflight(config.impls, needs)
    if problems:
        for problem in problems:
            print(f"fastvrrp lab: {problem}", file=sys.stderr)
        return 2
    removed = netns.cleanup_stale()
    if removed:
        print(f"removed {len(removed)} namespace(s) left by a killed run: {', '.join(removed)}", flush=True)
    remove_stale_workdirs()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _unwind)
    try:
        result = Lab(config, sys.stdout, args.workdir).run()
    except KeyboardInterrupt:
        print("fastvrrp lab: interrupted; namespaces and processes removed", file=sys.stderr)
        return 130
    except (LabError, netns.NetnsError) as e:
        print(f"fastvrrp lab: {e}; namespaces and processes removed", file=sys.stderr)
        return 1
    print()
    print(report.table(result))
    print()
    if args.json:
        report.write_json(result, args.json)
        print(f"JSON: {args.json}")
    if not args.no_plot:
        try:
            report.plot(result, args.plot)
            print(f"plot: {args.plot}")
        except ImportError:
            print("plot skipped: matplotlib is not installed (pip install 'fastvrrp[lab]')", file=sys.stderr)
    print(report.summary(result))
    return 0
