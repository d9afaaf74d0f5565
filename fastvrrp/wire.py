"""The VRRP codec: the Cython twin `_wire` when it is built, else the reference `_wire_py`.

`IMPLEMENTATION` says which one answered ("cython" or "python").  `FASTVRRP_NO_EXTENSIONS=1`
forces the reference, as it does at build time.
"""

from __future__ import annotations

import os

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

NO_EXTENSIONS = bool(os.environ.get("FASTVRRP_NO_EXTENSIONS"))

if NO_EXTENSIONS:
    from ._wire_py import build_advert, build_ipv4_packet, checksum, parse_ipv4, parse_ipv6, parse_vrrp, validate_batch

    IMPLEMENTATION = "python"
else:
    try:
        from ._wire import build_advert, build_ipv4_packet, checksum, parse_ipv4, parse_ipv6, parse_vrrp, validate_batch
    except ImportError:
        from ._wire_py import build_advert, build_ipv4_packet, checksum, parse_ipv4, parse_ipv6, parse_vrrp, validate_batch

        IMPLEMENTATION = "python"
    else:
        IMPLEMENTATION = "cython"

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
