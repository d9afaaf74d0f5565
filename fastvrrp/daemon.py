"""`fastvrrp run`: the event-loop driver around the sans-IO protocol core.

The driver is small on purpose.  Inputs (a drained socket, the timer, a link change, a signal)
go to the `VirtualRouter` of their instance; the actions it returns are carried out in order:
adverts at once on the raw socket, VIP changes and gratuitous bursts on a per-instance queue
(so netlink never delays an advert), notify scripts on another.  One timerfd, armed at the
earliest deadline of all instances, wakes the loop within tens of microseconds; adverts of
instances due together go out in one wake-up.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import heapq
import ipaddress
import logging
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from . import mmsg, scheduling, wire
from .actions import Action, AddVips, Log, RemoveVips, RunNotify, SendAdvert, SendGratuitous, StateChanged
from .advert import ADDR_LIST_ERR, AUTH_FAILURE, IP_TTL_ERR, REASONS, VRID_ERR, Expected, pack_table
from .announce import build_garp, build_unsolicited_na
from .arrival import ArrivalClock
from .checks import Checks
from .config import ConfigError, load_config
from .config_model import Config, Diagnostic, GlobalDefs, VrrpInstance
from .config_model import SyncGroup as GroupConfig
from .dumps import DATA_FILE, STATS_FILE, format_data, format_stats
from .groups import GroupMember
from .locks import AlreadyRunning, claim, instance_lock_name
from .logs import LOGGER_NAME, RateLimiter
from .notify import NotifyFifos, NotifyQueue
from .observe import ADVERT_GAP_BUCKETS, LOOP_LAG_BUCKETS, Histogram, ObservedRouter
from .protocol import BACKUP, MASTER, SyncGroup, VirtualRouter
from .repeats import ABSORBED, RepeatFilter
from .rtnl import AddressSocket
from .runtime import (
    INTERFACE_TRACK,
    SCRIPT_TRACK,
    Tracking,
    advertised_vips,
    excluded_vips,
    expected,
    source_address,
    instance_family,
    router_settings,
    tracking,
)
from .runtime import checksum_form as instance_checksum_form
from .scripts import script_problems
from .services import Services
from .sockets import (
    InterfaceError,
    PacketSocket,
    ReceiveBatch,
    VrrpSocket,
    interface_index,
    link_local_ipv6,
    primary_ipv4,
)
from .timerfd import TimerFd, WakeLead
from .vips import InterfaceGone, LinkEvent, RtnlMonitor, Vip, VipError

log = logging.getLogger(LOGGER_NAME)

REOPEN_RETRY = 1.0
"""Seconds between two attempts to start again the instances of an interface made anew."""
RELOAD_SWITCH_INTERVAL = 0.0002
"""Seconds a thread holds the GIL while another waits, during a reload's parse (default 0.005)."""
LATE_TIMER_WARNING = 0.005
"""A wake-up this late (seconds) is logged, as keepalived's "A thread timer expired"."""
READS_PER_WAKEUP = 8
"""Batches read per readiness of a socket at most (fewer when it runs dry or a timer is due)."""
CATCH_UP_BATCHES = 16
"""Batches per socket read before a backup's timer fires: a late loop's backlog, not a flood."""
PACE_RANGE = (0.001, 0.005)
"""Seconds a busy channel's adverts may wait in its socket, at least and at most (`channel_pace`)."""
SHUTDOWN_GRACE = 5.0
"""Seconds a clean stop waits for queued VIP removals before sweeping them itself."""


@dataclass
class Instance:
    """One configured instance and its runtime: router, sockets, queues."""

    config: VrrpInstance
    router: VirtualRouter
    expected: Expected
    vsock: VrrpSocket
    psock: PacketSocket
    vips: tuple[tuple[str, Vip], ...]
    """Every VIP to install, advertised and excluded, with its device."""
    destinations: tuple[bytes | None, ...]
    """None: the multicast group; else the unicast peers (packed)."""
    checksum_form: str
    key: int
    tracking: dict[str, Tracking]
    """What the instance tracks, by the core's name (`interface:em2`, `script:chk`)."""
    notify: NotifyQueue
    group_config: GroupConfig | None = None
    ops: asyncio.Queue = field(default_factory=asyncio.Queue)
    tasks: list[asyncio.Task] = field(default_factory=list)
    adverts: dict[tuple[int, int], list[tuple[bytes, bytes | None]]] = field(default_factory=dict)
    sockaddrs: dict[bytes | None, bytes] = field(default_factory=dict)
    """Each destination packed for `mmsg.send_batch`."""
    garps_sent: int = 0
    """Gratuitous ARPs / unsolicited NAs sent, frames (not bursts)."""
    first_removal: bool = True
    """No VIP removal has run yet: the next one clears what a crashed run left."""
    ops_busy: bool = False
    """The ops worker is carrying out an action (`ops` may be empty meanwhile)."""
    source: bytes = b""
    """The address our adverts come from (packed): `unicast_src_ip` / `mcast_src_ip`, else the
    interface's primary IPv4 or link-local IPv6 address."""
    control: bytes = b""
    """The IP_PKTINFO / IPV6_PKTINFO control message that puts `source` on every send."""
    repeats: RepeatFilter | None = None
    """Its channel's: the repeats of its master's advert, counted until the router is next needed."""
    vrid: int = 0
    mates: tuple[Instance, ...] = ()
    """Its sync group's members, itself included (empty outside a group): an event for one may move all."""

    @property
    def name(self) -> str:
        return self.config.name


@dataclass
class SubmittedVips:
    """An `AddVips` whose requests went to the kernel at once; the ops worker awaits the answers.

    Queued in the action's place, so that what the core asked for after it (the gratuitous
    burst) still waits for it; `requests` is filled when the requests go out.
    """

    requests: list[tuple[str, Vip, asyncio.Future[int] | VipError]] = field(default_factory=list)


@dataclass
class Channel:
    """One raw socket per (interface, family), shared by its instances, demultiplexed by VRID."""

    vsock: VrrpSocket
    by_vrid: dict[int, Instance] = field(default_factory=dict)
    table: bytes = b""
    drops: dict[str, int] = field(default_factory=dict)
    """Drops that name no instance of ours (foreign VRID, unreadable header)."""
    repeats: RepeatFilter = field(default_factory=lambda: RepeatFilter(ADVERT_GAP_BUCKETS))
    """Per VRID, the advert its core took in full while it `follows`: repeats of it are only
    counted (`Daemon._fold` hands them over)."""
    pace: float = 0.0
    """Seconds between reads while adverts keep coming (0: read each as it arrives)."""
    paced_for: int = -1
    """The `Daemon._generation` `pace` was worked out at."""
    paused: asyncio.TimerHandle | None = None
    """The next paced read, while the socket is not watched for readiness."""


def channel_pace(routers: Iterable[VirtualRouter]) -> float:
    """How long the adverts of a busy channel may wait in its socket before they are read.

    A backup hears its master's adverts every interval and none of them is urgent: each is
    stamped by the kernel on arrival, the core runs its timers from that stamp, and the
    timer reads the socket before a Master_Down deadline.  The one advert a backup must see
    before a deadline it does not know of yet is the master's priority 0, which leaves it
    Skew_Time (RFC 5798 §6.4.2): reading at half of that keeps the graceful takeover on time.
    A master reads within the upper bound, half the shortest interval (10 ms), which is soon
    enough to yield to a higher priority (§6.4.3) before its own next advert.  Reading a busy
    socket at this pace instead of on every datagram turns thousands of wake-ups a second into
    a few hundred; an idle socket still wakes the loop at once.
    """
    low, high = PACE_RANGE
    pace = high
    for router in routers:
        if router.state == BACKUP:
            pace = min(pace, router.skew_time / 2)
    return pace if pace >= low else 0.0


class Daemon:
    """Runs the instances of one keepalived.conf until a signal stops it."""

    def __init__(
        self,
        config_path: str,
        global_defs: GlobalDefs,
        *,
        pid_file: str | None = None,
        dump_dir: str = "/tmp",
        metrics: tuple[str, int] | None = None,
        control_socket: str | None = None,
    ) -> None:
        self.config_path = config_path
        self.metrics_address = metrics
        self.control_address = control_socket
        self.dump_dir = dump_dir
        self.global_defs = global_defs
        self.pid_file = pid_file
        self.instances: dict[str, Instance] = {}
        self.channels: dict[tuple[str, int], Channel] = {}
        self.packet_sockets: dict[str, PacketSocket] = {}
        self.locks: dict[str, object] = {}
        self.timer = TimerFd()
        self.batch = ReceiveBatch()
        self.arrivals = ArrivalClock()
        self.limiter = RateLimiter(1.0)
        self.timer_lag: list[float] = []
        self._heap: list[tuple[float, int]] = []
        self._pending_input = select.poll()
        """Every channel's socket: `_catch_up` asks which have packets waiting, in one call."""
        self._armed_for: float | None = None
        """The deadline the timer is armed for (it fires `_wake_at`, a little before)."""
        self._wake_at = 0.0
        self._slept_from = 0.0
        """When the timer was armed for `_wake_at`: how long a sleep its wake-up ends."""
        self._wake_takeover = False
        """Whether it was armed for a backup's Master_Down deadline (`WakeLead`'s own class)."""
        self.lead = WakeLead()
        self._scheduled: dict[int, float] = {}
        """Instance key -> the deadline its heap entry was queued at."""
        self._deadlines: dict[int, float] = {}
        """Instance key -> its core's deadline now (later than the queued one once pushed back)."""
        self._by_key: dict[int, Instance] = {}
        self._outbox: list[tuple[Instance, bytes, bytes | None]] | None = None
        """While the timer is served: adverts to send together when it is done."""
        self._held_logs: list[tuple[int, str]] | None = None
        """While the timer is served: log lines, written once its adverts and VIPs are out."""
        self._next_key = 0
        self._generation = 0
        """Bumped by whatever may change a channel's pace: transitions, priorities, a master's interval."""
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.addresses: AddressSocket | None = None
        self._prepared: tuple[Instance, list[bytes | None]] | None = None
        self.monitor: RtnlMonitor | None = None
        self.loop_lag = Histogram(LOOP_LAG_BUCKETS)
        self.started_at = time.monotonic()
        self.checks = Checks(self._on_check)
        self.group_notifies: dict[str, NotifyQueue] = {}
        self.fifos = NotifyFifos(global_defs.notify_fifos)
        self.services = Services(self)
        self._config: Config | None = None
        """What `_apply` last made the running instances of."""
        self._applying = asyncio.Lock()
        self._replaced: set[str] = set()
        """Interfaces our sockets are bound to whose device is gone (deleted, maybe made again)."""
        self._reopening: asyncio.Task | None = None

    # -- life cycle ------------------------------------------------------------------------

    async def run(self, config: Config) -> int:
        """Serve `config` (already loaded and valid) until SIGTERM/SIGINT; returns the exit status."""
        self._loop = asyncio.get_running_loop()
        self.addresses = AddressSocket(self._loop)
        self.monitor = RtnlMonitor(addresses=False, links=True)
        try:
            self._loop.add_reader(self.timer.fileno(), self._on_timer)
            self._loop.add_reader(self.monitor.fileno(), self._on_link_events)
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._loop.add_signal_handler(signum, self._stop.set)
            self._loop.add_signal_handler(signal.SIGHUP, self._reload.set)
            self._loop.add_signal_handler(signal.SIGUSR1, self._dump, DATA_FILE, format_data)
            self._loop.add_signal_handler(signal.SIGUSR2, self._dump, STATS_FILE, self._format_stats)
            self._loop.add_signal_handler(signal.SIGXCPU, self._on_rttime)
            done, refused = scheduling.apply(config.global_defs)
            for line in done:
                log.info("Process: %s", line)
            for line in refused:
                log.warning("Process: cannot set %s", line)
            # What is loaded by now lives as long as the daemon: kept out of the collector's
            # sight, a full collection (a reload's parse can set one off) costs what is new
            # since, not the 5-10 ms of every module's objects, during which no advert leaves.
            gc.collect()
            gc.freeze()
            await self._apply(config)
            gc.collect(1)  # what starting the instances left, young only: cheap
            gc.freeze()
            self._write_pid_file()
            await self.services.start()
            log.info("fastvrrp started: %d instance(s), codec %s", len(self.instances), wire.IMPLEMENTATION)
            while not self._stop.is_set():
                waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._reload.wait())]
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters:
                    waiter.cancel()
                if self._reload.is_set() and not self._stop.is_set():
                    self._reload.clear()
                    await self._reload_config()
            log.info("Stopping")
            if self._reopening is not None:
                self._reopening.cancel()
            self.services.stopping()
            self.checks.close()
            await self._stop_instances(list(self.instances.values()))
            return 0
        finally:
            self.checks.close()
            await self._sweep_vips(list(self.instances.values()))
            await self.services.close()
            self._close()

    def _close(self) -> None:
        assert self._loop is not None
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGXCPU):
            self._loop.remove_signal_handler(signum)
        self._loop.remove_reader(self.timer.fileno())
        self.timer.close()
        if self.monitor is not None:
            self._loop.remove_reader(self.monitor.fileno())
            self.monitor.close()
        for channel in self.channels.values():
            self._unwatch(channel)
            channel.vsock.close()
        for psock in self.packet_sockets.values():
            psock.close()
        for lock in self.locks.values():
            lock.close()  # type: ignore[attr-defined]
        if self.addresses is not None:
            self.addresses.close()
        self.fifos.close()
        self._remove_pid_file()

    def _on_rttime(self) -> None:
        suppressed = self.limiter.allow("rttime", time.monotonic())
        if suppressed is not None:
            log.warning(
                "Real-time CPU limit (vrrp_rlimit_rttime %d us) exceeded without blocking (%d similar suppressed)",
                self.global_defs.vrrp_rlimit_rttime_us,
                suppressed,
            )

    def _dump(self, name: str, formatter: Callable[[Iterable[VirtualRouter]], str]) -> None:
        path = os.path.join(self.dump_dir, name)
        try:
            self.fold_all()
            with open(path + ".tmp", "w") as f:
                f.write(formatter(i.router for i in self.instances.values()))
            os.replace(path + ".tmp", path)
        except OSError as e:
            log.error("cannot write %s: %s", path, e.strerror)

    def _write_pid_file(self) -> None:
        if self.pid_file:
            with open(self.pid_file, "w") as f:
                f.write(f"{os.getpid()}\n")

    def _remove_pid_file(self) -> None:
        """Only a pid file naming us: a daemon refused at start leaves the running one's alone."""
        if not self.pid_file:
            return
        try:
            with open(self.pid_file) as f:
                ours = f.read().strip() == str(os.getpid())
            if ours:
                os.unlink(self.pid_file)
        except FileNotFoundError:
            pass

    # -- configuration: start, reload, stop ------------------------------------------------

    async def _apply(self, config: Config, again: frozenset[str] = frozenset()) -> None:
        """Make the running instances those of `config`; unchanged instances are not touched,
        except those on an interface in `again` (made anew: their sockets are bound to a device
        that is gone), which start again.

        Raises ConfigError (an interface missing) or AlreadyRunning before any instance stops.

        A reload that changes nothing must not move a VIP (a known keepalived complaint): an
        instance whose configuration is equal keeps its router, state and timers.
        """
        async with self._applying:  # a reload and an interface's return, one after the other
            await self._apply_now(config, again)
        self._config = config

    async def _apply_now(self, config: Config, again: frozenset[str]) -> None:
        wanted = {inst.name: inst for inst in config.instances}
        group_of = {member: g for g in config.sync_groups for member in g.members}
        stale = [
            i
            for name, i in self.instances.items()
            if wanted.get(name) != i.config or group_of.get(name) != i.group_config or i.config.interface in again
        ]
        # A sync group moves as one: a change to any member restarts the whole group.
        changed_groups = {i.group_config.name for i in stale if i.group_config is not None}
        stopping = {i.name for i in stale}
        stale += [
            i
            for i in self.instances.values()
            if i.name not in stopping and i.group_config is not None and i.group_config.name in changed_groups
        ]
        stopping |= {i.name for i in stale}
        new = [inst for name, inst in wanted.items() if name not in self.instances or name in stopping]
        # Refused before anything stops: a missing interface, or an instance another daemon runs.
        problems = interface_problems(new)
        if problems:
            raise ConfigError(problems)
        held = {lock_name(i.config) for i in self.instances.values()}
        fresh = {inst.name: lock_name(inst) for inst in new if lock_name(inst) not in held}
        self.locks.update(zip(fresh, claim(fresh.values())))
        if stale:
            await self._stop_instances(stale)
        for ifname in again:  # bound to the device that is gone; the channels went with their instances
            psock = self.packet_sockets.pop(ifname, None)
            if psock is not None:
                psock.close()
        released = {inst.name: lock_name(inst) for inst in new if inst.name not in fresh}
        self.locks.update(zip(released, claim(released.values())))
        created = [self._create(inst, group_of.get(inst.name)) for inst in new]
        self._join_groups(created)
        self._refresh_tables()
        used = {key.removeprefix(SCRIPT_TRACK) for i in self.instances.values() for key in i.tracking}
        await self.checks.first_results(self.checks.apply(config.scripts, config.global_defs, used))
        # Every member's tracked state is in before any member starts: a group starts as one.
        now = time.monotonic()
        for instance in created:
            actions = []
            if not instance.config.dont_track_primary and not self.monitor.links.get(instance.config.interface, False):
                actions += instance.router.set_interface_state(False, now)
            for track in instance.tracking.values():
                up = self._tracked_up(track.key)
                actions += instance.router.set_track_state(track.key, track.core_state(up), now)
            self._execute(instance, actions)
        for instance in created:
            self._execute(instance, instance.router.start(now))
            self._schedule(instance)
        self._arm()

    def _join_groups(self, created: list[Instance]) -> None:
        """Put new sync group members behind one `protocol.SyncGroup` per group."""
        members: dict[str, list[Instance]] = {}
        for instance in created:
            if instance.group_config is not None:
                members.setdefault(instance.group_config.name, []).append(instance)
        for name, group_members in members.items():
            group = SyncGroup(name, [m.router for m in group_members])
            for member in group_members:
                member.router = GroupMember(member.router, group)  # type: ignore[assignment]
                member.mates = tuple(group_members)
            config = group_members[0].group_config
            self.group_notifies[name] = NotifyQueue(name, config.notifies, self.global_defs)

    def _tracked_up(self, key: str) -> bool:
        """The current state of a tracked object (before `reverse`): a link, or a check's result."""
        if key.startswith(INTERFACE_TRACK):
            return self.monitor.links.get(key.removeprefix(INTERFACE_TRACK), False)
        check = self.checks.by_name.get(key.removeprefix(SCRIPT_TRACK))
        return check is not None and check.up

    def _on_check(self, name: str, up: bool) -> None:
        """A check's debounced state changed: every instance tracking it hears of it."""
        key = SCRIPT_TRACK + name
        now = time.monotonic()
        self._generation += 1
        self.fold_all()
        for instance in list(self.instances.values()):
            track = instance.tracking.get(key)
            if track is not None:
                self._execute(instance, instance.router.set_track_state(key, track.core_state(up), now))
                self._schedule(instance)
        self._recheck_all()
        self._arm()

    def _create(self, config: VrrpInstance, group: GroupConfig | None) -> Instance:
        family = instance_family(config)
        channel = self.channels.get((config.interface, family))
        if channel is None:
            channel = Channel(VrrpSocket(config.interface, family))
            self.channels[(config.interface, family)] = channel
            self._loop.add_reader(channel.vsock.fileno(), self._on_readable, channel)
            self._pending_input.register(channel.vsock.fileno(), select.POLLIN)
        if config.interface not in self.packet_sockets:
            self.packet_sockets[config.interface] = PacketSocket(config.interface)
        peers = tuple(p.address.packed for p in config.unicast_peers)
        installed = tuple(zip((v.dev for v in config.virtual_ipaddress), advertised_vips(config))) + tuple(
            zip((v.dev for v in config.virtual_ipaddress_excluded), excluded_vips(config))
        )
        source = source_address(config, channel.vsock.source)
        instance = Instance(
            config=config,
            router=ObservedRouter(router_settings(config, source, group)),
            expected=expected(config),
            vsock=channel.vsock,
            psock=self.packet_sockets[config.interface],
            vips=installed,
            destinations=peers or (None,),
            checksum_form=instance_checksum_form(config, self.global_defs),
            key=self._next_key,
            tracking={t.key: t for t in tracking(config, group)},
            notify=NotifyQueue(config.name, config.notifies, self.global_defs),
            group_config=group,
            source=source,
            control=mmsg.control_message(*channel.vsock.source_ancillary(source)),
            repeats=channel.repeats,
            vrid=config.virtual_router_id,
        )
        self._next_key += 1
        self._generation += 1
        channel.by_vrid[config.virtual_router_id] = instance
        self.instances[config.name] = instance
        self._by_key[instance.key] = instance
        instance.tasks = [asyncio.ensure_future(self._ops_worker(instance))]
        return instance

    def _refresh_tables(self) -> None:
        for channel in self.channels.values():
            channel.table = pack_table(i.expected for i in channel.by_vrid.values())

    async def _stop_instances(self, instances: list[Instance]) -> None:
        """Clean stop: masters send priority 0 (RFC 5798 §6.4.3), every VIP goes, then the sockets."""
        now = time.monotonic()
        self.fold_all()
        for instance in instances:
            self._execute(instance, instance.router.shutdown(now))
            self._recheck(instance)
        pending = [instance.ops.join() for instance in instances]
        try:
            await asyncio.wait_for(asyncio.gather(*pending), SHUTDOWN_GRACE)
        except asyncio.TimeoutError:
            log.warning("VIP removal did not finish within %.0f s; sweeping", SHUTDOWN_GRACE)
        await self._sweep_vips(instances)
        groups = {i.group_config.name for i in instances if i.group_config is not None}
        queues = [i.notify for i in instances] + [self.group_notifies[g] for g in groups if g in self.group_notifies]
        await asyncio.gather(*(q.drain(SHUTDOWN_GRACE) for q in queues))
        for queue in queues:
            queue.close()
        for group in groups:
            self.group_notifies.pop(group, None)
        for instance in instances:
            for task in instance.tasks:
                task.cancel()
            self._forget(instance)
        self._refresh_tables()

    def _forget(self, instance: Instance) -> None:
        self.instances.pop(instance.name, None)
        self._by_key.pop(instance.key, None)
        self._scheduled.pop(instance.key, None)
        self._deadlines.pop(instance.key, None)
        lock = self.locks.pop(instance.name, None)
        if lock is not None:
            lock.close()  # type: ignore[attr-defined]
        key = (instance.config.interface, instance_family(instance.config))
        channel = self.channels.get(key)
        if channel is not None:
            channel.by_vrid.pop(instance.config.virtual_router_id, None)
            channel.repeats.drop(instance.vrid)
            if not channel.by_vrid:
                self._unwatch(channel)
                self._pending_input.unregister(channel.vsock.fileno())
                channel.vsock.close()
                del self.channels[key]

    async def _sweep_vips(self, instances: Iterable[Instance]) -> None:
        """Whatever happened before, leave none of our VIPs behind (idempotent removes)."""
        if self.addresses is None:
            return
        for instance in instances:
            for dev, vip in instance.vips:
                try:
                    await self.addresses.remove(dev, vip)
                except VipError as e:
                    log.warning("(%s) %s", instance.name, e)

    async def _reload_config(self) -> None:
        log.info("Reloading %s", self.config_path)
        # Parsed off the loop: 255 instances take 25-40 ms, long enough for backups at 10 ms to
        # take over.  The loop thread gets the GIL back within the switch interval, shortened
        # meanwhile so that an advert due waits for the parser no longer than that.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(RELOAD_SWITCH_INTERVAL)
        try:
            config, problems = await self._loop.run_in_executor(None, _load_checked, self.config_path)
        except ConfigError as e:
            for diagnostic in e.diagnostics:
                log.error("%s", diagnostic)
            log.error("Reload aborted: the running configuration is kept")
            return
        finally:
            sys.setswitchinterval(interval)
        if problems:
            for diagnostic in problems:
                log.error("%s", diagnostic)
            log.error("Reload aborted: the running configuration is kept")
            return
        previous, self.global_defs = self.global_defs, config.global_defs
        for queue in [i.notify for i in self.instances.values()] + list(self.group_notifies.values()):
            queue.global_defs = config.global_defs  # `script_user` and the like, from the next run on
        if config.global_defs.notify_fifos != previous.notify_fifos:
            # New lines go to the new FIFOs at once; the old ones' scripts read what is left and
            # are stopped off the loop (closing waits up to a second for them).
            old, self.fifos = self.fifos, NotifyFifos(config.global_defs.notify_fifos)
            await self._loop.run_in_executor(None, old.close)
        try:
            await self._apply(config)
        except ConfigError as e:
            for diagnostic in e.diagnostics:
                log.error("%s", diagnostic)
            log.error("Reload aborted: the running configuration is kept")
            return
        except AlreadyRunning as e:
            log.error("Reload aborted: %s", e)
            return
        log.info("Reload done: %d instance(s)", len(self.instances))

    # -- inputs ------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        armed, self._armed_for = self._armed_for, None
        now = time.monotonic()
        self.timer.consume()
        heap = self._heap
        due: list[Instance] = []
        sent_first: set[int] | None = None
        burst: list[tuple[Instance, bytes, bytes | None]] = []
        if armed is not None:
            # Woken a little early (`WakeLead`): wait out the rest here, not trust the wake-up.  A
            # backup whose master seems down reads what waits in its sockets meanwhile, so that
            # the check at the deadline (below) finds them empty and costs next to nothing.
            if not self._put_right(armed) or heap[0][0] > armed:
                self._arm()  # what it woke for was pushed back: nothing to wait for
                return
            first = self._by_key.get(heap[0][1])
            if first is not None and first.router.state == BACKUP:
                self._catch_up()
                if not self._put_right(armed) or heap[0][0] > armed:
                    self._arm()
                    return
                # The router hears of its master's repeats and the VIP requests are built now,
                # not after the wait: at the deadline, a takeover's advert and VIPs go first.
                self._fold(first)
                self._prepare_vips(first)
            due = self._pop_due(armed)
            if not any(instance.router.state == BACKUP for instance in due):
                # Only masters: their adverts are built now and leave at the deadline, the
                # Python of a wake-up (hundreds of µs for 255 instances) before it, not after.
                sent_first, burst = self._advert_burst(due, armed)
            now = time.monotonic()
            if self._wake_at > self._slept_from:
                # Late by the wake-up and by the work above: the next lead covers both.
                self.lead.observe(self._wake_at - self._slept_from, now - self._wake_at, self._wake_takeover)
            while now < armed:
                now = time.monotonic()
            lag = now - armed
        else:
            lag = None
        if burst:
            self._send_together(burst)
        due += self._pop_due(now)
        if any(instance.router.state == BACKUP for instance in due):
            # A backup is about to declare its master down.  If the loop was held up, the
            # master's latest adverts may be waiting in the socket: read them first, so that
            # a stall of the daemon is never mistaken for a silence of the master.
            self._catch_up()
        self._outbox, self._held_logs = [], []
        try:
            if sent_first is None:
                # Masters' periodic adverts first, in one sendmmsg, then the cores' bookkeeping:
                # what the wire sees does not wait for (nor jitter with) the Python that follows.
                sent_first, burst = self._advert_burst(due, now)
                self._send_together(burst)
            for instance in due:
                self._fold(instance)
                if instance.router.takeover_due(now):
                    actions = self._take_over(instance, now)
                else:
                    # The core runs only what is due: a deadline pushed back since it was
                    # queued (a backup that heard an advert) costs this call and nothing else.
                    actions = instance.router.handle_timer(now)
                    if instance.key in sent_first:
                        del actions[0]  # the advert, sent above (`VirtualRouter.advert_due`)
                if actions:
                    self._execute(instance, actions)
                self._schedule(instance)
                self._recheck(instance)
        finally:
            outbox, self._outbox = self._outbox, None
            held, self._held_logs = self._held_logs, None
            self._send_together(outbox)
            if held:
                # After the ops workers' next step, which puts a new master's VIPs on first.
                self._loop.call_soon(_write_logs, held)
            self._prepared = None
        if lag is not None:
            self._note_lag(lag, now)
        self._arm()

    def _pop_due(self, until: float) -> list[Instance]:
        """Take from the heap the instances whose queued deadline is at or before `until`."""
        heap, scheduled, due = self._heap, self._scheduled, []
        while heap and heap[0][0] <= until:
            deadline, key = heapq.heappop(heap)
            if scheduled.get(key) != deadline:
                continue
            del scheduled[key]
            instance = self._by_key.get(key)
            if instance is not None:
                due.append(instance)
        return due

    def _advert_burst(
        self, due: list[Instance], at: float
    ) -> tuple[set[int], list[tuple[Instance, bytes, bytes | None]]]:
        """The periodic adverts due at `at` of `due` masters outside sync groups
        (`VirtualRouter.advert_due`), for one `_send_together`, and the keys of their instances."""
        outbox, self._outbox = self._outbox, []
        keys: set[int] = set()
        try:
            for instance in due:
                router = instance.router
                if not instance.mates and router.advert_due(at):
                    self._send_advert(instance, router.effective_priority, router.settings.advert_interval_cs)
                    keys.add(instance.key)
            return keys, self._outbox
        finally:
            self._outbox = outbox

    def _take_over(self, instance: Instance, now: float) -> list[Action]:
        """Master_Down fired: our advert and the VIPs go out before the core's transition runs.

        The core promises (`VirtualRouter.takeover_due`) that the transition starts with that
        advert and those addresses; its bookkeeping, logs and notifies follow, and costs more
        than both on a cold cache.  Returns the core's actions less the two already done.
        """
        router = instance.router
        priority, interval_cs = router.effective_priority, router.settings.advert_interval_cs
        outbox, self._outbox = self._outbox, None
        try:
            self._send_advert(instance, priority, interval_cs)  # sent now, not with the outbox
        finally:
            self._outbox = outbox
        submitted = None
        if self.addresses is not None and self._ops_idle(instance):
            submitted = SubmittedVips()
            self._submit_vips(instance, submitted)
            instance.ops.put_nowait(submitted)
        rest: list[Action] = []
        advert_done, vips_done = False, submitted is None
        for action in router.handle_timer(now):
            if action.instance == instance.name:
                if not advert_done and isinstance(action, SendAdvert) and action.priority == priority:
                    advert_done = True
                    continue
                if not vips_done and isinstance(action, AddVips):
                    vips_done = True
                    continue
            rest.append(action)
        return rest

    def _catch_up(self) -> None:
        """Process every advert waiting in our sockets (a bounded number of batches each)."""
        waiting = {fd for fd, _ in self._pending_input.poll(0)}
        if not waiting:
            return
        for channel in [c for c in self.channels.values() if c.vsock.fileno() in waiting]:
            for _ in range(CATCH_UP_BATCHES):
                try:
                    if self._receive_batch(channel) < self.batch.capacity:
                        break
                except Exception:
                    log.exception("receive path failed on %s", channel.vsock.ifname)
                    break

    def _note_lag(self, lag: float, now: float) -> None:
        self.loop_lag.observe(lag)
        self.timer_lag.append(lag)
        if len(self.timer_lag) > 4096:
            del self.timer_lag[:2048]
        if lag > LATE_TIMER_WARNING:
            suppressed = self.limiter.allow("timer", now)
            if suppressed is not None:
                tail = f" ({suppressed} similar suppressed)" if suppressed else ""
                log.warning("A thread timer expired %.6f seconds ago%s", lag, tail)

    def _on_readable(self, channel: Channel) -> None:
        """The socket woke the loop: drain it, then read it at the channel's pace while busy."""
        self._drain(channel)
        if self._pace(channel):
            self._loop.remove_reader(channel.vsock.fileno())
            channel.paused = self._loop.call_later(channel.pace, self._on_paced, channel)
        self._arm()

    def _on_paced(self, channel: Channel) -> None:
        """A paced read: go on at the pace while adverts keep coming, else wait for readiness."""
        channel.paused = None
        if self._drain(channel) and self._pace(channel):
            channel.paused = self._loop.call_later(channel.pace, self._on_paced, channel)
        else:
            self._loop.add_reader(channel.vsock.fileno(), self._on_readable, channel)
        self._arm()

    def _pace(self, channel: Channel) -> float:
        if channel.paced_for != self._generation:
            channel.pace = channel_pace(i.router for i in channel.by_vrid.values())
            channel.paced_for = self._generation
        return channel.pace

    def _unwatch(self, channel: Channel) -> None:
        if channel.paused is not None:
            channel.paused.cancel()
            channel.paused = None
        else:
            self._loop.remove_reader(channel.vsock.fileno())

    def _drain(self, channel: Channel) -> int:
        """Read bounded batches; how many packets.  Nothing a peer sends may raise out of here."""
        total = 0
        try:
            # A full batch may have left more behind: reading again is cheaper than a trip
            # through the event loop -- as long as no timer is due, so that a flood cannot hold
            # our own adverts back.  A batch short of full emptied the socket.
            heap, capacity = self._heap, self.batch.capacity
            for _ in range(READS_PER_WAKEUP):
                n = self._receive_batch(channel)
                total += n
                if n < capacity or heap and heap[0][0] <= time.monotonic():
                    break
        except Exception:
            total += 1  # the socket was not idle
            suppressed = self.limiter.allow("receive", time.monotonic())
            if suppressed is not None:
                log.exception("receive path failed on %s (%d similar suppressed)", channel.vsock.ifname, suppressed)
        return total

    def _receive_batch(self, channel: Channel) -> int:
        """Drain and process one batch; how many packets it held."""
        batch = self.batch
        n = batch.drain(channel.vsock)
        if not n:
            return 0
        batch.validate(channel.table)
        read_at = time.monotonic()
        offset = self.arrivals.offset()
        # A backup's master repeats one advert every interval: the table already checked it,
        # and the bytes are those its core took last, so it may only reset the timer.  The
        # filter counts those; the core hears of them when it is next needed (`_fold`).
        repeats = channel.repeats
        if repeats.absorb(batch, offset, read_at) == n:
            return n
        arrival, stamps, results, by_vrid = self.arrivals.arrival, batch.stamps, batch.results, channel.by_vrid
        v4 = channel.vsock.family == 4
        for i, packet in enumerate(batch.packets()):
            code = results[i]
            if code == ABSORBED:
                continue
            now = arrival(stamps[i], offset, read_at)
            if code:
                self._drop(channel, i, REASONS[code - 1], now)
                continue
            message = packet[(packet[0] & 0x0F) * 4 :] if v4 else packet
            vrid = message[1]
            instance = by_vrid[vrid]
            router = instance.router
            self._fold(instance)
            if v4:
                advert = wire.parse_ipv4(packet)
            else:
                addrs = batch.addrs[32 * i : 32 * i + 32]
                advert = wire.parse_ipv6(packet, addrs[:16], addrs[16:], batch.hop_limits[i])
            # The table already ran the configuration checks; only RFC 9568's non-fatal address
            # list comparison is left (`check_advert`'s last step, without repeating the rest).
            expected_addresses = instance.expected.addresses
            listed = advert.addresses == expected_addresses or sorted(advert.addresses) == sorted(expected_addresses)
            if not listed:
                router.count(ADDR_LIST_ERR)
            self._generation += 1  # a new master, priority or interval: the pace may change
            actions = router.receive_advert(advert, advert.source, now)
            if actions:
                self._execute(instance, actions)
            self._schedule(instance)
            if listed and router.follows():
                repeats.follow(vrid, advert.source, message, now)
            else:
                repeats.forget(vrid)
            if instance.mates:
                self._recheck(instance)
        return n

    def _fold(self, instance: Instance) -> None:
        """Hand the router the repeats counted for it, before anything else reaches it.

        A sync group member's event may move the others: theirs are handed over too.
        """
        self._fold_each(instance.mates or (instance,))

    def fold_all(self) -> None:
        """Every router up to date with the repeats counted for it (before a status is read)."""
        self._fold_each(self.instances.values())

    def _fold_each(self, instances: Iterable[Instance]) -> None:
        for instance in instances:
            taken = instance.repeats.take(instance.vrid)
            if taken is not None:
                instance.router.fold_repeats(*taken)
                self._schedule(instance)

    def _recheck(self, instance: Instance) -> None:
        """After an event: stop counting repeats for a router that no longer `follows`."""
        self._recheck_each(instance.mates or (instance,))

    def _recheck_all(self) -> None:
        self._recheck_each(self.instances.values())

    @staticmethod
    def _recheck_each(instances: Iterable[Instance]) -> None:
        for instance in instances:
            if not instance.router.follows():
                instance.repeats.forget(instance.vrid)

    def _drop(self, channel: Channel, i: int, reason: str, now: float) -> None:
        """Count a rejected packet on its instance when its VRID is one of ours; log rate-limited."""
        packet = self.batch.packet(i)
        at = (packet[0] & 0x0F) * 4 + 1 if channel.vsock.family == 4 and packet else 1
        instance = channel.by_vrid.get(packet[at]) if len(packet) > at else None
        if instance is None:
            channel.drops[reason] = channel.drops.get(reason, 0) + 1
            self._log_unclaimed(channel, i, reason, packet[at] if reason == VRID_ERR else None, now)
            return
        instance.router.count(reason)
        suppressed = self.limiter.allow((instance.name, reason), now)
        if suppressed is None:
            return
        source = self._source_text(channel, i)
        if reason == IP_TTL_ERR:
            ttl = packet[8] if channel.vsock.family == 4 else self.batch.hop_limits[i]
            line = f"invalid TTL/HL from {source}. Received {ttl} and expect 255"
        elif reason == AUTH_FAILURE:
            line = f"received an invalid passwd from {source}!"
        else:
            line = f"dropped advert from {source}: {reason}"
        tail = f" ({suppressed} similar suppressed)" if suppressed else ""
        log.warning("(%s) %s%s", instance.name, line, tail)

    def _log_unclaimed(self, channel: Channel, i: int, reason: str, vrid: int | None, now: float) -> None:
        """A packet for no instance of ours: a VRID we do not run (info, with `log_unknown_vrids`),
        or one too broken to name its VRID (a warning); rate-limited as every receive error."""
        where = f"{channel.vsock.ifname} IPv{channel.vsock.family}"
        if vrid is not None:
            # Quiet unless asked (keepalived's `log_unknown_vrids`): other pairs may share the link.
            suppressed = self.limiter.allow((where, vrid), now) if self.global_defs.log_unknown_vrids else None
            if suppressed is not None:
                tail = f" ({suppressed} similar suppressed)" if suppressed else ""
                log.info("%s: advert for VRID %d from %s, which no instance here runs%s",
                         where, vrid, self._source_text(channel, i), tail)  # fmt: skip
            return
        suppressed = self.limiter.allow((where, reason), now)
        if suppressed is not None:
            tail = f" ({suppressed} similar suppressed)" if suppressed else ""
            log.warning("%s: dropped packet from %s: %s%s", where, self._source_text(channel, i), reason, tail)

    def _format_stats(self, routers: Iterable[VirtualRouter]) -> str:
        return format_stats(routers, {key: channel.drops for key, channel in self.channels.items()})

    def _source_text(self, channel: Channel, i: int) -> str:
        if channel.vsock.family == 4:
            packet = self.batch.packet(i)
            return str(ipaddress.IPv4Address(bytes(packet[12:16]))) if len(packet) >= 16 else "?"
        return str(ipaddress.IPv6Address(bytes(self.batch.addrs[32 * i : 32 * i + 16])))

    def _on_link_events(self) -> None:
        now = time.monotonic()
        self._generation += 1
        self.fold_all()
        for event in self.monitor.read():
            if not isinstance(event, LinkEvent):
                continue
            # An instance whose sockets are bound to a device that is gone stays down (FAULT)
            # until it starts again on the device now bearing the name (`_reopen`).
            up = event.up and not self._replaced_by(event)
            key = INTERFACE_TRACK + event.ifname
            for instance in list(self.instances.values()):
                actions: list[Action] = []
                if event.ifname == instance.config.interface and not instance.config.dont_track_primary:
                    actions += instance.router.set_interface_state(up, now)
                track = instance.tracking.get(key)
                if track is not None:
                    actions += instance.router.set_track_state(key, track.core_state(event.up), now)
                if actions:
                    self._execute(instance, actions)
                    self._schedule(instance)
        self._recheck_all()
        self._arm()
        if self._replaced and (self._reopening is None or self._reopening.done()):
            self._reopening = asyncio.ensure_future(self._reopen())

    def _replaced_by(self, event: LinkEvent) -> bool:
        """Whether our sockets on `event`'s interface are bound to a device that is gone."""
        bound = {channel.vsock.ifindex for (ifname, _), channel in self.channels.items() if ifname == event.ifname}
        if bound and (event.gone or event.ifindex not in bound):
            if event.ifname not in self._replaced:
                log.warning("%s: the device our sockets are bound to is gone; its instances stay in FAULT "
                            "until it is back", event.ifname)  # fmt: skip
            self._replaced.add(event.ifname)
        return event.ifname in self._replaced

    async def _reopen(self) -> None:
        """Start the instances of each replaced interface again, on the device now bearing its
        name, once it has the address adverts are sent from; until then, try again every second."""
        while self._replaced and self._config is not None:
            back = frozenset(name for name in self._replaced if self.monitor.links.get(name) is not None)
            try:
                if back:
                    await self._apply(self._config, again=back)
                    for name in back:
                        log.info("%s: its instances start again on the new device", name)
                    self._replaced -= back
            except (ConfigError, AlreadyRunning) as e:
                problems = e.diagnostics if isinstance(e, ConfigError) else [e]
                suppressed = self.limiter.allow(("reopen", back), time.monotonic())
                if suppressed is not None:
                    log.warning("%s: not yet: %s", ", ".join(sorted(back)), "; ".join(map(str, problems)))
            if self._replaced:
                await asyncio.sleep(REOPEN_RETRY)

    # -- timers --------------------------------------------------------------------------------

    def _schedule(self, instance: Instance) -> None:
        """Note the instance's next deadline; queue it if it is earlier than the one already queued.

        A later deadline (a backup's Master_Down timer pushed back by each advert) needs no heap
        work now: `_arm` moves the queued entry when it reaches the top of the heap.
        """
        key = instance.key
        deadline = instance.router.get_timer()
        if deadline is None:
            self._deadlines.pop(key, None)
            return
        self._deadlines[key] = deadline
        queued = self._scheduled.get(key)
        if queued is None or deadline < queued:
            self._scheduled[key] = deadline
            heapq.heappush(self._heap, (deadline, key))

    def _arm(self) -> None:
        """Point the timer at the earliest real deadline.

        The timer is re-armed only for an earlier deadline: one armed too early fires, finds
        nothing due and arms again, which is cheaper than a timerfd_settime(2) per received
        batch.  Before the timer is set earlier, the heap entries ahead of it are put right:
        superseded ones dropped, and those whose instance's deadline was pushed back moved to
        it, so that a backup hearing its master is not woken every Master_Down_Interval to
        find nothing due.  An empty heap leaves the timer as it is: it fires once, harmlessly.
        """
        armed = self._armed_for
        heap = self._put_right(armed)
        if heap and (armed is None or heap[0][0] < armed):
            deadline = self._armed_for = heap[0][0]
            now = self._slept_from = time.monotonic()
            first = self._by_key.get(heap[0][1])
            self._wake_takeover = first is not None and first.router.state == BACKUP
            self._wake_at = deadline - self.lead.lead(deadline - now, self._wake_takeover)
            self.timer.arm(self._wake_at)

    def _put_right(self, before: float | None) -> list[tuple[float, int]]:
        """The heap with its entries up to `before` (all, when None) put right; returns it.

        A backup's repeats counted since its router last heard of them (`Instance.repeats`)
        push its deadline back as `heard_again` would: its entry moves there, and the router
        hears of them when that deadline comes.
        """
        heap, scheduled, deadlines, by_key = self._heap, self._scheduled, self._deadlines, self._by_key
        while heap and (before is None or heap[0][0] <= before):
            queued, key = heap[0]
            if scheduled.get(key) != queued:
                heapq.heappop(heap)
                continue
            instance = by_key.get(key)
            if instance is not None and instance.repeats.heard[instance.vrid]:
                if instance.mates:
                    self._fold(instance)  # the group's deadline is its members' earliest
                else:
                    deadlines[key] = instance.router.timer_after_repeat(instance.repeats.last_at[instance.vrid])
            deadline = deadlines.get(key)
            if deadline is None:
                heapq.heappop(heap)
                del scheduled[key]
                continue
            if deadline <= queued:
                break
            scheduled[key] = deadline
            heapq.heapreplace(heap, (deadline, key))
        return heap

    # -- actions -------------------------------------------------------------------------------

    def _execute(self, instance: Instance, actions: list[Action]) -> None:
        """Carry out `actions` in order, each on the instance it names (a sync group's name others)."""
        moved: list[Instance] = []
        name = instance.name
        for action in actions:
            target = instance
            if action.instance != name or isinstance(action, RunNotify) and action.group:
                if isinstance(action, RunNotify) and action.group:
                    self.fifos.write(action)
                    self.group_notifies[action.instance].put(action)
                    continue
                target = self.instances.get(action.instance)
                if target is None:
                    continue
                moved.append(target)
            if isinstance(action, SendAdvert):
                self._send_advert(target, action.priority, action.interval_cs)
            elif isinstance(action, AddVips) and self.addresses is not None and self._ops_idle(target):
                # Nothing of this instance is queued before it: no need to wait for the worker.
                submitted = SubmittedVips()
                target.ops.put_nowait(submitted)
                if self._outbox:
                    # A takeover: its advert (queued just before) and its VIPs go out now, ahead
                    # of the rest of this wake-up's work.
                    outbox, self._outbox = self._outbox, []
                    self._send_together(outbox)
                self._submit_vips(target, submitted)
            elif isinstance(action, (AddVips, RemoveVips, SendGratuitous)):
                target.ops.put_nowait(action)
            elif isinstance(action, RunNotify):
                self.fifos.write(action)
                target.notify.put(action)
            elif isinstance(action, (StateChanged, Log)):
                if isinstance(action, StateChanged):
                    self._generation += 1
                level = action.level if isinstance(action, Log) else logging.INFO
                if self._held_logs is not None:
                    self._held_logs.append((level, action.line))
                else:
                    log.log(level, "%s", action.line)
        for other in moved:
            self._schedule(other)

    def _send_advert(self, instance: Instance, priority: int, interval_cs: int) -> None:
        messages = instance.adverts.get((priority, interval_cs))
        if messages is None:
            messages = [(self._build(instance, priority, interval_cs, dst), dst) for dst in instance.destinations]
            instance.adverts[(priority, interval_cs)] = messages
        outbox = self._outbox
        if outbox is not None:
            for message, dst in messages:
                outbox.append((instance, message, dst))
            return
        for message, dst in messages:
            self._send_one(instance, message, dst)

    def _send_one(self, instance: Instance, message: bytes, dst: bytes | None) -> None:
        try:
            instance.vsock.send_advert(message, dst, instance.source)
        except OSError as e:
            instance.router.count("advert_send_err")
            suppressed = self.limiter.allow((instance.name, "send"), time.monotonic())
            if suppressed is not None:
                log.warning("(%s) cannot send advert on %s: %s", instance.name, instance.vsock.ifname, e.strerror)

    def _send_together(self, outbox: list[tuple[Instance, bytes, bytes | None]]) -> None:
        """The adverts of one timer wake-up, one sendmmsg per socket (keepalived: one sendmsg each).

        A datagram the kernel refuses stops the batch; it is sent alone to get its error
        (counted, logged as any failed send), and the batch goes on after it.
        """
        if len(outbox) == 1:
            self._send_one(*outbox[0])
            return
        by_socket: dict[tuple[VrrpSocket, bytes], list[tuple[Instance, bytes, bytes | None]]] = {}
        for item in outbox:
            by_socket.setdefault((item[0].vsock, item[0].control), []).append(item)
        for (vsock, control), items in by_socket.items():
            messages = [message for _, message, _ in items]
            sockaddrs = [instance.sockaddrs.get(dst) or self._sockaddr(instance, dst) for instance, _, dst in items]
            start = 0
            while start < len(items):
                start += mmsg.send_batch(vsock.sock, messages[start:], sockaddrs[start:], control)
                if start < len(items):
                    self._send_one(*items[start])
                    start += 1

    @staticmethod
    def _sockaddr(instance: Instance, dst: bytes | None) -> bytes:
        packed = instance.sockaddrs.get(dst)
        if packed is None:
            vsock = instance.vsock
            address = vsock.group if dst is None else dst
            if vsock.family == 4:
                packed = mmsg.sockaddr(socket.AF_INET, address)
            else:
                scoped = address[:2] == b"\xfe\x80" or address[0] == 0xFF
                packed = mmsg.sockaddr(socket.AF_INET6, address, vsock.ifindex if scoped else 0)
            instance.sockaddrs[dst] = packed
        return packed

    def _build(self, instance: Instance, priority: int, interval_cs: int, dst: bytes | None) -> bytes:
        settings = instance.router.settings
        return wire.build_advert(
            settings.version,
            settings.vrid,
            priority,
            interval_cs,
            settings.vips,
            auth_type=instance.expected.auth_type,
            password=instance.expected.password,
            src=instance.source,
            dst=instance.vsock.group if dst is None else dst,
            checksum_form=instance.checksum_form,
        )

    async def _ops_worker(self, instance: Instance) -> None:
        """VIP changes and gratuitous bursts, in the order the core asked for them."""
        while True:
            action = await instance.ops.get()
            instance.ops_busy = True
            try:
                if isinstance(action, SubmittedVips):
                    await self._finish_vips(instance, action.requests)
                elif isinstance(action, AddVips):
                    submitted = SubmittedVips()
                    self._submit_vips(instance, submitted)
                    await self._finish_vips(instance, submitted.requests)
                elif isinstance(action, RemoveVips):
                    await self._remove_vips(instance)
                else:
                    self._send_gratuitous(instance, action)
            except Exception:  # the worker must survive anything one action does
                log.exception("(%s) %s failed", instance.name, type(action).__name__)
            finally:
                instance.ops_busy = False
                instance.ops.task_done()

    @staticmethod
    def _ops_idle(instance: Instance) -> bool:
        return not instance.ops_busy and instance.ops.empty()

    def _prepare_vips(self, instance: Instance) -> None:
        """Build `instance`'s VIP requests for `_submit_vips` in this wake-up, should it take over."""
        if self.addresses is None:
            return
        requests: list[bytes | None] = []
        for dev, vip in instance.vips:
            try:
                requests.append(self.addresses.prepare_add(dev, vip))
            except VipError:
                requests.append(None)  # raised again, and reported, if it takes over
        self._prepared = (instance, requests)

    def _submit_vips(self, instance: Instance, submitted: SubmittedVips) -> None:
        """Send every VIP addition of `instance` now, from the loop's thread (`rtnl.AddressSocket`):
        the kernel applies each within its `send`, no thread or task hop before the VIP is up."""
        prepared, self._prepared = self._prepared, None
        requests = prepared[1] if prepared is not None and prepared[0] is instance else [None] * len(instance.vips)
        addresses = self.addresses
        for (dev, vip), request in zip(instance.vips, requests):
            try:
                if request is None:
                    request = addresses.prepare_add(dev, vip)
                submitted.requests.append((dev, vip, addresses.send(request, dev, vip)))
            except VipError as e:
                submitted.requests.append((dev, vip, e))

    async def _finish_vips(self, instance: Instance, requests: list) -> None:
        for dev, vip, request in requests:
            try:
                if isinstance(request, VipError):
                    raise request
                await self.addresses.finish_add(await request, dev, vip)
            except InterfaceGone as e:
                log.warning("(%s) %s", instance.name, e)
            except VipError as e:
                log.error("(%s) %s", instance.name, e)

    async def _remove_vips(self, instance: Instance) -> None:
        """The first removal is `start()`'s: whatever it finds was left by a crash, and is said so."""
        for dev, vip in instance.vips:
            try:
                if await self.addresses.remove(dev, vip) and instance.first_removal:
                    log.info("(%s) removing leftover VIP %s on %s from an earlier run", instance.name, vip, dev)
            except InterfaceGone as e:
                log.warning("(%s) %s", instance.name, e)
            except VipError as e:
                log.error("(%s) %s", instance.name, e)
        instance.first_removal = False

    def _send_gratuitous(self, instance: Instance, action: SendGratuitous) -> None:
        if instance.router.state != MASTER:
            return  # stepped down while the burst waited behind netlink
        mac = instance.psock.mac
        frames = [
            build_garp(mac, vip) if len(vip) == 4 else build_unsolicited_na(mac, vip) for vip in action.vips
        ]
        try:
            instance.psock.send_frames(frames * action.count)
            instance.garps_sent += len(frames) * action.count
        except OSError as e:
            log.warning("(%s) cannot send gratuitous frames on %s: %s", instance.name, instance.psock.ifname, e)


def _write_logs(lines: list[tuple[int, str]]) -> None:
    for level, line in lines:
        log.log(level, "%s", line)


def _load_checked(path: str) -> tuple[Config, list[Diagnostic]]:
    """The configuration, and what its scripts would refuse (both read files: off the loop).
    Its executor thread does not share the loop's `vrrp_rt_priority` (reset on fork and clone)."""
    config = load_config(path)
    return config, script_problems(config)


def lock_name(config: VrrpInstance) -> str:
    return instance_lock_name(config.interface, instance_family(config), config.virtual_router_id)


def interface_problems(instances: Iterable[VrrpInstance]) -> list[Diagnostic]:
    """Instances whose interface is missing here or has no address to send adverts from."""
    problems = []
    for inst in instances:
        where = f"vrrp_instance {inst.name}: interface {inst.interface}"
        try:
            interface_index(inst.interface)
        except InterfaceError:
            message = f"{where} does not exist in this network namespace; create it, or write the right `interface`"
            problems.append(Diagnostic(inst.file, inst.line, "ERROR", message))
            continue
        try:
            primary_ipv4(inst.interface) if instance_family(inst) == 4 else link_local_ipv6(inst.interface)
        except InterfaceError:
            if instance_family(inst) == 4:
                message = f"{where} has no IPv4 address to send adverts from; give it one (ip address add)"
            else:
                message = f"{where} has no usable IPv6 link-local address yet (tentative, or none); wait for DAD"
            problems.append(Diagnostic(inst.file, inst.line, "ERROR", message))
    return problems


def serve(
    config_path: str,
    *,
    pid_file: str | None = None,
    dump_dir: str = "/tmp",
    use_uvloop: bool = True,
    metrics: tuple[str, int] | None = None,
    control_socket: str | None = None,
) -> int:
    """Load the configuration (failing before anything is touched), then run until stopped."""
    try:
        config = load_config(config_path)
        problems = script_problems(config) + interface_problems(config.instances)
        if problems:
            raise ConfigError(problems)
    except ConfigError as e:
        for diagnostic in e.diagnostics:
            log.error("%s", diagnostic)
        log.error("%s: configuration rejected; nothing was changed", config_path)
        return 1
    except OSError as e:
        log.error("%s: %s", config_path, e.strerror)
        return 2
    for warning in config.warnings:
        log.warning("%s", warning)

    async def main() -> int:
        daemon = Daemon(
            config_path,
            config.global_defs,
            pid_file=pid_file,
            dump_dir=dump_dir,
            metrics=metrics,
            control_socket=control_socket,
        )
        return await daemon.run(config)

    runner: Callable[..., int] = asyncio.run
    if use_uvloop:
        try:
            import uvloop

            runner = uvloop.run
        except ImportError:
            log.info("uvloop not available; using asyncio's loop")
    try:
        return runner(main())
    except ConfigError as e:  # an interface that went away since the check above
        for diagnostic in e.diagnostics:
            log.error("%s", diagnostic)
        return 1
    except AlreadyRunning as e:
        log.error("%s", e)
        return 1
