"""The daemon's process settings from `global_defs`: keepalived's vrrp_priority, vrrp_rt_priority,
vrrp_rlimit_rttime, vrrp_no_swap and vrrp_cpu_affinity.

On a busy machine a takeover is as late as the daemon waits for a CPU; these let an operator
put it ahead of the rest, as they do for keepalived's VRRP process.  Applied once at start
(a reload does not change them).  A setting the kernel refuses is logged, and the daemon runs
on without it: failing over late beats not failing over.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource

from .config_model import GlobalDefs

MCL_CURRENT, MCL_FUTURE = 1, 2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def apply(defs: GlobalDefs) -> tuple[list[str], list[str]]:
    """Apply the settings to this process (the event loop's thread for the real-time policy).

    Returns (what was applied, what was refused), as log lines.
    """
    done: list[str] = []
    refused: list[str] = []

    def attempt(text: str, action) -> None:
        try:
            action()
        except OSError as e:
            refused.append(f"{text}: {e.strerror or e}")
        else:
            done.append(text)

    if defs.vrrp_priority is not None:
        nice = defs.vrrp_priority
        attempt(f"nice {nice} (vrrp_priority)", lambda: os.setpriority(os.PRIO_PROCESS, 0, nice))
    if defs.vrrp_cpu_affinity:
        cpus = ",".join(map(str, defs.vrrp_cpu_affinity))
        attempt(f"CPUs {cpus} (vrrp_cpu_affinity)", lambda: os.sched_setaffinity(0, defs.vrrp_cpu_affinity))
    if defs.vrrp_no_swap:
        attempt("memory locked (vrrp_no_swap)", _lock_memory)
    if defs.vrrp_rt_priority is not None:
        limit = defs.vrrp_rlimit_rttime_us
        # Soft limit: SIGXCPU, which the daemon logs; hard limit, twice that: the kernel kills a
        # real-time loop that never blocks rather than let it starve the machine.
        attempt(
            f"RLIMIT_RTTIME {limit} us (vrrp_rlimit_rttime)",
            lambda: resource.setrlimit(resource.RLIMIT_RTTIME, (limit, 2 * limit)),
        )
        attempt(
            f"SCHED_RR priority {defs.vrrp_rt_priority} (vrrp_rt_priority)",
            # Reset on fork, as keepalived does: a notify or check script must not run real-time.
            lambda: os.sched_setscheduler(
                0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(defs.vrrp_rt_priority)
            ),
        )
    return done, refused


def _lock_memory() -> None:
    if _libc.mlockall(MCL_CURRENT | MCL_FUTURE) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
