"""Sync group members as the driver sees them: routers whose events go through their group.

The driver keeps calling `instance.router.receive_advert(...)`, `handle_timer`, `get_timer`
whether or not the instance is in a `vrrp_sync_group`; for a member, `router` is a
`GroupMember`, which hands each event to the `protocol.SyncGroup` so that the others move
with it.  Everything else (state, counters, settings) is the member's own router.
"""

from __future__ import annotations

from .actions import Action
from .advert import Advert
from .protocol import INIT, SyncGroup, VirtualRouter


class GroupMember:
    """A member router whose events are routed through its sync group."""

    def __init__(self, router: VirtualRouter, group: SyncGroup) -> None:
        self.router = router
        self.group = group

    def __getattr__(self, name: str):
        return getattr(self.router, name)

    def get_timer(self) -> float | None:
        """The group's earliest deadline: a timer of any member may move this one."""
        return self.group.get_timer()

    def start(self, now: float) -> list[Action]:
        """The first member to start starts the whole group; the others find it started."""
        if self.router.state != INIT:
            return []
        return self.group.start(now)

    def receive_advert(self, advert: Advert, source: bytes, now: float) -> list[Action]:
        return self.group.receive_advert(self.router.name, advert, source, now)

    def heard_again(self, now: float, repeats: int = 1) -> bool:
        """A repeat changes no member's state: nothing for the group to settle."""
        return self.router.heard_again(now, repeats)

    def takeover_due(self, now: float) -> bool:
        """The group then moves the others too; this member's transition still comes first."""
        return self.router.takeover_due(now)

    def handle_timer(self, now: float) -> list[Action]:
        return self.group.handle_timer(now)

    def set_interface_state(self, up: bool, now: float) -> list[Action]:
        return self.group.set_interface_state(self.router.name, up, now)

    def set_track_state(self, name: str, up: bool, now: float) -> list[Action]:
        return self.group.set_track_state(self.router.name, name, up, now)

    def shutdown(self, now: float) -> list[Action]:
        return self.group.shutdown(now)
