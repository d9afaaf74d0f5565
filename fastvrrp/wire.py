"""The VRRP codec: the Cython twin `_wire` when it is built, else the reference `_wire_py`.

`IMPLEMENTATION` says which one answered ("cython" or "python").  `FASTVRRP_NO_EXTENSIONS=1`
forces the reference, as it does at build time.
"""

from __future__ import annotations

from . import twins
from .advert import (  # noqa: F401  (re-exported: the contract)
    ADDR_LIST_ERR,
    CHECKSUM_MESSAGE,
    CHECKSUM_PSEUDO_HEADER,
    REASON_CODES,
    REASONS,
    RECORD_FORMAT,
    RECORD_SIZE,
    RESULT_OK,
    Advert,
    AdvertError,
    Expected,
    check_advert,
    pack_table,
    password_key,
)
from .announce import build_garp, build_unsolicited_na

_twin, IMPLEMENTATION = twins.load("wire")
build_advert = _twin.build_advert
build_ipv4_packet = _twin.build_ipv4_packet
checksum = _twin.checksum
parse_ipv4 = _twin.parse_ipv4
parse_ipv6 = _twin.parse_ipv6
parse_vrrp = _twin.parse_vrrp
validate_batch = _twin.validate_batch

__all__ = [
    "IMPLEMENTATION",
    "Advert",
    "AdvertError",
    "Expected",
    "build_advert",
    "build_garp",
    "build_ipv4_packet",
    "build_unsolicited_na",
    "check_advert",
    "checksum",
    "pack_table",
    "parse_ipv4",
    "parse_ipv6",
    "parse_vrrp",
    "validate_batch",
]
