"""From a configured `vrrp_instance` to what each layer needs: protocol settings, codec
expectations and the driver's VIP objects.

The protocol core never sees the configuration model and the configuration never sees the
core: this module is the only place that knows both, so a keyword's meaning is decided once.
"""

from __future__ import annotations

from dataclasses import dataclass

from .advert import AUTH_NONE, CHECKSUM_MESSAGE, CHECKSUM_PSEUDO_HEADER, Expected
from .config_model import GlobalDefs, SyncGroup, VrrpInstance
from .protocol import BACKUP, MASTER, RouterSettings, TrackedObject
from .vips import Vip

INTERFACE_TRACK = "interface:"
"""Prefix of a tracked interface's name in the core."""
SCRIPT_TRACK = "script:"
"""Prefix of a tracked `vrrp_script`'s name in the core."""


@dataclass(frozen=True)
class Tracking:
    """One object an instance tracks, as keepalived weighs it.

    keepalived's `reverse` turns the adjustment around: a positive weight is taken off while
    the object is up, a negative one added while it is down, and weight 0 means FAULT while
    the object is *up*.  The core knows only the plain rule, so a reversed object is handed
    to it with the opposite weight and the opposite state (`core_state`).
    """

    key: str
    """The core's name: `interface:NAME` or `script:NAME`."""
    weight: int
    reverse: bool = False

    @property
    def core_weight(self) -> int:
        return -self.weight if self.reverse else self.weight

    def core_state(self, up: bool) -> bool:
        return up != self.reverse


def tracking(instance: VrrpInstance, group: SyncGroup | None = None) -> tuple[Tracking, ...]:
    """What `instance` tracks, its sync group's objects included.

    As in keepalived, a sync group member ignores tracking weights -- any tracked object that
    fails puts the member, and with it the group, in FAULT -- unless the group says
    `sync_group_tracking_weight`.
    """
    weighted = group is None or group.tracking_weight
    found: dict[str, Tracking] = {}
    sources = [(instance.track_interfaces, instance.track_scripts)]
    if group is not None:
        sources.append((group.track_interfaces, group.track_scripts))
    for interfaces, scripts in sources:
        for t in interfaces:
            key = INTERFACE_TRACK + t.name
            found[key] = Tracking(key, t.weight if weighted else 0, t.reverse)
        for t in scripts:
            key = SCRIPT_TRACK + t.name
            found[key] = Tracking(key, t.weight if weighted else 0, t.reverse)
    return tuple(found.values())


def instance_family(instance: VrrpInstance) -> int:
    return instance.virtual_ipaddress[0].address.version


def advertised_vips(instance: VrrpInstance) -> tuple[Vip, ...]:
    return tuple(Vip(v.address, v.label) for v in instance.virtual_ipaddress)


def excluded_vips(instance: VrrpInstance) -> tuple[Vip, ...]:
    """`virtual_ipaddress_excluded`: installed with the others, never put in adverts."""
    return tuple(Vip(v.address, v.label) for v in instance.virtual_ipaddress_excluded)


def vip_devices(instance: VrrpInstance) -> tuple[str, ...]:
    """The device of each advertised then excluded VIP."""
    return tuple(v.dev for v in instance.virtual_ipaddress + instance.virtual_ipaddress_excluded)


def checksum_form(instance: VrrpInstance, global_defs: GlobalDefs) -> str:
    """keepalived's `v3_checksum_as_v2`: the RFC 9568 message-only form for v3 over IPv4."""
    as_v2 = instance.v3_checksum_as_v2 or global_defs.v3_checksum_as_v2
    if as_v2 and instance.version == 3 and instance_family(instance) == 4:
        return CHECKSUM_MESSAGE
    return CHECKSUM_PSEUDO_HEADER


def expected(instance: VrrpInstance) -> Expected:
    """What the codec accepts for this instance (RFC 5798 §7.1, RFC 3768 §7.1)."""
    auth = instance.authentication
    return Expected(
        vrid=instance.virtual_router_id,
        version=instance.version,
        auth_type=auth.wire_type if auth and instance.version == 2 else AUTH_NONE,
        password=auth.key if auth and instance.version == 2 else b"",
        interval_cs=instance.advert_int_cs,
        addresses=tuple(v.address.ip.packed for v in instance.virtual_ipaddress),
    )


def router_settings(
    instance: VrrpInstance, primary_address: bytes, group: SyncGroup | None = None
) -> RouterSettings:
    """The protocol core's view of an instance; `primary_address` is the packed source we send from."""
    tracked = tracking(instance, group)
    track = tuple(TrackedObject(t.key, t.core_weight) for t in tracked)
    if not instance.dont_track_primary and all(t.key != INTERFACE_TRACK + instance.interface for t in tracked):
        track += (TrackedObject(INTERFACE_TRACK + instance.interface, 0),)
    vips = advertised_vips(instance)
    return RouterSettings(
        name=instance.name,
        vrid=instance.virtual_router_id,
        vips=tuple(v.interface.ip.packed for v in vips),
        primary_address=primary_address,
        version=instance.version,
        family=instance_family(instance),
        priority=instance.priority,
        advert_interval_cs=instance.advert_int_cs,
        interface=instance.interface,
        preempt=instance.preempt,
        preempt_delay=instance.preempt_delay_s,
        accept_mode=instance.accept,
        initial_state=MASTER if instance.state == MASTER else BACKUP,
        vip_objects=vips,
        garp_master_delay=float(instance.garp_master_delay_s),
        garp_master_repeat=instance.garp_master_repeat,
        garp_master_refresh=float(instance.garp_master_refresh_s),
        garp_master_refresh_repeat=instance.garp_master_refresh_repeat,
        garp_lower_prio_repeat=instance.garp_lower_prio_repeat,
        track=track,
    )


def source_address(instance: VrrpInstance, default: bytes) -> bytes:
    """The packed address the instance's adverts come from, and its election tie-breaker.

    keepalived's `unicast_src_ip` and `mcast_src_ip` are one setting there (either keyword sets
    it); without it, `default`: the interface's primary IPv4 or link-local IPv6 address.
    """
    chosen = instance.unicast_src_ip or instance.mcast_src_ip
    return chosen.packed if chosen is not None else default
