# cython: language_level=3
"""Compiled twin of `fastvrrp._mmsg_py`: the adverts of one wake-up in one sendmmsg(2) call.

Same arguments, same result (datagrams sent before the first refusal); the helpers that pack
destinations and the control message are the Python twin's.  No Python object is made per
datagram: the message and address buffers are the caller's bytes, held by its lists for the
duration of the call.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.errno cimport EINTR, errno
from libc.stdlib cimport free, malloc
from libc.string cimport memset

from fastvrrp._mmsg_py import control_message, sockaddr  # noqa: F401 (one definition, re-exported)


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

    int sendmmsg(int sockfd, mmsghdr *msgvec, unsigned int vlen, int flags) nogil


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
