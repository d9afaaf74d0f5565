# cython: language_level=3
"""Compiled twin of `fastvrrp._mmsg_py`: the adverts of one wake-up in one sendmmsg(2) call,
and what one readiness delivered in one recvmmsg(2) call.

Same arguments, same results as the Python twin; the helpers that pack destinations and the
control message are the Python twin's.  No Python object is made per datagram: the message
and address buffers are the caller's, held by it for the duration of the call.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.errno cimport EAGAIN, EINTR, errno
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset, strerror

from fastvrrp._mmsg_py import control_message, sockaddr  # noqa: F401 (one definition, re-exported)

cdef extern from "<time.h>":
    struct timespec:
        long tv_sec
        long tv_nsec


cdef extern from "<sys/uio.h>":
    struct iovec:
        void *iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>":
    struct msghdr:
        void *msg_name
        unsigned int msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags

    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len

    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type

    cmsghdr *CMSG_FIRSTHDR(msghdr *msgh) nogil
    cmsghdr *CMSG_NXTHDR(msghdr *msgh, cmsghdr *cmsg) nogil
    unsigned char *CMSG_DATA(cmsghdr *cmsg) nogil
    int sendmmsg(int sockfd, mmsghdr *msgvec, unsigned int vlen, int flags) nogil
    int recvmmsg(int sockfd, mmsghdr *msgvec, unsigned int vlen, int flags, timespec *timeout) nogil
    int MSG_DONTWAIT
    int SOL_SOCKET
    int SCM_TIMESTAMPNS

cdef extern from "<netinet/in.h>":
    int IPPROTO_IPV6
    int IPV6_PKTINFO
    int IPV6_HOPLIMIT

cdef enum:
    MAX_BATCH = 64
    CONTROL_SPACE = 128  # timestamp, IPv6 packet info and hop limit: 96 bytes on 64-bit Linux
    NAME_SPACE = 32  # a sockaddr_in6 (28 bytes)
    SIN6_ADDR_OFFSET = 8


def send_batch(sock, list messages, list sockaddrs, bytes control):
    """Send messages[i] to sockaddrs[i], each with `control`; how many were sent before a refusal."""
    cdef Py_ssize_t n = len(messages)
    cdef Py_ssize_t i
    cdef int fd = sock.fileno()
    cdef int sent = 0
    cdef int result
    cdef bytes message, address
    if len(sockaddrs) != n:
        raise ValueError("one destination per message")
    if n == 0:
        return 0
    cdef mmsghdr *headers = <mmsghdr *>malloc(n * sizeof(mmsghdr))
    cdef iovec *vectors = <iovec *>malloc(n * sizeof(iovec))
    if headers == NULL or vectors == NULL:
        free(headers)
        free(vectors)
        raise MemoryError()
    try:
        memset(headers, 0, n * sizeof(mmsghdr))
        for i in range(n):
            message = messages[i]
            address = sockaddrs[i]
            vectors[i].iov_base = PyBytes_AS_STRING(message)
            vectors[i].iov_len = PyBytes_GET_SIZE(message)
            headers[i].msg_hdr.msg_iov = &vectors[i]
            headers[i].msg_hdr.msg_iovlen = 1
            headers[i].msg_hdr.msg_name = PyBytes_AS_STRING(address)
            headers[i].msg_hdr.msg_namelen = <unsigned int>PyBytes_GET_SIZE(address)
            if control:
                headers[i].msg_hdr.msg_control = PyBytes_AS_STRING(control)
                headers[i].msg_hdr.msg_controllen = PyBytes_GET_SIZE(control)
        while sent < n:
            with nogil:
                result = sendmmsg(fd, headers + sent, <unsigned int>(n - sent), 0)
            if result < 0:
                if errno == EINTR:
                    continue
                break
            if result == 0:
                break
            sent += result
        return sent
    finally:
        free(headers)
        free(vectors)


def receive_batch(
    sock,
    int family,
    unsigned char[::1] buffer,
    Py_ssize_t slot_size,
    Py_ssize_t limit,
    unsigned int[::1] lengths,
    double[::1] stamps,
    unsigned char[::1] addrs,
    unsigned char[::1] hop_limits,
):
    """Read up to `limit` waiting datagrams without blocking; how many were read (see the twin)."""
    cdef int fd = sock.fileno()
    cdef bint v6 = family == 6
    cdef mmsghdr headers[MAX_BATCH]
    cdef iovec vectors[MAX_BATCH]
    cdef unsigned char control[MAX_BATCH * CONTROL_SPACE]
    cdef unsigned char names[MAX_BATCH * NAME_SPACE]
    cdef cmsghdr *cmsg
    cdef timespec stamp
    cdef int hop_limit
    cdef int n
    cdef int error = 0
    cdef Py_ssize_t i
    if slot_size <= 0:
        raise ValueError("slot_size must be positive")
    limit = min(limit, MAX_BATCH, lengths.shape[0], stamps.shape[0], buffer.shape[0] // slot_size)
    if v6:
        limit = min(limit, addrs.shape[0] // 32, hop_limits.shape[0])
    if limit <= 0:
        return 0
    memset(headers, 0, limit * sizeof(mmsghdr))
    for i in range(limit):
        vectors[i].iov_base = &buffer[i * slot_size]
        vectors[i].iov_len = slot_size
        headers[i].msg_hdr.msg_iov = &vectors[i]
        headers[i].msg_hdr.msg_iovlen = 1
        headers[i].msg_hdr.msg_control = &control[i * CONTROL_SPACE]
        headers[i].msg_hdr.msg_controllen = CONTROL_SPACE
        headers[i].msg_hdr.msg_name = &names[i * NAME_SPACE]
        headers[i].msg_hdr.msg_namelen = NAME_SPACE
    with nogil:
        while True:
            n = recvmmsg(fd, headers, <unsigned int>limit, MSG_DONTWAIT, NULL)
            error = errno
            if n >= 0 or error != EINTR:
                break
    if n < 0:
        if error == EAGAIN:  # EWOULDBLOCK on Linux
            return 0
        raise OSError(error, strerror(error).decode())
    for i in range(n):
        lengths[i] = headers[i].msg_len
        stamps[i] = 0.0
        if v6:
            memcpy(&addrs[32 * i], &names[i * NAME_SPACE + SIN6_ADDR_OFFSET], 16)
            memset(&addrs[32 * i + 16], 0, 16)
            hop_limits[i] = 0
        cmsg = CMSG_FIRSTHDR(&headers[i].msg_hdr)
        while cmsg != NULL:
            if cmsg.cmsg_level == SOL_SOCKET and cmsg.cmsg_type == SCM_TIMESTAMPNS:
                memcpy(&stamp, CMSG_DATA(cmsg), sizeof(timespec))
                stamps[i] = stamp.tv_sec + stamp.tv_nsec * 1e-9
            elif v6 and cmsg.cmsg_level == IPPROTO_IPV6:
                if cmsg.cmsg_type == IPV6_PKTINFO:
                    memcpy(&addrs[32 * i + 16], CMSG_DATA(cmsg), 16)
                elif cmsg.cmsg_type == IPV6_HOPLIMIT:
                    memcpy(&hop_limit, CMSG_DATA(cmsg), sizeof(int))
                    hop_limits[i] = <unsigned char>hop_limit
            cmsg = CMSG_NXTHDR(&headers[i].msg_hdr, cmsg)
    return n
