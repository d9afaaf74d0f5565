# cython: language_level=3
"""The Cython twin of `_wire_py`: the same functions, results and exceptions, at line rate.

The contract (`Advert`, `AdvertError`, the reasons, the table and record layouts) is imported
from `fastvrrp.advert`, never redefined.  The checks run in the reference's order, so the first
one that fails names the same reason.  The parsers take packet bytes only through a
bounds-checked cursor (`_take`), so no read can pass the end of a buffer.  `validate_batch` runs
the same C checks over many packets and makes no Python object per packet.
"""

from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND, PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_CheckExact
from cpython.long cimport PyLong_AsLongAndOverflow, PyLong_Check
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_New, PyTuple_SET_ITEM
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

import struct
from array import array

from fastvrrp import _wire_py
from fastvrrp.advert import (
    AUTH_DATA_LEN,
    AUTH_NONE,
    CHECKSUM_MESSAGE,
    CHECKSUM_PSEUDO_HEADER,
    IPPROTO_AH,
    IPPROTO_VRRP,
    REASON_CODES,
    REASONS,
    RECORD_FORMAT,
    RECORD_SIZE,
    TABLE_CONFIGURED,
    TABLE_RECORD,
    TABLE_REQUIRE_LL,
    TYPE_ADVERTISEMENT,
    VRRP_TTL,
    Advert,
    AdvertError,
    password_key,
)

__all__ = [
    "build_advert",
    "build_ipv4_packet",
    "checksum",
    "parse_ipv4",
    "parse_ipv6",
    "parse_vrrp",
    "validate_batch",
]


cdef enum:
    VRRP_HEADER = 8         # ver/type, vrid, priority, count, auth/interval, checksum
    IPV4_HEADER = 20
    AUTH_LEN = 8
    PROTO_VRRP = 112
    PROTO_AH = 51
    TTL = 255
    ADVERTISEMENT = 1
    AUTH_TYPE_PASS = 1
    AUTH_TYPE_AH = 2
    RECORD_BYTES = 8
    TABLE_BYTES = 16
    TABLE_LEN = 256 * 16
    FLAG_CONFIGURED = 0x01
    FLAG_REQUIRE_LL = 0x02
    FORM_MESSAGE = 0
    FORM_PSEUDO = 1

# Batch result codes: REASONS[code - 1]; checked against the contract when the module loads.
cdef enum:
    CODE_OK = 0
    CODE_IP_TTL_ERR
    CODE_PACKET_LEN_ERR
    CODE_IP_HDR_ERR
    CODE_AH_UNSUPPORTED
    CODE_VERS_ERR
    CODE_INVALID_TYPE_RCVD
    CODE_ADDR_COUNT_ERR
    CODE_CHK_ERR
    CODE_INVALID_AUTHTYPE
    CODE_ADVERT_INTERVAL_ERR
    CODE_VRID_ERR
    CODE_AUTHTYPE_MISMATCH
    CODE_AUTH_FAILURE
    CODE_IPV6_LL_ERR


def _check_contract() -> None:
    """Refuse to load if `advert` moved a constant this module compiled in: a silent mismatch
    would make the twins disagree."""
    codes = {
        "ip_ttl_err": CODE_IP_TTL_ERR,
        "packet_len_err": CODE_PACKET_LEN_ERR,
        "ip_hdr_err": CODE_IP_HDR_ERR,
        "ah_unsupported": CODE_AH_UNSUPPORTED,
        "vers_err": CODE_VERS_ERR,
        "invalid_type_rcvd": CODE_INVALID_TYPE_RCVD,
        "addr_count_err": CODE_ADDR_COUNT_ERR,
        "chk_err": CODE_CHK_ERR,
        "invalid_authtype": CODE_INVALID_AUTHTYPE,
        "advert_interval_err": CODE_ADVERT_INTERVAL_ERR,
        "vrid_err": CODE_VRID_ERR,
        "authtype_mismatch": CODE_AUTHTYPE_MISMATCH,
        "auth_failure": CODE_AUTH_FAILURE,
        "ipv6_ll_err": CODE_IPV6_LL_ERR,
    }
    theirs = [AUTH_DATA_LEN, IPPROTO_VRRP, IPPROTO_AH, VRRP_TTL, TYPE_ADVERTISEMENT, RECORD_SIZE,
              RECORD_FORMAT.size, TABLE_RECORD, TABLE_CONFIGURED, TABLE_REQUIRE_LL]
    ours = [AUTH_LEN, PROTO_VRRP, PROTO_AH, TTL, ADVERTISEMENT, RECORD_BYTES,
            RECORD_BYTES, TABLE_BYTES, FLAG_CONFIGURED, FLAG_REQUIRE_LL]
    if codes != REASON_CODES or ours != theirs:
        raise ImportError("fastvrrp._wire was compiled against another fastvrrp.advert: rebuild it")


_check_contract()

cdef object _ADVERT = Advert
cdef object _ADVERT_ERROR = AdvertError
cdef tuple _REASONS = REASONS
cdef object _MESSAGE = CHECKSUM_MESSAGE
cdef object _PSEUDO = CHECKSUM_PSEUDO_HEADER
cdef object _IPV4 = struct.Struct("!BBHHHBBH4s4s")

cdef extern from *:
    """
    /* tuple.__new__(cls, fields) through the C slot: a Python-level call of a cached
       tuple.__new__ measured 22-34 ns slower per Advert. */
    static PyObject *fastvrrp_tuple_subclass_new(PyObject *cls, PyObject *fields) {
        PyObject *args = PyTuple_Pack(1, fields);
        if (args == NULL) return NULL;
        PyObject *result = PyTuple_Type.tp_new((PyTypeObject *)cls, args, NULL);
        Py_DECREF(args);
        return result;
    }
    """
    object _tuple_subclass_new "fastvrrp_tuple_subclass_new"(object cls, object fields)


# ---- bytes in ----------------------------------------------------------------------------

cdef struct _Bytes:
    const unsigned char* data
    Py_ssize_t size
    bint held               # `view` was acquired and must be released
    Py_buffer view


cdef inline int _open(object obj, _Bytes* b, int flags=PyBUF_SIMPLE) except -1:
    """Point `b` at the bytes of `obj`: directly for `bytes`, through the buffer protocol else."""
    if PyBytes_CheckExact(obj) and not flags & PyBUF_WRITABLE:
        b.data = <const unsigned char*>PyBytes_AS_STRING(obj)
        b.size = PyBytes_GET_SIZE(obj)
        b.held = False
        return 0
    PyObject_GetBuffer(obj, &b.view, flags)
    b.held = True
    b.data = <const unsigned char*>b.view.buf
    b.size = b.view.len
    return 0


cdef inline void _close(_Bytes* b) noexcept:
    if b.held:
        b.held = False
        PyBuffer_Release(&b.view)


cdef inline unsigned int _be16(const unsigned char* p) noexcept nogil:
    return (<unsigned int>p[0] << 8) | p[1]


# ---- RFC 1071 checksum -------------------------------------------------------------------
# One's-complement addition does not care about byte order (RFC 1071 §2(B)): add the message
# as native 64-bit words with end-around carry, fold once at the end.  A folded native sum of
# 0xFFFF (byte-symmetric) means the checksum verifies, and `~fold` stored natively is the
# checksum field in network order.

cdef inline uint64_t _add(uint64_t total, uint64_t word) noexcept nogil:
    """One's-complement 64-bit addition: the carry out goes back in (2**64 = 1 modulo 0xFFFF)."""
    total += word
    return total + (total < word)


cdef inline uint64_t _sum(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """Unfolded sum of `n` bytes; an odd last byte is padded with zero.  Adverts are 12 to
    4088 bytes: a plain word loop beats vector code on the common 12-24 byte case."""
    cdef uint64_t total = 0, word = 0
    cdef uint32_t word32
    cdef uint16_t word16
    cdef unsigned char tail[2]
    while n >= 8:
        memcpy(&word, p, 8)
        total = _add(total, word)
        p += 8
        n -= 8
    if n >= 4:
        memcpy(&word32, p, 4)
        total = _add(total, word32)
        p += 4
        n -= 4
    if n >= 2:
        memcpy(&word16, p, 2)
        total = _add(total, word16)
        p += 2
        n -= 2
    if n:
        tail[0] = p[0]
        tail[1] = 0
        memcpy(&word16, tail, 2)
        total = _add(total, word16)
    return total


cdef inline uint16_t _fold(uint64_t total) noexcept nogil:
    """Fold the carries back in: 0 only for an all-zero input, like the reference's loop."""
    total = (total & 0xFFFFFFFFU) + (total >> 32)
    total = (total & 0xFFFFFFFFU) + (total >> 32)
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return <uint16_t>total


cdef extern from "arpa/inet.h" nogil:
    uint16_t htons(uint16_t value)
    uint16_t ntohs(uint16_t value)


cdef inline uint64_t _pseudo_sum(const unsigned char* src, const unsigned char* dst, int alen,
                                 Py_ssize_t size) noexcept nogil:
    """Sum of the IPv4 (RFC 768 style) or IPv6 (RFC 8200 §8.1) pseudo-header, next header 112.

    Past the addresses both hold, as big-endian 16-bit words, the length (< 65536 here) and the
    protocol, plus zeros; `htons` gives each word as `_sum` would have loaded it.
    """
    cdef uint64_t tail = <uint64_t>htons(<uint16_t>size) + htons(PROTO_VRRP)
    if alen == 4:
        return _add(_add(_sum(src, 4), _sum(dst, 4)), tail)
    return _add(_add(_sum(src, 16), _sum(dst, 16)), tail)


def checksum(data) -> int:
    """RFC 1071 Internet checksum of `data` (odd length padded with a zero byte)."""
    cdef _Bytes b
    _open(data, &b)
    try:
        return ~ntohs(_fold(_sum(b.data, b.size))) & 0xFFFF
    finally:
        _close(&b)


# ---- the checks --------------------------------------------------------------------------

# The unread part of a packet: the parsers take its bytes only through `_take`.
cdef struct _Cursor:
    const unsigned char* at
    Py_ssize_t left


cdef inline const unsigned char* _take(_Cursor* c, Py_ssize_t n) noexcept nogil:
    """The next `n` (>= 0) bytes, or NULL (and nothing consumed) if fewer are left."""
    cdef const unsigned char* start = c.at
    if n > c.left:
        return NULL
    c.at += n
    c.left -= n
    return start


cdef struct _Fields:
    const unsigned char* addresses      # count * alen bytes
    const unsigned char* auth           # v2: the 8 auth bytes; v3: NULL
    int alen
    int version
    int vrid
    int priority
    int count
    int interval_cs
    int auth_type
    int form


cdef inline int _check_vrrp(const unsigned char* m, Py_ssize_t size, const unsigned char* src,
                            const unsigned char* dst, int alen, _Fields* f) noexcept nogil:
    """`_wire_py.parse_vrrp`'s checks, same order; 0 or the first failing reason's code.

    `alen` is 4 or 16, and `src`, `dst` hold that many bytes (the callers checked).
    """
    cdef _Cursor c = _Cursor(m, size)
    cdef const unsigned char* head = _take(&c, VRRP_HEADER)
    cdef uint64_t total
    cdef int version, count, auth_type, interval_cs, form
    if head == NULL:
        return CODE_PACKET_LEN_ERR
    version = head[0] >> 4
    if version != 2 and version != 3:
        return CODE_VERS_ERR
    if head[0] & 0x0F != ADVERTISEMENT:
        return CODE_INVALID_TYPE_RCVD
    if version == 2 and alen != 4:
        return CODE_VERS_ERR
    count = head[3]
    if count == 0:
        return CODE_ADDR_COUNT_ERR
    if c.left != count * alen + (AUTH_LEN if version == 2 else 0):
        return CODE_PACKET_LEN_ERR
    f.addresses = _take(&c, count * alen)
    f.auth = _take(&c, AUTH_LEN) if version == 2 else NULL
    total = _sum(m, size)
    if version == 2:
        if _fold(total) != 0xFFFF:
            return CODE_CHK_ERR
        form = FORM_MESSAGE
        auth_type = head[4]
        interval_cs = head[5] * 100
        if auth_type == AUTH_TYPE_AH:
            return CODE_AH_UNSUPPORTED
        if auth_type > AUTH_TYPE_AH:
            return CODE_INVALID_AUTHTYPE
    else:
        if _fold(_add(total, _pseudo_sum(src, dst, alen, size))) == 0xFFFF:
            form = FORM_PSEUDO
        elif alen == 4 and _fold(total) == 0xFFFF:
            form = FORM_MESSAGE
        else:
            return CODE_CHK_ERR
        auth_type = 0
        interval_cs = _be16(head + 4) & 0x0FFF
    if interval_cs == 0:
        return CODE_ADVERT_INTERVAL_ERR
    f.alen = alen
    f.version = version
    f.vrid = head[1]
    f.priority = head[2]
    f.count = count
    f.interval_cs = interval_cs
    f.auth_type = auth_type
    f.form = form
    return CODE_OK


cdef inline int _check_ipv4(const unsigned char* p, Py_ssize_t size, _Fields* f) noexcept nogil:
    """`_wire_py.parse_ipv4`'s checks, same order; Ethernet padding past the total length is ignored."""
    cdef _Cursor c = _Cursor(p, size)
    cdef const unsigned char* header = _take(&c, IPV4_HEADER)
    cdef const unsigned char* message
    cdef Py_ssize_t ihl, total
    if header == NULL:
        return CODE_PACKET_LEN_ERR
    if header[0] >> 4 != 4:
        return CODE_IP_HDR_ERR
    ihl = (header[0] & 0x0F) * 4
    total = _be16(header + 2)
    if ihl < IPV4_HEADER or total < ihl or total > size:
        return CODE_PACKET_LEN_ERR
    if header[9] == PROTO_AH:
        return CODE_AH_UNSUPPORTED
    if header[9] != PROTO_VRRP:
        return CODE_IP_HDR_ERR
    if header[8] != TTL:
        return CODE_IP_TTL_ERR
    _take(&c, ihl - IPV4_HEADER)  # options
    message = _take(&c, total - ihl)
    return _check_vrrp(message, total - ihl, header + 12, header + 16, 4, f)


cdef inline bint _same_key(const unsigned char* a, const unsigned char* b) noexcept nogil:
    """Compare two 8-byte keys in constant time, as `hmac.compare_digest` in `check_advert`:
    one XOR of two words, no early exit."""
    cdef uint64_t x, y
    memcpy(&x, a, 8)
    memcpy(&y, b, 8)
    return (x ^ y) == 0


cdef inline int _check_config(const _Fields* f, const unsigned char* table) noexcept nogil:
    """`advert.check_advert` against the `pack_table` record of the advert's VRID, same order."""
    cdef const unsigned char* record = table + f.vrid * TABLE_BYTES
    if not record[0] & FLAG_CONFIGURED:
        return CODE_VRID_ERR
    if f.version != record[1]:
        return CODE_VERS_ERR
    if f.version == 2:
        if f.auth_type != record[2]:
            return CODE_AUTHTYPE_MISMATCH
        if f.auth_type == AUTH_TYPE_PASS and not _same_key(f.auth, record + 8):
            return CODE_AUTH_FAILURE
        if <unsigned int>f.interval_cs != _be16(record + 4):
            return CODE_ADVERT_INTERVAL_ERR
    if record[0] & FLAG_REQUIRE_LL and f.alen == 16 and (f.addresses[0] != 0xFE or f.addresses[1] != 0x80):
        return CODE_IPV6_LL_ERR
    return CODE_OK


# ---- single packets ----------------------------------------------------------------------

cdef object _error(int code):
    return _ADVERT_ERROR(_REASONS[code - 1])


cdef object _advert(const _Fields* f, object source):
    """The `Advert` for checked fields: one tuple built here, one `tuple.__new__` call."""
    cdef tuple addresses = PyTuple_New(f.count)
    cdef const char* at = <const char*>f.addresses
    cdef Py_ssize_t i
    cdef object address, auth_data, fields
    for i in range(f.count):
        address = PyBytes_FromStringAndSize(at + i * f.alen, f.alen)
        Py_INCREF(address)
        PyTuple_SET_ITEM(addresses, i, address)
    if f.version == 2:
        auth_data = PyBytes_FromStringAndSize(<const char*>f.auth, AUTH_LEN)
    else:
        auth_data = b""
    fields = (f.version, f.vrid, f.priority, f.interval_cs, addresses, f.auth_type, auth_data,
              _PSEUDO if f.form == FORM_PSEUDO else _MESSAGE, source)
    return _tuple_subclass_new(_ADVERT, fields)


cdef Py_ssize_t _length(object value) except -1:
    return PyBytes_GET_SIZE(value) if PyBytes_CheckExact(value) else len(value)


def parse_vrrp(message, src, dst):
    """Decode and check one VRRP message whose IP source and destination are `src`, `dst` (packed).

    The packet-only receive checks of RFC 5798 §7.1 and RFC 3768 §7.1, in this order: length,
    version, type, family, count, exact length, checksum, auth type, interval.
    """
    cdef _Bytes m, s, d
    cdef _Fields f
    cdef int code
    cdef Py_ssize_t alen = _length(src)
    if (alen != 4 and alen != 16) or _length(dst) != alen:
        raise ValueError("src and dst must be packed addresses of one family (4 or 16 bytes)")
    m.held = s.held = d.held = False
    try:
        _open(message, &m)
        _open(src, &s)
        _open(dst, &d)
        if s.size != alen or d.size != alen:
            raise ValueError("src and dst must be packed addresses of one family (4 or 16 bytes)")
        code = _check_vrrp(m.data, m.size, s.data, d.data, <int>alen, &f)
        if code:
            raise _error(code)
        return _advert(&f, src)
    finally:
        _close(&d)
        _close(&s)
        _close(&m)


def parse_ipv4(packet):
    """Decode a whole IPv4 packet as a protocol-112 raw socket returns it.

    Checks the IP header (RFC 5798 §7.1: TTL 255; version 4, header and total length, protocol
    112, AH recognised), ignores Ethernet padding past the total length, then the VRRP checks.
    """
    cdef _Bytes b
    cdef _Fields f
    cdef int code
    _open(packet, &b)
    try:
        code = _check_ipv4(b.data, b.size, &f)
        if code:
            raise _error(code)
        return _advert(&f, PyBytes_FromStringAndSize(<const char*>b.data + 12, 4))
    finally:
        _close(&b)


def parse_ipv6(payload, src, dst, hop_limit):
    """Decode the VRRP payload of an IPv6 raw socket; `src`, `dst` (packed, 16 bytes) and
    `hop_limit` come from the ancillary data (IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT)."""
    cdef _Bytes m, s, d
    cdef _Fields f
    cdef int code
    if _length(src) != 16 or _length(dst) != 16:
        raise ValueError("src and dst must be packed IPv6 addresses")
    if hop_limit != TTL:
        raise _error(CODE_IP_TTL_ERR)
    m.held = s.held = d.held = False
    try:
        _open(payload, &m)
        _open(src, &s)
        _open(dst, &d)
        if s.size != 16 or d.size != 16:
            raise ValueError("src and dst must be packed IPv6 addresses")
        code = _check_vrrp(m.data, m.size, s.data, d.data, 16, &f)
        if code:
            raise _error(code)
        return _advert(&f, src if PyBytes_CheckExact(src) else bytes(src))
    finally:
        _close(&d)
        _close(&s)
        _close(&m)


# ---- building ----------------------------------------------------------------------------

cdef long _int_in(object value, long lo, long hi) except? -2:
    """`value` (an int) if `lo <= value <= hi`, else `lo - 1`: the reference's range checks, with
    no Python comparison."""
    cdef int overflow = 0
    cdef long v = PyLong_AsLongAndOverflow(value, &overflow)
    return v if not overflow and lo <= v <= hi else lo - 1


cdef int _copy_into(unsigned char* out, object value, Py_ssize_t size) except -1:
    """Copy exactly `size` bytes of `value`; a buffer that changed length since it was measured is misuse."""
    cdef _Bytes b
    if PyBytes_CheckExact(value) and PyBytes_GET_SIZE(value) == size:
        memcpy(out, PyBytes_AS_STRING(value), size)
        return 0
    _open(value, &b)
    try:
        if b.size != size:
            raise ValueError("addresses must all be packed IPv4 (4 bytes) or all IPv6 (16 bytes)")
        memcpy(out, b.data, size)
    finally:
        _close(&b)
    return 0


cdef int _copy_key(unsigned char* out, object password) except -1:
    """`password_key`: the first 8 bytes of the password, zero-padded (RFC 3768 §5.3.6.1)."""
    cdef _Bytes b
    if not PyBytes_CheckExact(password):
        password = password_key(password)
    memset(out, 0, AUTH_LEN)
    _open(password, &b)
    try:
        memcpy(out, b.data, min(b.size, <Py_ssize_t>AUTH_LEN))
    finally:
        _close(&b)
    return 0


def build_advert(version, vrid, priority, interval_cs, addresses, *, auth_type=AUTH_NONE, password=b"",
                 src=None, dst=None, checksum_form=CHECKSUM_PSEUDO_HEADER):
    """The VRRP message with its checksum, ready for a raw socket.

    v2 (RFC 3768 §5.3): IPv4 addresses, `interval_cs` a multiple of 100 (1..255 s), and an
    8-byte auth field (`password` truncated/zero-padded for auth type 1).  v3 (RFC 5798 §5.2):
    IPv4 or IPv6 addresses, `interval_cs` 1..4095; the pseudo-header checksum needs `src` and
    `dst` (packed), the message-only form (`checksum_form=CHECKSUM_MESSAGE`, IPv4 only) does not.
    Our own misuse raises ValueError, never AdvertError.
    """
    cdef Py_ssize_t count = len(addresses)
    cdef Py_ssize_t alen, size, i
    cdef long c_vrid, c_priority, c_interval, c_auth = 0
    cdef bint v2, pseudo
    cdef unsigned char* out
    cdef uint64_t total
    cdef uint16_t field
    cdef _Bytes s, d
    if not (PyLong_Check(vrid) and PyLong_Check(priority) and PyLong_Check(interval_cs) and PyLong_Check(auth_type)):
        # Floats and other numbers pass some of the reference's checks and fail others, in
        # struct.pack: running the reference itself gives its very result or exception.
        return _wire_py.build_advert(version, vrid, priority, interval_cs, addresses, auth_type=auth_type,
                                     password=password, src=src, dst=dst, checksum_form=checksum_form)
    if not 1 <= count <= 255:
        raise ValueError("an advert carries 1 to 255 addresses")
    c_vrid = _int_in(vrid, 0, 255)
    c_priority = _int_in(priority, 0, 255) if c_vrid >= 0 else -1
    if c_vrid < 0 or c_priority < 0:
        raise ValueError("vrid and priority are 0..255")
    items = addresses if PyTuple_CheckExact(addresses) or PyList_CheckExact(addresses) else tuple(addresses)
    alen = _length(items[0])
    for i in range(count):
        if (alen != 4 and alen != 16) or _length(items[i]) != alen:
            raise ValueError("addresses must all be packed IPv4 (4 bytes) or all IPv6 (16 bytes)")
    if version == 2:
        if alen != 4:
            raise ValueError("VRRPv2 carries IPv4 addresses only")
        c_interval = _int_in(interval_cs, 100, 25500)
        if c_interval < 100 or c_interval % 100:
            raise ValueError("VRRPv2 interval is 1..255 whole seconds")
        c_auth = _int_in(auth_type, 0, 1)
        if c_auth < 0:
            raise ValueError("VRRPv2 auth type must be 0 (none) or 1 (simple password)")
        v2, pseudo = True, False
    elif version == 3:
        c_interval = _int_in(interval_cs, 1, 0x0FFF)
        if c_interval < 1:
            raise ValueError("VRRPv3 interval is 1..4095 centiseconds")
        if auth_type != AUTH_NONE:
            raise ValueError("VRRPv3 has no authentication")
        if checksum_form is _PSEUDO or checksum_form == _PSEUDO:
            pseudo = True
        elif checksum_form == _MESSAGE:
            pseudo = False
        else:
            raise ValueError(f"unknown checksum form {checksum_form!r}")
        if not pseudo and alen == 16:
            raise ValueError("VRRPv3 over IPv6 always checksums the pseudo-header")
        v2 = False
    else:
        raise ValueError("version must be 2 or 3")
    if pseudo and (src is None or dst is None or _length(src) != alen or _length(dst) != alen):
        raise ValueError("the pseudo-header checksum needs packed src and dst of the addresses' family")

    size = VRRP_HEADER + count * alen + (AUTH_LEN if v2 else 0)
    message = PyBytes_FromStringAndSize(NULL, size)
    out = <unsigned char*>PyBytes_AS_STRING(message)
    out[0] = 0x21 if v2 else 0x31
    out[1] = <unsigned char>c_vrid
    out[2] = <unsigned char>c_priority
    out[3] = <unsigned char>count
    if v2:
        out[4] = <unsigned char>c_auth
        out[5] = <unsigned char>(c_interval // 100)
    else:
        out[4] = <unsigned char>(c_interval >> 8)
        out[5] = <unsigned char>(c_interval & 0xFF)
    out[6] = out[7] = 0
    for i in range(count):
        _copy_into(out + VRRP_HEADER + i * alen, items[i], alen)
    if v2:
        if c_auth == AUTH_TYPE_PASS:
            _copy_key(out + size - AUTH_LEN, password)
        else:
            memset(out + size - AUTH_LEN, 0, AUTH_LEN)
    total = _sum(out, size)
    if pseudo:
        s.held = d.held = False
        try:
            _open(src, &s)
            _open(dst, &d)
            if s.size != alen or d.size != alen:
                raise ValueError("the pseudo-header checksum needs packed src and dst of the addresses' family")
            total = _add(total, _pseudo_sum(s.data, d.data, <int>alen, size))
        finally:
            _close(&d)
            _close(&s)
    field = ~_fold(total)
    memcpy(out + 6, &field, 2)
    return message


def build_ipv4_packet(message, src, dst, ttl=VRRP_TTL, protocol=IPPROTO_VRRP):
    """An IPv4 packet around `message`, as a raw socket would return it (tests, fuzzing, the lab).

    The header is packed by the reference's own `struct` format, so odd arguments (a short
    `src`, a TTL of 300) give the very same bytes or `struct.error`; only the checksum and the
    copy are done here.
    """
    cdef _Bytes m
    cdef unsigned char* out
    cdef uint16_t field
    _open(message, &m)
    try:
        header = _IPV4.pack(0x45, 0xC0, IPV4_HEADER + m.size, 0, 0, ttl, protocol, 0, src, dst)
        packet = PyBytes_FromStringAndSize(NULL, IPV4_HEADER + m.size)
        out = <unsigned char*>PyBytes_AS_STRING(packet)
        memcpy(out, PyBytes_AS_STRING(header), IPV4_HEADER)
        memcpy(out + IPV4_HEADER, m.data, m.size)
    finally:
        _close(&m)
    field = ~_fold(_sum(out, IPV4_HEADER))
    memcpy(out + 10, &field, 2)
    return packet


# ---- many packets ------------------------------------------------------------------------

cdef struct _Ints:
    char* data
    int width               # bytes per item: 1, 2, 4 or 8
    bint signed


cdef inline int64_t _load(const _Ints* c, Py_ssize_t i) noexcept nogil:
    cdef uint8_t u8
    cdef uint16_t u16
    cdef uint32_t u32
    cdef int64_t i64
    if c.width == 4:
        memcpy(&u32, c.data + 4 * i, 4)
        return <int32_t>u32 if c.signed else u32
    if c.width == 1:
        u8 = <uint8_t>c.data[i]
        return <int8_t>u8 if c.signed else u8
    if c.width == 2:
        memcpy(&u16, c.data + 2 * i, 2)
        return <int16_t>u16 if c.signed else u16
    memcpy(&i64, c.data + 8 * i, 8)
    return i64


cdef inline void _store(const _Ints* c, Py_ssize_t i, int value) noexcept nogil:
    """Store a result code (0..14: fits every width)."""
    cdef uint16_t u16 = <uint16_t>value
    cdef uint32_t u32 = <uint32_t>value
    cdef uint64_t u64 = <uint64_t>value
    if c.width == 1:
        c.data[i] = <char>value
    elif c.width == 4:
        memcpy(c.data + 4 * i, &u32, 4)
    elif c.width == 2:
        memcpy(c.data + 2 * i, &u16, 2)
    else:
        memcpy(c.data + 8 * i, &u64, 8)


cdef class _Column:
    """One integer per packet, used in place when the object exports a buffer of C integers
    (array('I'), array('B'), bytearray, memoryview...).  Any other sequence (a list) goes through
    an array('q') copy, which `write_back` copies into the original for results."""

    cdef Py_buffer view
    cdef bint held
    cdef object source
    cdef object copy
    cdef _Ints ints
    cdef Py_ssize_t length

    def __cinit__(self, source, bint writable):
        cdef int flags = PyBUF_FORMAT | PyBUF_ND | (PyBUF_WRITABLE if writable else 0)
        self.source = source
        try:
            PyObject_GetBuffer(source, &self.view, flags)
        except (BufferError, TypeError):
            pass
        else:
            self.held = True
            if self._adopt():
                return
            PyBuffer_Release(&self.view)
            self.held = False
        self.copy = array("q", bytes(8 * len(source))) if writable else array("q", source)
        PyObject_GetBuffer(self.copy, &self.view, flags)
        self.held = True
        self._adopt()

    cdef bint _adopt(self):
        """Use the acquired buffer if it is one dimension of a C integer type."""
        cdef bytes code
        if self.view.ndim != 1 or self.view.format == NULL:
            return False
        code = self.view.format
        if code[:1] == b"@":
            code = code[1:]
        if len(code) != 1 or code not in b"bBhHiIlLqQ" or self.view.itemsize not in (1, 2, 4, 8):
            return False
        self.ints.data = <char*>self.view.buf
        self.ints.width = <int>self.view.itemsize
        self.ints.signed = code.islower()
        self.length = self.view.shape[0]
        return True

    cdef write_back(self, Py_ssize_t done):
        """Copy the first `done` results into a sequence that exported no buffer (or would fail like it)."""
        cdef Py_ssize_t i
        if self.copy is not None:
            for i in range(done):
                self.source[i] = self.copy[i]

    def __dealloc__(self):
        if self.held:
            PyBuffer_Release(&self.view)


cdef struct _Batch:
    const unsigned char* data
    Py_ssize_t size
    _Ints offsets
    _Ints lengths
    _Ints results
    _Ints hop_limits
    const unsigned char* addrs      # family 6: 32 bytes (src, dst) per packet
    const unsigned char* table      # NULL: packet checks only
    unsigned char* records          # NULL: no records wanted
    int family


cdef inline void _write_record(unsigned char* out, const _Fields* f) noexcept nogil:
    """`advert.RECORD_FORMAT`: vrid, priority, version, count, interval_cs (big-endian), form, pad."""
    out[0] = <unsigned char>f.vrid
    out[1] = <unsigned char>f.priority
    out[2] = <unsigned char>f.version
    out[3] = <unsigned char>f.count
    out[4] = <unsigned char>(f.interval_cs >> 8)
    out[5] = <unsigned char>(f.interval_cs & 0xFF)
    out[6] = <unsigned char>f.form
    out[7] = 0


cdef Py_ssize_t _run_batch(const _Batch* b, Py_ssize_t n, Py_ssize_t* valid) noexcept nogil:
    """Check packets 0..n-1; returns n, or the index of the first packet outside the buffer.

    The batch is copied into locals first: results and records are written through `char*`,
    which may alias anything, and would make the compiler reload every field per packet.
    """
    cdef _Ints offsets = b.offsets, lengths = b.lengths, results = b.results, hop_limits = b.hop_limits
    cdef const unsigned char* data = b.data
    cdef const unsigned char* addrs = b.addrs
    cdef const unsigned char* table = b.table
    cdef unsigned char* records = b.records
    cdef Py_ssize_t i, data_size = b.size, count = 0
    cdef bint ipv4 = b.family == 4
    cdef int64_t start, size
    cdef int code
    cdef _Fields f
    for i in range(n):
        start = _load(&offsets, i)
        size = _load(&lengths, i)
        if start < 0 or size < 0 or start > data_size or size > data_size - start:
            valid[0] = count
            return i
        if ipv4:
            code = _check_ipv4(data + start, size, &f)
        elif _load(&hop_limits, i) != TTL:
            code = CODE_IP_TTL_ERR
        else:
            code = _check_vrrp(data + start, size, addrs + 32 * i, addrs + 32 * i + 16, 16, &f)
        if code == CODE_OK and table != NULL:
            code = _check_config(&f, table)
        _store(&results, i, code)
        if code == CODE_OK:
            count += 1
            if records != NULL:
                _write_record(records + RECORD_BYTES * i, &f)
    valid[0] = count
    return n


def validate_batch(buffer, offsets, lengths, results, table=None, *, family=4, addrs=None, hop_limits=None,
                   records=None):
    """Validate many packets held in one buffer; returns how many are valid.

    Packet i is `buffer[offsets[i]:offsets[i] + lengths[i]]`: a whole IPv4 packet (family 4),
    or a VRRP payload (family 6) whose source and destination are `addrs[32 i:32 i + 32]` and
    hop limit `hop_limits[i]`.  `results[i]` receives 0 or the reason's code
    (`advert.REASON_CODES`).  With `table` (`advert.pack_table`) the configuration checks run
    too; with `records`, each valid packet's `advert.RECORD_FORMAT` fields are written at
    `RECORD_SIZE * i`.  `offsets`, `lengths`, `results` and `hop_limits` are arrays of C ints
    (array('I'), bytearray...) used in place; other sequences of ints are copied.
    """
    cdef _Bytes data, addr_bytes, table_bytes, record_bytes
    cdef _Column offset_col, length_col, result_col, hop_col
    cdef _Batch batch
    cdef Py_ssize_t n, done, valid = 0
    data.held = addr_bytes.held = table_bytes.held = record_bytes.held = False
    try:
        _open(buffer, &data)
        offset_col = _Column(offsets, False)
        n = offset_col.length
        length_col = _Column(lengths, False)
        result_col = _Column(results, True)
        if length_col.length < n or result_col.length < n:
            raise ValueError("lengths and results must hold one entry per offset")
        if family == 6 and (addrs is None or hop_limits is None or len(addrs) < 32 * n or len(hop_limits) < n):
            raise ValueError("family 6 needs 32 bytes of addrs and one hop limit per packet")
        if family != 4 and family != 6:
            raise ValueError("family must be 4 or 6")
        if records is not None and len(records) < RECORD_BYTES * n:
            raise ValueError("records must hold RECORD_SIZE bytes per packet")
        if table is not None and len(table) < TABLE_LEN:
            raise ValueError("table must hold 256 records (advert.pack_table)")

        memset(&batch, 0, sizeof(batch))
        batch.data = data.data
        batch.size = data.size
        batch.offsets = offset_col.ints
        batch.lengths = length_col.ints
        batch.results = result_col.ints
        batch.family = 4 if family == 4 else 6
        if batch.family == 6:
            _open(addrs, &addr_bytes)
            hop_col = _Column(hop_limits, False)
            if addr_bytes.size < 32 * n or hop_col.length < n:
                raise ValueError("family 6 needs 32 bytes of addrs and one hop limit per packet")
            batch.addrs = addr_bytes.data
            batch.hop_limits = hop_col.ints
        if table is not None:
            _open(table, &table_bytes)
            if table_bytes.size < TABLE_LEN:
                raise ValueError("table must hold 256 records (advert.pack_table)")
            batch.table = table_bytes.data
        if records is not None:
            _open(records, &record_bytes, PyBUF_SIMPLE | PyBUF_WRITABLE)
            if record_bytes.size < RECORD_BYTES * n:
                raise ValueError("records must hold RECORD_SIZE bytes per packet")
            batch.records = <unsigned char*>record_bytes.data

        done = _run_batch(&batch, n, &valid)
        result_col.write_back(done)
        if done < n:
            raise ValueError(f"packet {done} lies outside the buffer")
        return valid
    finally:
        _close(&record_bytes)
        _close(&table_bytes)
        _close(&addr_bytes)
        _close(&data)
