"""keepalived.conf parsing: the experiment's files, the syntax, every keyword, every refusal.

Whole results are compared: a `Config` or instance against one written out in full, and
diagnostics as (file name, line, severity, message) lists, so a changed default or an extra
warning shows up here.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from dataclasses import replace
from ipaddress import ip_address, ip_interface
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastvrrp.config import ConfigError, check_command, load_config
from fastvrrp.config_model import (
    Authentication,
    Config,
    Diagnostic,
    GlobalDefs,
    Notifies,
    ScriptCommand,
    SyncGroup,
    TrackedInterface,
    TrackedScript,
    UnicastPeer,
    VirtualAddress,
    VrrpInstance,
    VrrpScript,
)

DATA = Path(__file__).parent / "data" / "conf"
NO_VRID = (
    "vrrp_instance VI_1 has no virtual_router_id; write `virtual_router_id N` in it, N between 1 and 255 "
    "and the same on every router of this virtual router"
)
DELAY_WITH_MASTER = (
    "preempt_delay does not work with state MASTER; ignored, as keepalived does; write `state BACKUP` to keep it"
)
REPO = Path(__file__).parent.parent


def write(directory: Path, text: str, name: str = "keepalived.conf") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def instance_text(*lines: str, name: str = "VI_1") -> str:
    body = "".join(f"    {line}\n" for line in lines)
    return f"vrrp_instance {name} {{\n{body}}}\n"


BASE = ("interface eth0", "virtual_router_id 51", "virtual_ipaddress {", "    192.0.2.10", "}")


def findings(diagnostics) -> list[tuple[str, int, str, str]]:
    return [(Path(d.file).name, d.line, d.severity, d.message) for d in diagnostics]


def refused(directory: Path, text: str) -> list[tuple[str, int, str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(directory, text))
    return findings(caught.value.diagnostics)


def only_instance(directory: Path, text: str) -> VrrpInstance:
    config = load_config(write(directory, text))
    assert config.warnings == ()
    (instance,) = config.instances
    return instance


# --- the experiment (EXPERIMENT.md): both files parse unchanged --------------------------------


def experiment_instance(path: Path, state: str, priority: int) -> VrrpInstance:
    return VrrpInstance(
        name="VIP_test_1",
        state=state,
        interface="em1",
        virtual_router_id=150,
        priority=priority,
        version=2,
        advert_int_cs=100,
        virtual_ipaddress=(VirtualAddress(ip_interface("10.0.201.100/32"), "em1"),),
        virtual_ipaddress_excluded=(),
        preempt=True,
        preempt_delay_s=0.0,
        accept=True,
        authentication=Authentication("PASS", "1111"),
        unicast_src_ip=None,
        mcast_src_ip=None,
        unicast_peers=(),
        garp_master_delay_s=5,
        garp_master_repeat=5,
        garp_master_refresh_s=0,
        garp_master_refresh_repeat=1,
        garp_lower_prio_delay_s=5,
        garp_lower_prio_repeat=5,
        track_interfaces=(),
        track_scripts=(),
        notifies=Notifies(),
        v3_checksum_as_v2=False,
        dont_track_primary=False,
        file=str(path),
        line=7,
    )


@pytest.mark.parametrize(
    "name, router_id, state, priority",
    [("experiment-master.conf", "LVS_201-1", "MASTER", 100), ("experiment-backup.conf", "LVS_201-2", "BACKUP", 50)],
)
def test_experiment_configs_parse_to_the_expected_model(name, router_id, state, priority):
    path = DATA / name
    assert load_config(path) == Config(
        global_defs=GlobalDefs(router_id=router_id),
        instances=(experiment_instance(path, state, priority),),
        scripts=(),
        sync_groups=(),
        warnings=(),
        files=(str(path),),
    )


def test_locations_are_kept_but_not_compared(tmp_path):
    """A reload compares instances: an instance that only moved in the file has not changed."""
    master = load_config(DATA / "experiment-master.conf").instances[0]
    moved = load_config(write(tmp_path, "\n\n" + (DATA / "experiment-master.conf").read_text())).instances[0]
    assert (master.file, master.line, moved.file, moved.line) == (
        str(DATA / "experiment-master.conf"), 7, str(tmp_path / "keepalived.conf"), 9,
    )
    assert moved == master


def test_experiment_instance_derived_values():
    instance = load_config(DATA / "experiment-master.conf").instances[0]
    assert (instance.family, instance.advert_int_ms, instance.multicast_group) == (4, 1000, "224.0.0.18")
    assert (instance.authentication.wire_type, instance.authentication.key) == (1, b"1111\0\0\0\0")


def test_global_defaults_are_keepalived_2_2_7s():
    assert GlobalDefs() == GlobalDefs(
        router_id=None,
        vrrp_version=2,
        vrrp_garp_master_delay_s=5,
        vrrp_garp_master_repeat=5,
        vrrp_garp_master_refresh_s=0,
        vrrp_garp_master_refresh_repeat=1,
        vrrp_garp_lower_prio_delay_s=5,
        vrrp_garp_lower_prio_repeat=5,
        v3_checksum_as_v2=False,
        enable_script_security=False,
        script_user=None,
        script_group=None,
    )


# --- syntax ------------------------------------------------------------------------------------

MINIMAL = VrrpInstance(
    name="VI_1",
    state="BACKUP",
    interface="eth0",
    virtual_router_id=51,
    priority=100,
    version=2,
    advert_int_cs=100,
    virtual_ipaddress=(VirtualAddress(ip_interface("192.0.2.10/32"), "eth0"),),
)


def test_comments_braces_and_quotes(tmp_path):
    path = write(
        tmp_path,
        """\
        ! a comment
        # another
        global_defs { router_id "my #router!" }   ! block on one line
        vrrp_script chk_web{script "/usr/bin/curl -s 'http://x/a b'"}
        vrrp_instance VI_1
        {
            interface eth0# comment touching a word
            virtual_router_id 51 # trailing
            track_script
            {
                chk_web
            }
            virtual_ipaddress {192.0.2.10}
            notify_master "/etc/keepalived/say \\"hi\\"\\tthere"
        }
        """,
    )
    path = Path(path)
    config = load_config(path)
    assert config.global_defs == GlobalDefs(router_id="my #router!")
    assert config.scripts == (
        VrrpScript("chk_web", ScriptCommand("/usr/bin/curl -s 'http://x/a b'"), file=str(path), line=4),
    )
    assert config.scripts[0].script.argv == ["/usr/bin/curl", "-s", "http://x/a b"]
    assert config.instances == (
        replace(
            MINIMAL,
            track_scripts=(TrackedScript("chk_web"),),
            notifies=Notifies(master=ScriptCommand('/etc/keepalived/say "hi"\tthere')),
            file=str(path),
            line=5,
        ),
    )
    assert config.warnings == ()


def test_quoted_parts_join_their_word_and_keep_spaces(tmp_path):
    instance = only_instance(
        tmp_path,
        """\
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            virtual_ipaddress { 192.0.2.10 }
            notify_backup 'abcd" efg h jkl "mnop' user :group
            notify_fault "/bin/x\\x41\\101\\q"
        }
        """,
    )
    assert instance.notifies == Notifies(
        backup=ScriptCommand('abcd" efg h jkl "mnop', "user", "group"),
        fault=ScriptCommand("/bin/xAAq"),
    )


def test_includes_with_globs_braces_nesting_and_blocks(tmp_path):
    write(tmp_path, "vrrp_instance VI_1 {\n    include vi1/*.inc\n}\n", "conf.d/10-vi1.conf")
    write(tmp_path, "interface eth0\nvirtual_router_id 51\n", "conf.d/vi1/a.inc")
    write(tmp_path, "virtual_ipaddress {\n    192.0.2.10\n}\n", "conf.d/vi1/b.inc")
    write(tmp_path, "global_defs {\n    router_id from-include\n}\n", "globals/defs.conf")
    write(tmp_path, "vrrp_version 3\n", "globals/version.conf")
    main = write(
        tmp_path,
        """\
        include conf.d/*.conf
        include globals/{defs,missing}.conf   # brace alternatives, as glob(GLOB_BRACE)
        global_defs {
            include "globals/version.conf"
        }
        include conf.d/nothing-*.conf
        """,
    )
    config = load_config(main)
    inc = tmp_path / "conf.d"
    assert config.files == (
        str(main),
        str(inc / "10-vi1.conf"),
        str(inc / "vi1" / "a.inc"),
        str(inc / "vi1" / "b.inc"),
        str(tmp_path / "globals" / "defs.conf"),
        str(tmp_path / "globals" / "version.conf"),
    )
    assert config.global_defs == GlobalDefs(router_id="from-include", vrrp_version=3)
    assert config.instances == (replace(MINIMAL, version=3, file=str(inc / "10-vi1.conf"), line=1),)
    assert findings(config.warnings) == [
        ("keepalived.conf", 2, "warning", "include globals/missing.conf: no such file; nothing included"),
    ]


def test_include_loop_is_an_error(tmp_path):
    write(tmp_path, "include ../keepalived.conf\n", "sub/loop.conf")
    assert refused(tmp_path, "include sub/loop.conf\n") == [
        (
            "loop.conf", 1, "error",
            f"include ../keepalived.conf includes {tmp_path}/sub/../keepalived.conf again, a loop; remove it",
        ),
    ]


def test_unbalanced_braces_are_errors(tmp_path):
    assert refused(
        tmp_path,
        """\
        }
        vrrp_instance VI_1 {
            { stray }
            interface eth0
            {
                eth1
            }
            virtual_ipaddress { 192.0.2.1
        """,
    ) == [
        ("keepalived.conf", 1, "error", "'}' closes nothing; remove it"),
        ("keepalived.conf", 2, "error", "'{' opened here is never closed; add '}'"),
        ("keepalived.conf", 2, "error", NO_VRID),
        ("keepalived.conf", 3, "error", "'{' without a keyword before it; name the block"),
        ("keepalived.conf", 4, "error", "interface takes no block; remove the { ... } after it"),
        ("keepalived.conf", 8, "error", "'{' opened here is never closed; add '}'"),
    ]


def test_unterminated_quote(tmp_path):
    assert refused(tmp_path, 'global_defs {\n  router_id "abc\n}\n') == [
        ("keepalived.conf", 2, "error", 'unterminated quoted string; close it with "'),
    ]


# --- every keyword -----------------------------------------------------------------------------

FULL = """\
global_defs {
    router_id lb1
    vrrp_version 3
    vrrp_garp_master_delay 2
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 60
    vrrp_garp_master_refresh_repeat 2
    vrrp_garp_lower_prio_repeat 4
    vrrp_garp_lower_prio_delay 1
    v3_checksum_as_v2 on
    enable_script_security
    script_user keepalived_script :scripts
}
vrrp_script chk_haproxy {
    script "/usr/bin/killall -0 haproxy"
    interval 0.5
    timeout 2
    weight -30 reverse
    rise 2
    fall 3
    init_fail
}
vrrp_script chk_disk {
    script /usr/local/bin/chk_disk
    user nobody nogroup
}
vrrp_instance VI_4 {
    state BACKUP
    interface eth1
    virtual_router_id 10
    priority 150
    advert_int 0.1
    version 3
    nopreempt
    accept
    virtual_ipaddress {
        192.0.2.10
        192.0.2.11/24 dev eth2 label eth2:1 scope global
    }
    virtual_ipaddress_excluded {
        2001:db8::5/64
    }
    unicast_src_ip 192.0.2.2
    mcast_src_ip 192.0.2.2
    unicast_peer {
        192.0.2.3
        192.0.2.4 min_ttl 250 max_ttl 255
    }
    garp_master_delay 1
    garp_master_repeat 2
    garp_master_refresh 30
    garp_master_refresh_repeat 3
    garp_lower_prio_delay 4
    garp_lower_prio_repeat 6
    track_interface {
        eth3
        eth4 weight -10
        eth5 weight 20 reverse
    }
    track_script {
        chk_haproxy
        chk_disk weight 5 noreverse
    }
    notify_master /etc/keepalived/master.sh
    notify_backup "/etc/keepalived/state.sh backup" root
    notify_fault "/etc/keepalived/state.sh fault" root wheel
    notify_stop /etc/keepalived/stop.sh
    notify /etc/keepalived/notify.sh
    v3_checksum_as_v2 off
    dont_track_primary
}
vrrp_instance VI_6 {
    interface eth1
    virtual_router_id 10
    priority 255
    virtual_ipaddress {
        fe80::10
        2001:db8::10/64
    }
    no_accept
    preempt_delay 2.5
}
vrrp_instance VI_2 {
    state BACKUP
    interface eth1
    virtual_router_id 20
    advert_int 2
    version 2
    authentication {
        auth_type PASS
        auth_pass secret
    }
    virtual_ipaddress {
        198.51.100.1
    }
    preempt_delay 10
}
vrrp_sync_group G1 {
    group {
        VI_4
        VI_6
    }
    track_interface {
        eth9 weight 0
    }
    track_script {
        chk_disk
    }
    notify_master "/etc/keepalived/group.sh master"
    notify /etc/keepalived/group.sh
}
"""


def test_every_keyword(tmp_path):
    path = str(write(tmp_path, FULL))
    config = load_config(path)
    vi4_tracks = (TrackedScript("chk_haproxy", -30, True), TrackedScript("chk_disk", 5, False))
    assert config == Config(
        global_defs=GlobalDefs(
            router_id="lb1",
            vrrp_version=3,
            vrrp_garp_master_delay_s=2,
            vrrp_garp_master_repeat=3,
            vrrp_garp_master_refresh_s=60,
            vrrp_garp_master_refresh_repeat=2,
            vrrp_garp_lower_prio_delay_s=1,
            vrrp_garp_lower_prio_repeat=4,
            v3_checksum_as_v2=True,
            enable_script_security=True,
            script_user="keepalived_script",
            script_group="scripts",
        ),
        instances=(
            VrrpInstance(
                name="VI_4",
                state="BACKUP",
                interface="eth1",
                virtual_router_id=10,
                priority=150,
                version=3,
                advert_int_cs=10,
                virtual_ipaddress=(
                    VirtualAddress(ip_interface("192.0.2.10/32"), "eth1"),
                    VirtualAddress(ip_interface("192.0.2.11/24"), "eth2", "eth2:1", "global"),
                ),
                virtual_ipaddress_excluded=(VirtualAddress(ip_interface("2001:db8::5/64"), "eth1"),),
                preempt=False,
                preempt_delay_s=0.0,
                accept=True,
                authentication=None,
                unicast_src_ip=ip_address("192.0.2.2"),
                mcast_src_ip=ip_address("192.0.2.2"),
                unicast_peers=(UnicastPeer(ip_address("192.0.2.3")), UnicastPeer(ip_address("192.0.2.4"), 250, 255)),
                garp_master_delay_s=1,
                garp_master_repeat=2,
                garp_master_refresh_s=30,
                garp_master_refresh_repeat=3,
                garp_lower_prio_delay_s=4,
                garp_lower_prio_repeat=6,
                track_interfaces=(
                    TrackedInterface("eth3"),
                    TrackedInterface("eth4", -10),
                    TrackedInterface("eth5", 20, True),
                ),
                track_scripts=vi4_tracks,
                notifies=Notifies(
                    master=ScriptCommand("/etc/keepalived/master.sh"),
                    backup=ScriptCommand("/etc/keepalived/state.sh backup", "root"),
                    fault=ScriptCommand("/etc/keepalived/state.sh fault", "root", "wheel"),
                    stop=ScriptCommand("/etc/keepalived/stop.sh"),
                    any=ScriptCommand("/etc/keepalived/notify.sh"),
                ),
                v3_checksum_as_v2=False,
                dont_track_primary=True,
                file=path,
                line=27,
            ),
            VrrpInstance(
                name="VI_6",
                state="MASTER",
                interface="eth1",
                virtual_router_id=10,
                priority=255,
                version=3,
                advert_int_cs=100,
                virtual_ipaddress=(
                    VirtualAddress(ip_interface("fe80::10/128"), "eth1"),
                    VirtualAddress(ip_interface("2001:db8::10/64"), "eth1"),
                ),
                preempt=True,
                preempt_delay_s=0.0,
                accept=False,
                garp_master_delay_s=2,
                garp_master_repeat=3,
                garp_master_refresh_s=60,
                garp_master_refresh_repeat=2,
                garp_lower_prio_delay_s=1,
                garp_lower_prio_repeat=4,
                v3_checksum_as_v2=True,
                file=path,
                line=72,
            ),
            VrrpInstance(
                name="VI_2",
                state="BACKUP",
                interface="eth1",
                virtual_router_id=20,
                priority=100,
                version=2,
                advert_int_cs=200,
                virtual_ipaddress=(VirtualAddress(ip_interface("198.51.100.1/32"), "eth1"),),
                preempt=True,
                preempt_delay_s=10.0,
                authentication=Authentication("PASS", "secret"),
                garp_master_delay_s=2,
                garp_master_repeat=3,
                garp_master_refresh_s=60,
                garp_master_refresh_repeat=2,
                garp_lower_prio_delay_s=1,
                garp_lower_prio_repeat=4,
                v3_checksum_as_v2=True,
                file=path,
                line=83,
            ),
        ),
        scripts=(
            VrrpScript(
                name="chk_haproxy",
                script=ScriptCommand("/usr/bin/killall -0 haproxy"),
                interval_s=0.5,
                timeout_s=2.0,
                weight=-30,
                reverse=True,
                rise=2,
                fall=3,
                init_fail=True,
                file=path,
                line=14,
            ),
            VrrpScript("chk_disk", ScriptCommand("/usr/local/bin/chk_disk", "nobody", "nogroup"), file=path, line=23),
        ),
        sync_groups=(
            SyncGroup(
                name="G1",
                members=("VI_4", "VI_6"),
                track_interfaces=(TrackedInterface("eth9", 0),),
                track_scripts=(TrackedScript("chk_disk", 0, False),),
                notifies=Notifies(
                    master=ScriptCommand("/etc/keepalived/group.sh master"),
                    any=ScriptCommand("/etc/keepalived/group.sh"),
                ),
                file=path,
                line=98,
            ),
        ),
        warnings=(
            Diagnostic(path, 81, "warning", DELAY_WITH_MASTER),
        ),
        files=(path,),
    )
    located = [(x.name, x.line) for x in (*config.instances, *config.scripts, *config.sync_groups)]
    assert located == [("VI_4", 27), ("VI_6", 72), ("VI_2", 83), ("chk_haproxy", 14), ("chk_disk", 23), ("G1", 98)]
    assert [i.family for i in config.instances] == [4, 6, 4]
    assert config.instance("VI_6").multicast_group == "ff02::12"
    assert config.script("chk_disk").timeout_s == 1.0
    with pytest.raises(KeyError):
        config.instance("nope")


@pytest.mark.parametrize(
    "lines, expected",
    [
        # keepalived derives the missing one of state / priority from the other.
        (["state MASTER"], {"state": "MASTER", "priority": 255}),
        (["priority 255"], {"state": "MASTER", "priority": 255}),
        (["state MASTER", "priority 100"], {"state": "MASTER", "priority": 100}),
        ([], {"state": "BACKUP", "priority": 100}),
        (["version 3", "advert_int 0.01"], {"version": 3, "advert_int_cs": 1}),
        (["version 3", "advert_int 40.95"], {"version": 3, "advert_int_cs": 4095}),
        (["version 3", "advert_int 0.07"], {"version": 3, "advert_int_cs": 7}),
        (["advert_int 255"], {"advert_int_cs": 25500}),
        (["advert_int 3.0"], {"advert_int_cs": 300}),
        (["nopreempt", "preempt"], None),
        (["preempt_delay 4.12"], {"preempt_delay_s": 4.12}),
        (["v3_checksum_as_v2"], {"v3_checksum_as_v2": True}),
        (["v3_checksum_as_v2 yes"], {"v3_checksum_as_v2": True}),
    ],
)
def test_derived_and_boundary_values(tmp_path, lines, expected):
    config = load_config(write(tmp_path, instance_text("interface eth0", "virtual_router_id 51", *lines,
                                                       "virtual_ipaddress { 192.0.2.10 }")))
    path = str(tmp_path / "keepalived.conf")
    if expected is None:
        assert findings(config.warnings) == [
            ("keepalived.conf", 5, "warning", "preempt given again (first at line 4); the last one counts"),
        ]
        expected = {}
    else:
        assert config.warnings == ()
    assert config.instances == (replace(MINIMAL, file=path, line=1, **expected),)


def test_v3_interval_is_rounded_to_centiseconds_with_a_warning(tmp_path):
    config = load_config(write(tmp_path, """\
        vrrp_instance VI_1 {
            interface eth0
            virtual_router_id 51
            version 3
            advert_int 0.015
            virtual_ipaddress { 192.0.2.10 }
        }
        """))
    assert config.instances[0].advert_int_cs == 2
    assert findings(config.warnings) == [
        ("keepalived.conf", 5, "warning", "advert_int 0.015 is not a multiple of 10 ms; VRRPv3 uses 0.02"),
    ]


# --- refusals: file, line, value, range and fix ------------------------------------------------


@pytest.mark.parametrize(
    "lines, expected",
    [
        (
            ("interface eth0", "virtual_router_id 300", "virtual_ipaddress { 192.0.2.10 }"),
            [(3, "virtual_router_id 300 is out of range 1..255; write a number between 1 and 255")],
        ),
        (
            ("interface eth0", "virtual_router_id abc", "virtual_ipaddress { 192.0.2.10 }"),
            [(3, "virtual_router_id 'abc' is not a whole number; write a number between 1 and 255")],
        ),
        (
            (*BASE, "priority 0"),
            [(7, "priority 0 is out of range 1..255; write a number between 1 and 255")],
        ),
        (
            (*BASE, "priority"),
            [(7, "priority needs a value; write `priority 1`")],
        ),
        (
            (*BASE, "state EQUAL"),
            [(7, "state EQUAL is not one of MASTER, BACKUP; write `state MASTER` or `state BACKUP`")],
        ),
        (
            (*BASE, "advert_int 0.5"),
            [(7, "advert_int 0.5 is not a whole number of seconds, which VRRPv2 needs (1..255); write `version 3` "
                 "in vrrp_instance VI_1 for sub-second adverts, or a whole number like `advert_int 1`")],
        ),
        (
            (*BASE, "advert_int 0"),
            [(7, "advert_int 0 is out of range 0.01..255 seconds; write a number of seconds between 0.01 and 255")],
        ),
        (
            (*BASE, "version 3", "advert_int 41"),
            [(8, "advert_int 41 is out of range 0.01..40.95 for VRRPv3; write a number of seconds between 0.01 and "
                 "40.95")],
        ),
        (
            (*BASE, "advert_int fast"),
            [(7, "advert_int 'fast' is not a number of seconds; write a number like 1 or 0.5")],
        ),
        (
            (*BASE, "version 4"),
            [(7, "version 4 is out of range 2..3; write a number between 2 and 3")],
        ),
        (
            ("interface eth0", "virtual_router_id 51", "version 2", "virtual_ipaddress { 2001:db8::1 }"),
            [(4, "vrrp_instance VI_1 has IPv6 virtual addresses (2001:db8::1/128), which VRRPv2 cannot carry; write "
                 "`version 3`")],
        ),
        (
            (*BASE, "version 3", "authentication {", "    auth_type PASS", "    auth_pass x", "}"),
            [(8, "vrrp_instance VI_1 runs VRRPv3, which has no authentication (RFC 5798); remove the authentication "
                 "block, or write `version 2`")],
        ),
        (
            (*BASE, "authentication {", "    auth_type AH", "    auth_pass x", "}"),
            [(7, "auth_type AH (IPsec AH, dropped by RFC 3768) is not implemented by fastvrrp; write `auth_type PASS` "
                 "on every router, or no authentication")],
        ),
        (
            (*BASE, "authentication {", "    auth_type PASS", "}"),
            [(7, "authentication has no auth_pass; write `auth_pass SECRET` (8 characters used)")],
        ),
        (
            ("virtual_router_id 51", "virtual_ipaddress { 192.0.2.10 }"),
            [(1, "vrrp_instance VI_1 has no interface; write `interface eth0` in it (the link to the other routers)")],
        ),
        (
            ("interface eth0", "virtual_ipaddress { 192.0.2.10 }"),
            [(1, NO_VRID)],
        ),
        (
            ("interface eth0", "virtual_router_id 51"),
            [(1, "vrrp_instance VI_1 has no virtual_ipaddress; write `virtual_ipaddress { 10.0.0.100/24 }` in it")],
        ),
        (
            ("interface eth0", "virtual_router_id 51", "virtual_ipaddress {", "}"),
            [(4, "virtual_ipaddress lists no address; write one address per line, like 10.0.0.1/24")],
        ),
        (
            ("interface eth0", "virtual_router_id 51", "virtual_ipaddress {", "    192.0.2.1", "    2001:db8::1", "}"),
            [(6, "2001:db8::1/128 is IPv6 but vrrp_instance VI_1 advertises IPv4 (192.0.2.1/32 comes first); "
                 "move it to virtual_ipaddress_excluded or another instance")],
        ),
        (
            ("interface eth0", "virtual_router_id 51", "virtual_ipaddress {", "    192.0.2.300", "}"),
            [(5, "virtual address '192.0.2.300' is not an IP address; write one like 10.0.0.1/24 or 2001:db8::1/64")],
        ),
        (
            ("interface eth0", "virtual_router_id 51", "virtual_ipaddress {", "    192.0.2.1 dev", "}"),
            [(5, "dev needs a value after it")],
        ),
        (
            ("interface eth0", "virtual_router_id 51", "virtual_ipaddress {", "    192.0.2.1 scope moon", "}"),
            [(5, "scope moon is not one of global, host, link, nowhere, site")],
        ),
        (
            ("interface eth0", "virtual_router_id 51", "virtual_ipaddress {", "    192.0.2.1 label vip1",
             "    192.0.2.2 dev eth1 label eth0:1", "}"),
            [
                (5, "label vip1 of 192.0.2.1/32 must be eth0 or start with 'eth0:', at most 15 characters; "
                    "write a label like eth0:1"),
                (6, "label eth0:1 of 192.0.2.2/32 must be eth1 or start with 'eth1:', at most 15 characters; "
                    "write a label like eth1:1"),
            ],
        ),
        (
            ("interface a-very-long-interface-name", "virtual_router_id 51", "virtual_ipaddress { 192.0.2.1 }"),
            [(2, "interface 'a-very-long-interface-name' is not a valid interface name; write at most 15 "
                 "characters, no '/'")],
        ),
        (
            (*BASE, "unicast_src_ip 2001:db8::1", "unicast_peer {", "    192.0.2.999", "    2001:db8::2", "}"),
            [
                (7, "unicast_src_ip 2001:db8::1 is not IPv4 like vrrp_instance VI_1's virtual addresses; write an "
                    "IPv4 address of eth0"),
                (9, "unicast_peer '192.0.2.999' is not an IP address; write one like 10.0.0.1 or fe80::1"),
                (10, "unicast_peer 2001:db8::2 is not IPv4 like vrrp_instance VI_1's virtual addresses; write the "
                     "peer's IPv4 address"),
            ],
        ),
        (
            (*BASE, "preempt_delay 1001"),
            [(7, "preempt_delay 1001 is out of range 0..1000 seconds; write a number of seconds between 0 and 1000")],
        ),
        (
            (*BASE, "track_interface {", "    eth1 weight 254", "}"),
            [(8, "weight 254 is out of range -253..253; write a number between -253 and 253")],
        ),
        (
            (*BASE, "track_script {", "    chk_missing", "}"),
            [(8, "track_script chk_missing names no vrrp_script (known: none defined); define "
                 "`vrrp_script chk_missing { script ... }` or fix the name")],
        ),
        (
            (*BASE, "garp_master_repeat 256"),
            [(7, "garp_master_repeat 256 is out of range 0..255; write a number between 0 and 255")],
        ),
        (
            (*BASE, "v3_checksum_as_v2 maybe"),
            [(7, "v3_checksum_as_v2 'maybe' is not a boolean; write on or off")],
        ),
        (
            (*BASE, "authentication"),
            [(7, "authentication needs a block; write `authentication { ... }`")],
        ),
    ],
)
def test_instance_errors_name_line_value_and_fix(tmp_path, lines, expected):
    assert refused(tmp_path, instance_text(*lines)) == [("keepalived.conf", line, "error", m) for line, m in expected]


def test_all_errors_are_collected_not_only_the_first(tmp_path):
    assert refused(
        tmp_path,
        instance_text("interface eth0", "virtual_router_id 0", "priority 256", "virtual_ipaddress { 192.0.2.10 }")
        + instance_text("virtual_router_id 5", name="VI_2"),
    ) == [
        ("keepalived.conf", 3, "error", "virtual_router_id 0 is out of range 1..255; write a number between 1 and 255"),
        ("keepalived.conf", 4, "error", "priority 256 is out of range 1..255; write a number between 1 and 255"),
        ("keepalived.conf", 7, "error", "vrrp_instance VI_2 has no interface; write `interface eth0` in it (the "
                                        "link to the other routers)"),
        ("keepalived.conf", 7, "error", "vrrp_instance VI_2 has no virtual_ipaddress; write `virtual_ipaddress { "
                                        "10.0.0.100/24 }` in it"),
    ]


def test_errors_in_included_files_name_that_file(tmp_path):
    write(tmp_path, instance_text("interface eth0", "virtual_router_id 300", "virtual_ipaddress { 192.0.2.10 }"),
          "vi.conf")
    assert refused(tmp_path, "global_defs {\n    router_id r\n}\ninclude vi.conf\n") == [
        ("vi.conf", 3, "error", "virtual_router_id 300 is out of range 1..255; write a number between 1 and 255"),
    ]


def test_duplicate_vrid_on_one_interface_and_family(tmp_path):
    assert refused(
        tmp_path,
        instance_text(*BASE)
        + instance_text("interface eth0", "virtual_router_id 51", "virtual_ipaddress { 192.0.2.11 }", name="VI_2"),
    ) == [
        ("keepalived.conf", 10, "error", f"virtual_router_id 51 is already used on eth0 for IPv4 by vrrp_instance VI_1 "
                                        f"({tmp_path}/keepalived.conf:1); write a VRID no other instance on this "
                                        "interface uses"),
    ]


def test_same_vrid_is_fine_across_interfaces_families_and_disjoint_unicast_peers(tmp_path):
    config = load_config(write(tmp_path, (
        instance_text(*BASE)
        + instance_text("interface eth1", "virtual_router_id 51", "virtual_ipaddress { 192.0.2.11 }", name="VI_2")
        + instance_text("interface eth0", "virtual_router_id 51", "virtual_ipaddress { fe80::1 }", name="VI_3")
        + instance_text("interface eth2", "virtual_router_id 9", "virtual_ipaddress { 192.0.2.12 }",
                        "unicast_peer { 192.0.2.1 }", name="VI_4")
        + instance_text("interface eth2", "virtual_router_id 9", "virtual_ipaddress { 192.0.2.13 }",
                        "unicast_peer { 192.0.2.2 }", name="VI_5")
    )))
    assert [(i.name, i.interface, i.family, i.virtual_router_id) for i in config.instances] == [
        ("VI_1", "eth0", 4, 51),
        ("VI_2", "eth1", 4, 51),
        ("VI_3", "eth0", 6, 51),
        ("VI_4", "eth2", 4, 9),
        ("VI_5", "eth2", 4, 9),
    ]


def test_duplicate_names_and_sync_group_members(tmp_path):
    assert refused(
        tmp_path,
        instance_text(*BASE)
        + instance_text(*BASE)
        + "vrrp_sync_group G1 {\n    group {\n        VI_1 VI_9\n    }\n}\n"
        + "vrrp_sync_group G2 {\n    group { VI_1 }\n}\n"
        + "vrrp_sync_group G3 {\n    notify_master /x\n}\n",
    ) == [
        ("keepalived.conf", 8, "error", "vrrp_instance VI_1 is defined twice; rename one of them"),
        ("keepalived.conf", 17, "error", "vrrp_sync_group G1 names vrrp_instance VI_9, which is not defined (known: "
                                         "VI_1); fix the name or define the instance"),
        ("keepalived.conf", 21, "error", "vrrp_instance VI_1 is already in vrrp_sync_group G1; an instance can be "
                                         "in one group only"),
        ("keepalived.conf", 23, "error", "vrrp_sync_group G3 has no group; write `group { VI_1 VI_2 }` in it"),
    ]


def test_vrrp_script_errors(tmp_path):
    assert refused(
        tmp_path,
        "vrrp_script chk {\n    interval 0\n    rise 0\n    weight 300 sideways\n}\n",
    ) == [
        ("keepalived.conf", 1, "error", "vrrp_script chk has no script; write `script \"/path/to/check\"` in it"),
        ("keepalived.conf", 2, "error", "interval 0 is out of range 0.001..86400 seconds; write a number of seconds "
                                        "between 0.001 and 86400"),
        ("keepalived.conf", 3, "error", "rise 0 is out of range 1..2147483647; write a number between 1 and "
                                        "2147483647"),
        ("keepalived.conf", 4, "error", "weight 300 is out of range -253..253; write a number between -253 and 253"),
        ("keepalived.conf", 4, "warning", "'sideways' after the weight is not reverse or noreverse; ignored"),
    ]


# --- warnings ----------------------------------------------------------------------------------


def test_warnings_for_unknown_ignored_and_cleared_settings(tmp_path):
    path = write(
        tmp_path,
        """\
        global_defs {
            notification_email {
                admin@example.com
            }
            vrrp_frobnicate 1
        }
        virtual_server 192.0.2.10 80 {
            real_server 192.0.2.20 80 {
                TCP_CHECK { connect_timeout 3 }
            }
        }
        static_ipaddress {
            192.0.2.99/24 dev eth0
        }
        vrrp_track_process haproxy { process haproxy }
        frobnicate
        vrrp_instance VI_1 {
            state MASTER
            interface eth0
            virtual_router_id 51
            nopreempt
            preempt_delay 5
            use_vmac
            colour blue
            virtual_ipaddress {
                192.0.2.10/24 brd 192.0.2.255 noprefixroute
            }
            track_interface {
                eth0
                eth1 wheight 3
            }
            authentication {
                auth_type PASS
                auth_pass 123456789
            }
            notify_master /bin/script.sh arg1 arg2 arg3
            priority 10
            priority 20
        }
        vrrp_instance VI_2 {
            priority 255
            nopreempt
            interface eth0
            virtual_router_id 52
            virtual_ipaddress { 192.0.2.11 }
        }
        """,
    )
    config = load_config(path)
    assert findings(config.warnings) == [
        ("keepalived.conf", 2, "warning", "'notification_email' is a keepalived keyword fastvrrp does not "
                                          "implement; ignored"),
        ("keepalived.conf", 5, "warning", "unknown keyword 'vrrp_frobnicate' in global_defs; ignored"),
        ("keepalived.conf", 7, "warning", "'virtual_server' is not VRRP configuration; fastvrrp skips it"),
        ("keepalived.conf", 12, "warning", "'static_ipaddress' is not VRRP configuration; fastvrrp skips it"),
        ("keepalived.conf", 15, "warning", "'vrrp_track_process' is a keepalived section fastvrrp does not "
                                           "implement; skipped"),
        ("keepalived.conf", 16, "warning", "unknown keyword 'frobnicate' in the top level; ignored"),
        ("keepalived.conf", 21, "warning", "nopreempt does not work with state MASTER; ignored, as keepalived does; "
                                           "write `state BACKUP` to keep nopreempt"),
        ("keepalived.conf", 22, "warning", DELAY_WITH_MASTER),
        ("keepalived.conf", 23, "warning", "'use_vmac' is a keepalived keyword fastvrrp does not implement; ignored"),
        ("keepalived.conf", 24, "warning", "unknown keyword 'colour' in vrrp_instance VI_1; ignored"),
        ("keepalived.conf", 26, "warning", "virtual address option 'brd' is not implemented by fastvrrp; ignored"),
        ("keepalived.conf", 26, "warning", "virtual address option 'noprefixroute' is not implemented by fastvrrp; "
                                           "ignored"),
        ("keepalived.conf", 29, "warning", "track_interface eth0 is vrrp_instance VI_1's own interface, tracked "
                                           "already; ignored"),
        ("keepalived.conf", 30, "warning", "'wheight' after interface eth1 is not `weight N`; ignored"),
        ("keepalived.conf", 34, "warning", "auth_pass is longer than 8 characters; only '12345678' is used"),
        ("keepalived.conf", 36, "warning", "notify_master takes a command, a user and a group; to pass arguments "
                                           "quote the command: "
                                           "`notify_master \"/bin/script.sh arg1 arg2 arg3\"`"),
        ("keepalived.conf", 38, "warning", "priority given again (first at line 37); the last one counts"),
        ("keepalived.conf", 42, "warning", "nopreempt has no effect with priority 255: the address owner always "
                                           "takes over "
                                           "(RFC 5798 §6.4.2); ignored, as keepalived does"),
    ]
    vi1, vi2 = config.instances
    assert (vi1.state, vi1.priority, vi1.preempt, vi1.preempt_delay_s) == ("MASTER", 20, True, 0.0)
    assert vi1.track_interfaces == (TrackedInterface("eth1"),)
    assert vi1.authentication.key == b"12345678"
    assert vi1.virtual_ipaddress == (VirtualAddress(ip_interface("192.0.2.10/24"), "eth0"),)
    assert (vi2.state, vi2.priority, vi2.preempt) == ("MASTER", 255, True)


# --- fastvrrp check ----------------------------------------------------------------------------


def run_check(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastvrrp", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO)},
        timeout=60,
    )


def test_check_prints_the_model(tmp_path):
    write(tmp_path, (DATA / "experiment-master.conf").read_text())
    result = run_check(tmp_path, "-f", "keepalived.conf")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == textwrap.dedent("""\
        global_defs: router_id LVS_201-1, vrrp_version 2, garp master delay 5 s repeat 5 refresh off

        vrrp_instance VIP_test_1 (keepalived.conf:7)
          state:      MASTER
          interface:  em1
          VRID:       150
          priority:   100
          version:    VRRPv2 (IPv4)
          interval:   1000 ms
          preempt:    yes
          accept:     yes
          auth:       PASS
          VIPs:       10.0.201.100/32 dev em1
          garp:       delay 5 s, repeat 5, refresh off
          tracking:   none
          notify:     none
        """)


def test_check_refuses_the_scripts_run_would_refuse(tmp_path):
    """`fastvrrp check` passes only what `fastvrrp run` starts with: missing, non-executable, insecure scripts."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    scripts.chmod(0o755)
    plain = scripts / "plain.sh"
    plain.write_text("#!/bin/sh\n")
    loose = scripts / "loose.sh"
    loose.write_text("#!/bin/sh\n")
    loose.chmod(0o757)
    path = tmp_path / "keepalived.conf"
    path.write_text(textwrap.dedent(f"""\
        global_defs {{
            enable_script_security
            notify_fifo {tmp_path}/events.fifo
            notify_fifo_script {scripts}/missing.sh
        }}
        vrrp_script chk {{
            script "{plain} --quick"
        }}
        vrrp_instance VI_1 {{
            interface em1
            virtual_router_id 1
            track_script {{ chk }}
            notify_master {loose}
            notify_fault /bin/true
            virtual_ipaddress {{ 10.0.0.1 }}
            smtp_alert
        }}
        """))
    out, err = io.StringIO(), io.StringIO()
    assert check_command(str(path), out, err) == 1
    assert out.getvalue() == ""
    assert err.getvalue().splitlines() == [
        (f"{path}:4: error: global_defs notify_fifo_script: script '{scripts}/missing.sh' does not exist; "
         "write the full path of an executable"),
        (f"{path}:7: error: vrrp_script chk: script {plain} is not an executable file; "
         f"`chmod 755 {plain}` or fix the path"),
        (f"{path}:13: error: vrrp_instance VI_1: script {loose} is insecure with enable_script_security: "
         f"{loose} is writable by everyone; make it and its directories root-owned and writable only by root"),
        f"{path}:16: warning: 'smtp_alert' is a keepalived keyword fastvrrp does not implement; ignored",
        f"{path}: 3 errors, 1 warning",
    ]
    out, err = io.StringIO(), io.StringIO()
    assert check_command(str(path), out, err, scripts=False) == 0 and "vrrp_instance VI_1" in out.getvalue()
    result = subprocess.run([sys.executable, "-m", "fastvrrp", "check", "-f", str(path)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 1 and "3 errors, 1 warning" in result.stderr
    result = subprocess.run([sys.executable, "-m", "fastvrrp", "check", "--skip-scripts", "-f", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_check_prints_every_part_of_a_full_config():
    out, err = io.StringIO(), io.StringIO()
    path = DATA / "full.conf"
    assert check_command(str(path), out, err, scripts=False) == 0, "its scripts are another host's"
    assert err.getvalue() == f"{path}:81: warning: {DELAY_WITH_MASTER}\n"
    assert out.getvalue() == textwrap.dedent(f"""\
        global_defs: router_id lb1, vrrp_version 3, garp master delay 2 s repeat 3 refresh every 60 s

        vrrp_instance VI_4 ({path}:27)
          state:      BACKUP
          interface:  eth1
          VRID:       10
          priority:   150
          version:    VRRPv3 (IPv4)
          interval:   100 ms
          preempt:    no (nopreempt)
          accept:     yes
          auth:       none
          VIPs:       192.0.2.10/32 dev eth1, 192.0.2.11/24 dev eth2 label eth2:1 scope global
          excluded:   2001:db8::5/64 dev eth1
          unicast:    to 192.0.2.3, 192.0.2.4 from 192.0.2.2
          garp:       delay 1 s, repeat 2, refresh every 30 s
          tracking:   interface eth3 (fault)
                      interface eth4 weight -10
                      interface eth5 weight +20 reverse
                      script chk_haproxy weight -30 reverse
                      script chk_disk weight +5
          notify:     master '/etc/keepalived/master.sh'
                      backup '/etc/keepalived/state.sh backup'
                      fault '/etc/keepalived/state.sh fault'
                      stop '/etc/keepalived/stop.sh'
                      any '/etc/keepalived/notify.sh'

        vrrp_instance VI_6 ({path}:72)
          state:      MASTER
          interface:  eth1
          VRID:       10
          priority:   255
          version:    VRRPv3 (IPv6)
          interval:   1000 ms
          preempt:    yes
          accept:     no
          auth:       none
          VIPs:       fe80::10/128 dev eth1, 2001:db8::10/64 dev eth1
          garp:       delay 2 s, repeat 3, refresh every 60 s
          tracking:   none
          notify:     none

        vrrp_instance VI_2 ({path}:83)
          state:      BACKUP
          interface:  eth1
          VRID:       20
          priority:   100
          version:    VRRPv2 (IPv4)
          interval:   2000 ms
          preempt:    yes, delay 10 s
          accept:     yes
          auth:       PASS
          VIPs:       198.51.100.1/32 dev eth1
          garp:       delay 2 s, repeat 3, refresh every 60 s
          tracking:   none
          notify:     none

        vrrp_script chk_haproxy: '/usr/bin/killall -0 haproxy' every 0.5 s, timeout 2 s, weight -30 reverse, rise 2, fall 3

        vrrp_script chk_disk: '/usr/local/bin/chk_disk' every 1 s, timeout 1 s, weight 0, rise 1, fall 1

        vrrp_sync_group G1: VI_4, VI_6
          tracking:   interface eth9 (fault)
                      script chk_disk (fault)
          notify:     master '/etc/keepalived/group.sh master'
                      any '/etc/keepalived/group.sh'
        """)


def test_full_data_file_is_the_one_tested_above():
    assert (DATA / "full.conf").read_text() == FULL


def test_check_reports_errors_with_exit_1(tmp_path):
    write(tmp_path, instance_text("interface eth0", "virtual_router_id 300", "virtual_ipaddress { 192.0.2.10 }",
                                  "bogus"))
    result = run_check(tmp_path, "-f", "keepalived.conf")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "keepalived.conf:3: error: virtual_router_id 300 is out of range 1..255; write a number between 1 and 255\n"
        "keepalived.conf:5: warning: unknown keyword 'bogus' in vrrp_instance VI_1; ignored\n"
        "keepalived.conf: 1 error, 1 warning\n"
    )


def test_check_missing_file_exits_2(tmp_path):
    result = run_check(tmp_path, "-f", "absent.conf")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "absent.conf: cannot read it (No such file or directory)\n"


def test_load_config_raises_oserror_for_a_missing_main_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "absent.conf")


def test_config_error_message_lists_every_diagnostic(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, instance_text("virtual_router_id 1", "virtual_ipaddress { 192.0.2.1 }", "x")))
    path = tmp_path / "keepalived.conf"
    assert str(caught.value) == (
        f"{path}:1: error: vrrp_instance VI_1 has no interface; write `interface eth0` in it (the link to the other "
        "routers)\n"
        f"{path}:4: warning: unknown keyword 'x' in vrrp_instance VI_1; ignored"
    )



def test_broken_blocks_are_not_reported_again_where_they_are_named(tmp_path):
    assert refused(
        tmp_path,
        'vrrp_script chk {\n    script\n}\n'
        + instance_text(*BASE, "track_script { chk }")
        + instance_text("interface eth0", name="VI_2")
        + "vrrp_sync_group G {\n    group { VI_1 VI_2 }\n}\n",
    ) == [
        ("keepalived.conf", 2, "error", 'script needs a command; write `script "/path/to/script arg"`'),
        ("keepalived.conf", 12, "error", NO_VRID.replace("VI_1", "VI_2")),
        ("keepalived.conf", 12, "error", "vrrp_instance VI_2 has no virtual_ipaddress; "
                                         "write `virtual_ipaddress { 10.0.0.100/24 }` in it"),
    ]


FRAGMENTS = st.sampled_from([
    "vrrp_instance", "VI_1", "global_defs", "vrrp_script", "vrrp_sync_group", "group", "{", "}", "\n", " ", "!",
    "#", '"', "'", "\\", "interface", "eth0", "virtual_router_id", "51", "300", "virtual_ipaddress", "192.0.2.1",
    "fe80::1/64", "dev", "label", "priority", "advert_int", "0.5", "version", "3", "state", "MASTER", "nopreempt",
    "authentication", "auth_type", "PASS", "auth_pass", "track_script", "weight", "-2", "reverse", "include",
    "notify", "unicast_peer", "min_ttl", "x",
])


@given(st.lists(FRAGMENTS, max_size=60).map("".join))
def test_any_text_gives_a_config_or_a_config_error(text):
    """Whatever a user writes, the answer is a model or located diagnostics, never a traceback."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "keepalived.conf"
        path.write_text(text)
        try:
            config = load_config(path)
        except ConfigError as e:
            assert e.diagnostics and all(d.severity in ("error", "warning") and d.line >= 1 for d in e.diagnostics)
        else:
            assert all(d.severity == "warning" for d in config.warnings)


def test_commands_must_split_into_arguments(tmp_path):
    assert refused(
        tmp_path,
        "vrrp_script chk {\n    script \"/bin/it's\"\n    user\n}\n"
        + instance_text(*BASE, "notify_master \"\"", "track_script { chk }"),
    ) == [
        ("keepalived.conf", 2, "error", "script \"/bin/it's\" has an unbalanced quote; keep single quotes in pairs "
                                        "inside the command"),
        ("keepalived.conf", 3, "error", "user needs a user name; write `user keepalived_script`"),
        ("keepalived.conf", 11, "error", 'notify_master needs a command; write `notify_master "/path/to/script arg"`'),
    ]


def test_sync_group_tracking_weight(tmp_path):
    """keepalived: members of a sync group go to FAULT on a failed tracked object, whatever its
    weight, unless the group says `sync_group_tracking_weight`; then the weights apply."""
    from fastvrrp.runtime import tracking

    text = (
        instance_text(*BASE, "track_interface {", "    eth1 weight -20", "}")
        + "vrrp_sync_group G1 {\n    group {\n        VI_1\n    }\n    track_interface {\n        eth2 weight 10\n    }\n"
    )
    plain = load_config(write(tmp_path, text + "}\n"))
    weighted = load_config(write(tmp_path, text + "    sync_group_tracking_weight\n}\n"))
    assert [g.tracking_weight for g in (*plain.sync_groups, *weighted.sync_groups)] == [False, True]
    assert not plain.warnings and not weighted.warnings
    weights = {
        name: {t.key: t.weight for t in tracking(config.instances[0], config.sync_groups[0])}
        for name, config in (("plain", plain), ("weighted", weighted))
    }
    assert weights == {
        "plain": {"interface:eth1": 0, "interface:eth2": 0},
        "weighted": {"interface:eth1": -20, "interface:eth2": 10},
    }


def test_process_settings_are_read_as_keepalived_names_them(tmp_path):
    text = (
        "global_defs {\n    vrrp_priority -5\n    vrrp_rt_priority 20\n    vrrp_rlimit_rttime 5000\n"
        "    vrrp_no_swap\n    vrrp_cpu_affinity 1 0\n    log_unknown_vrids\n}\n" + instance_text(*BASE)
    )
    config = load_config(write(tmp_path, text))
    assert config.warnings == ()
    defs = config.global_defs
    assert (defs.vrrp_priority, defs.vrrp_rt_priority, defs.vrrp_rlimit_rttime_us) == (-5, 20, 5000)
    assert defs.vrrp_no_swap and defs.vrrp_cpu_affinity == (0, 1) and defs.log_unknown_vrids
    assert not GlobalDefs().log_unknown_vrids, "keepalived's default: quiet"
    assert GlobalDefs().vrrp_rlimit_rttime_us == 10_000, "keepalived's default"


def test_process_settings_out_of_range_name_line_and_fix(tmp_path):
    text = "global_defs {\n    vrrp_rt_priority 100\n    vrrp_priority -21\n    vrrp_cpu_affinity one\n}\n"
    assert refused(tmp_path, text + instance_text(*BASE)) == [
        ("keepalived.conf", 2, "error", "vrrp_rt_priority 100 is out of range 1..99; write a number between 1 and 99"),
        ("keepalived.conf", 3, "error", "vrrp_priority -21 is out of range -20..19; write a number between -20 and 19"),
        ("keepalived.conf", 4, "error",
         "vrrp_cpu_affinity 'one' is not a whole number; write a number between 0 and 4095"),
    ]  # fmt: skip
