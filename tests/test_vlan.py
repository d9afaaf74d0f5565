"""Many routers on one virtual LAN: elections converge, partitions split, heals re-converge."""

from __future__ import annotations

import random

import pytest
from vlan import VirtualLan, ipv4, settings

from fastvrrp.actions import AddVips, RemoveVips, SendAdvert, SendGratuitous
from fastvrrp.protocol import FAULT, MASTER, TrackedObject
from fastvrrp.timers import master_down_interval, skew_time


def lan_of(priorities: list[int], version: int = 3, **kw) -> VirtualLan:
    interval = 100 if version == 2 else 10
    configs = [settings(i, p, version=version, advert_interval_cs=interval) for i, p in enumerate(priorities)]
    return VirtualLan(configs, **kw)


def winner(lan: VirtualLan, among: list[int] | None = None) -> int:
    """RFC 5798 §6.4.3: the highest effective priority, ties to the highest primary address."""
    hosts = among if among is not None else range(len(lan.hosts))
    return max(hosts, key=lambda i: (lan.hosts[i].router.effective_priority, lan.hosts[i].settings.primary_address))


def mdi(lan: VirtualLan, i: int) -> float:
    s = lan.hosts[i].settings
    return master_down_interval(s.version, s.priority, s.advert_interval_cs)


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("n", [2, 3, 5, 8])
def test_connected_lan_elects_exactly_the_highest_priority(n: int, version: int) -> None:
    priorities = random.Random(n).sample(range(1, 255), n)
    lan = lan_of(priorities, version)
    lan.start()
    lan.run_for(2 * mdi(lan, 0) + 1)
    assert lan.masters() == [winner(lan)]
    assert lan.vip_owners() == [winner(lan)]


@pytest.mark.parametrize("n", [2, 4, 8])
def test_equal_priorities_started_together_elect_the_highest_address(n: int) -> None:
    lan = lan_of([100] * n, jitter=0.0005)
    lan.start()
    lan.run_for(1.0)
    assert lan.masters() == [n - 1] == [winner(lan)]
    assert lan.vip_owners() == [n - 1]


def test_lossy_lan_keeps_the_highest_priority_master_most_of_the_time() -> None:
    lan = lan_of([150, 200, 100, 50, 120], loss=0.2, jitter=0.002, seed=7)
    lan.start()
    lan.run_for(1.0)
    samples = []
    for _ in range(2000):
        lan.run_for(0.005)
        samples.append(lan.masters())
    assert samples[-1] == [1]
    assert sum(m == [1] for m in samples) / len(samples) > 0.95


def test_nopreempt_keeps_a_running_master() -> None:
    lan = VirtualLan([settings(0, 50, advert_interval_cs=10), settings(1, 200, advert_interval_cs=10, preempt=False)])
    lan.start(0)
    lan.run_for(1.0)
    lan.start(1)
    lan.run_for(5.0)
    assert lan.masters() == [0] and lan.vip_owners() == [0]
    lan.stop(0)  # nopreempt does not stop it from taking over a master that leaves
    lan.run_for(1.0)
    assert lan.masters() == [1]


def test_preemption_when_a_higher_priority_router_joins() -> None:
    lan = lan_of([50, 200])
    lan.start(0)
    lan.run_for(1.0)
    lan.start(1)
    joined = lan.now
    lan.run_for(2 * mdi(lan, 1))
    assert lan.masters() == [1] and lan.vip_owners() == [1]
    assert lan.actions_of(AddVips, 1)[0][0] == pytest.approx(joined + mdi(lan, 1))


def test_partition_gives_one_master_per_side_and_healing_converges_within_master_down_interval() -> None:
    lan = lan_of([200, 100, 150, 120, 180, 90], jitter=0.001)
    lan.start()
    lan.run_for(1.0)
    assert lan.masters() == [0]
    lan.partition([0, 1, 2], [3, 4, 5])
    lan.run_for(1.0)
    assert lan.masters() == [0, 4]
    assert lan.vip_owners() == [0, 4]

    lan.heal()
    healed = lan.now
    lan.run_for(max(mdi(lan, i) for i in range(6)))
    assert lan.masters() == [0] and lan.vip_owners() == [0]
    stepped_down = lan.actions_of(RemoveVips, 4, since=healed)[0][0]
    assert stepped_down - healed <= 0.1 + 0.002  # one advert interval and a delay
    lan.run_for(2.0)
    loser_last = lan.actions_of(SendGratuitous, 4)[-1][0]
    assert [t for t, _, _ in lan.actions_of(SendGratuitous, 0, since=healed)][-1] > loser_last


def test_graceful_stop_hands_over_after_skew_time() -> None:
    """RFC 5798 §6.4.2: priority 0 -> the next router takes over after Skew_Time, not Master_Down_Interval."""
    lan = lan_of([200, 150, 100])
    lan.start()
    lan.run_for(1.0)
    lan.stop(0)
    stopped = lan.now
    lan.run_for(1.0)
    assert lan.masters() == [1]
    took_over = lan.actions_of(AddVips, 1, since=stopped)[0][0]
    assert took_over == pytest.approx(stopped + lan.delay + skew_time(3, 150, 10))


def test_kill_leaves_vips_until_restart_cleans_them() -> None:
    lan = lan_of([200, 150])
    lan.start()
    lan.run_for(1.0)
    lan.kill(0)
    killed = lan.now
    lan.run_for(1.0)
    assert lan.masters() == [1]
    assert lan.vip_owners() == [0, 1]  # a kill -9 leaves the address behind (VRRP-NOTES)
    last_heard = lan.actions_of(SendAdvert, 0)[-1][0] + lan.delay
    assert lan.actions_of(AddVips, 1, since=killed)[0][0] == pytest.approx(last_heard + mdi(lan, 1))
    lan.start(0)
    assert lan.vip_owners() == [1]  # start removes leftovers at once
    lan.run_for(1.0)
    assert lan.masters() == [0] and lan.vip_owners() == [0]


def test_link_down_is_fault_and_the_backup_waits_master_down_interval() -> None:
    lan = lan_of([200, 150])
    lan.start()
    lan.run_for(1.0)
    lan.set_link(0, False)  # its priority 0 cannot leave a dead link
    down = lan.now
    lan.run_for(1.0)
    assert lan.hosts[0].router.state == FAULT and lan.vip_owners() == [1]
    assert lan.actions_of(AddVips, 1, since=down)[0][0] - down <= mdi(lan, 1) + 0.1
    lan.set_link(0, True)
    lan.run_for(1.0)
    assert lan.masters() == [0] and lan.vip_owners() == [0]


def test_tracked_check_failing_is_fault_with_a_priority_0_handover() -> None:
    check = (TrackedObject("chk_haproxy", 0),)
    lan = VirtualLan([settings(0, 200, advert_interval_cs=10, track=check), settings(1, 150, advert_interval_cs=10)])
    lan.start()
    lan.run_for(1.0)
    lan.set_track(0, "chk_haproxy", False)
    failed = lan.now
    lan.run_for(1.0)
    assert lan.actions_of(AddVips, 1, since=failed)[0][0] == pytest.approx(failed + lan.delay + skew_time(3, 150, 10))


def test_tracking_weight_moves_mastership() -> None:
    uplink = (TrackedObject("uplink", -60),)
    lan = VirtualLan([settings(0, 200, advert_interval_cs=10, track=uplink), settings(1, 150, advert_interval_cs=10)])
    lan.start()
    lan.run_for(1.0)
    lan.set_track(0, "uplink", False)  # 200 - 60 = 140 < 150: the backup preempts
    lan.run_for(1.0)
    assert lan.masters() == [1] and lan.vip_owners() == [1]
    lan.set_track(0, "uplink", True)
    lan.run_for(1.0)
    assert lan.masters() == [0] and lan.vip_owners() == [0]


def test_one_way_loss_is_a_split_brain_that_heals() -> None:
    lan = lan_of([200, 150])
    lan.start()
    lan.run_for(1.0)
    lan.block(0, 1)
    lan.run_for(1.0)
    assert lan.masters() == [0, 1]
    lan.heal()
    lan.run_for(0.1 + 2 * lan.delay)
    assert lan.masters() == [0] and lan.vip_owners() == [0]
    assert lan.hosts[1].router.master_address == ipv4(0)
    assert lan.hosts[0].router.state == MASTER
