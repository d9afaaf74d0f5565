"""Throw-away network namespaces for the tests, the lab and the benchmarks.

Every run gets namespaces of its own, named `fv-<pid>-<token>-<role>`: the pid tells
`cleanup_stale` whether the run that made them is still alive, the token keeps two runs of one
process apart.  Routers hang off a Linux bridge that lives in a "switch" namespace, each by a
veth pair whose router end is called `em1`, as in the experiment.  Nothing is created in, or
sent from, the namespace the caller started in.

iproute2 (`ip -n NS ...`) does the plumbing: every step is a command an operator can replay by
hand, and it creates the veth peer directly inside its namespace.  Entering a namespace
in-process uses libc `setns(2)` through ctypes (`os.setns` needs Python 3.12).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import ipaddress
import logging
import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

PREFIX = "fv-"
"""Every namespace this module creates starts with it; `cleanup_stale` removes nothing else."""
SWITCH_ROLE = "sw"
BRIDGE = "br0"
ROUTER_IFNAME = "em1"
SUBNET_V4 = ipaddress.IPv4Network("10.0.201.0/24")
SUBNET_V6 = ipaddress.IPv6Network("fd00:201::/64")
NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000
_READY_TIMEOUT = 5.0

log = logging.getLogger(__name__)

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


class NetnsError(RuntimeError):
    """A namespace command failed; the message holds the command and what it printed."""


def _ip(*args: str) -> None:
    """Run one iproute2 command; its stderr becomes the error message."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")


def run_in(
    ns: str, argv: Sequence[str], *, check: bool = True, timeout: float = 10, **kwargs
) -> subprocess.CompletedProcess:
    """Run `argv` inside namespace `ns` and wait; output captured as text unless told otherwise."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    result = subprocess.run(["ip", "netns", "exec", ns, *argv], timeout=timeout, **kwargs)
    if check and result.returncode:
        raise NetnsError(f"in {ns}: {' '.join(argv)} exited {result.returncode}: {result.stderr or ''}".strip())
    return result


def popen_in(ns: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
    """Start `argv` inside namespace `ns` without waiting; the caller (or a Topology) must stop it."""
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kwargs)


def enter(ns: str) -> None:
    """Move the calling thread into namespace `ns` for good (a worker thread, a forked child).

    setns(2) with CLONE_NEWNET changes only the calling thread; sockets it creates afterwards
    belong to `ns` wherever they are used later.
    """
    _setns_path(os.path.join(NETNS_DIR, ns))


def _setns_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, _CLONE_NEWNET):
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(fd)


@contextlib.contextmanager
def entered(ns: str) -> Iterator[None]:
    """Run the body with the calling thread inside `ns`, and always come back.

    Meant for creating sockets bound to a namespace from a test or the lab: open them in the
    body, use them anywhere.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        enter(ns)
        try:
            yield
        finally:
            if _libc.setns(home, _CLONE_NEWNET):
                err = ctypes.get_errno()
                raise OSError(err, f"cannot return to the original namespace: {os.strerror(err)}")
    finally:
        os.close(home)


def list_namespaces(prefix: str = PREFIX) -> list[str]:
    """Named namespaces (those `ip netns` knows) whose name starts with `prefix`."""
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if n.startswith(prefix))


def namespace_pids(ns: str) -> list[int]:
    """Processes whose network namespace is `ns` (as `ip netns pids` reports them)."""
    result = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, timeout=10)
    return [int(p) for p in result.stdout.split()]


def _stop_pids(pids: Sequence[int], grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL whatever is still there after `grace` seconds; never ourselves."""
    pids = [p for p in pids if p != os.getpid()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        if pids:
            time.sleep(0.02)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    return True


def delete_namespace(ns: str) -> None:
    """Stop every process inside `ns`, then delete it (its veths and bridge go with it)."""
    _stop_pids(namespace_pids(ns))
    _ip("netns", "delete", ns)


def _owner_pid(ns: str, prefix: str) -> int | None:
    """The pid embedded in a name made by `Topology`, or None if the name is not ours."""
    head = ns[len(prefix) :].split("-", 1)[0]
    return int(head) if head.isdigit() else None


def cleanup_stale(prefix: str = PREFIX) -> list[str]:
    """Delete namespaces left by runs that died (killed test, crashed lab); returns their names.

    A namespace is stale when the process whose pid is in its name no longer exists; namespaces
    of runs still alive (a parallel test session) are left alone.  Each removal is logged with
    the reason, so a leftover never disappears silently.
    """
    removed = []
    for ns in list_namespaces(prefix):
        owner = _owner_pid(ns, prefix)
        if owner is None or _alive(owner):
            continue
        log.warning("removing namespace %s left behind by process %d, which is gone", ns, owner)
        delete_namespace(ns)
        removed.append(ns)
    return removed


@dataclass(frozen=True)
class Router:
    """One router namespace and its `em1` on the shared segment."""

    role: str
    ns: str
    ifname: str
    ipv4: ipaddress.IPv4Interface
    ipv6: ipaddress.IPv6Interface

    @property
    def ip(self) -> str:
        return str(self.ipv4.ip)

    @property
    def ip6(self) -> str:
        return str(self.ipv6.ip)


@dataclass
class Topology:
    """Routers on one bridge, each in its own namespace; a context manager that always cleans up.

    `Topology(["a", "b", "client"])` gives router `a` 10.0.201.1/24 and fd00:201::1/64 on `em1`,
    `b` .2 and so on.  On exit every process started with `popen` or found inside the
    namespaces is stopped and every namespace deleted, whether the body returned or raised.
    """

    roles: Sequence[str] = ("a", "b")
    prefix: str = PREFIX
    token: str = field(default_factory=lambda: secrets.token_hex(2))
    routers: dict[str, Router] = field(default_factory=dict, init=False)
    created: list[str] = field(default_factory=list, init=False)
    processes: list[subprocess.Popen] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if len(set(self.roles)) != len(self.roles) or SWITCH_ROLE in self.roles:
            raise ValueError(f"roles must be distinct and not {SWITCH_ROLE!r}")
        if any(len(f"p-{r}") > 15 for r in self.roles):
            raise ValueError("a role names a bridge port p-ROLE: at most 13 characters")
        if len(self.roles) > 250:
            raise ValueError("at most 250 routers fit in the /24")

    def name(self, role: str) -> str:
        return f"{self.prefix}{os.getpid()}-{self.token}-{role}"

    @property
    def switch(self) -> str:
        return self.name(SWITCH_ROLE)

    def __enter__(self) -> Topology:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __getitem__(self, role: str) -> Router:
        return self.routers[role]

    def _add_namespace(self, ns: str) -> None:
        _ip("netns", "add", ns)
        self.created.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def _build(self) -> None:
        sw = self.switch
        self._add_namespace(sw)
        # Snooping off: the bridge must flood ff02::12 without a querier; no STP delay either.
        _ip("-n", sw, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
        _ip("-n", sw, "link", "set", BRIDGE, "up")
        # A switch runs no firewall: where br_netfilter is loaded it would pass every bridged
        # frame through this namespace's (empty) iptables hooks, in the softirq of the sending
        # router, and a CPU benchmark would count that switch work as the sender's.
        run_in(sw, ["sh", "-c", "for f in /proc/sys/net/bridge/bridge-nf-call-*; do [ ! -e $f ] || echo 0 >$f; done"])
        for i, role in enumerate(self.roles, start=1):
            ns = self.name(role)
            self._add_namespace(ns)
            # The kernel copies `default` into a device's IPv6 settings when it appears, so
            # turning DAD off here makes em1's link-local usable the moment the link is up.
            run_in(ns, ["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0"])
            v4 = ipaddress.IPv4Interface(f"{SUBNET_V4.network_address + i}/{SUBNET_V4.prefixlen}")
            v6 = ipaddress.IPv6Interface(f"{SUBNET_V6.network_address + i}/{SUBNET_V6.prefixlen}")
            self.routers[role] = Router(role, ns, ROUTER_IFNAME, v4, v6)
            self._plug(role)
        for router in self.routers.values():
            self._wait_link_local(router.ns)

    def _plug(self, role: str) -> None:
        """Router `role`'s em1: a veth to the bridge, its addresses, up."""
        router, sw, port = self.routers[role], self.switch, f"p-{role}"
        _ip("-n", sw, "link", "add", port, "type", "veth", "peer", "name", ROUTER_IFNAME, "netns", router.ns)
        _ip("-n", sw, "link", "set", port, "master", BRIDGE, "up")
        _ip("-n", router.ns, "addr", "add", str(router.ipv4), "dev", ROUTER_IFNAME)
        _ip("-n", router.ns, "addr", "add", str(router.ipv6), "dev", ROUTER_IFNAME, "nodad")
        _ip("-n", router.ns, "link", "set", ROUTER_IFNAME, "up")

    def replug(self, role: str) -> None:
        """Delete router `role`'s em1 and make it again, same name and addresses, a new device
        (what a NIC hot-plug or a network manager rebuilding a VLAN does)."""
        _ip("-n", self.name(role), "link", "del", ROUTER_IFNAME)
        self._plug(role)
        self._wait_link_local(self.name(role))

    def _wait_link_local(self, ns: str) -> None:
        """Block until em1 has a usable (non-tentative) link-local address: sockets bind to it."""
        deadline = time.monotonic() + _READY_TIMEOUT
        while time.monotonic() < deadline:
            out = run_in(ns, ["ip", "-6", "-o", "addr", "show", "dev", ROUTER_IFNAME, "scope", "link"]).stdout
            if "fe80::" in out and "tentative" not in out:
                return
            time.sleep(0.02)
        raise NetnsError(f"{ns}: no usable link-local address on {ROUTER_IFNAME} after {_READY_TIMEOUT} s")

    def popen(self, role: str, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        """Start `argv` in router `role`'s namespace; it is stopped when the topology closes."""
        proc = popen_in(self.name(role), argv, **kwargs)
        self.processes.append(proc)
        return proc

    def run(self, role: str, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        return run_in(self.name(role), argv, **kwargs)

    def close(self) -> None:
        """Stop our processes, then delete our namespaces; report every failure at the end."""
        errors: list[str] = []
        for proc in self.processes:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(2)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.processes.clear()
        for ns in reversed(self.created):
            try:
                delete_namespace(ns)
            except (NetnsError, OSError, subprocess.SubprocessError) as e:
                errors.append(str(e))
        self.created.clear()
        if errors:
            raise NetnsError("; ".join(errors))
