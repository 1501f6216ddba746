"""Batched UDP receive for Linux: ``recvmmsg`` through :mod:`ctypes`, one system call for up to a batch of datagrams.

Why: a 64-byte request read with ``recvfrom`` costs a system call, a new address
tuple (its host string formatted afresh each time) and, once the socket is empty,
a raised ``BlockingIOError``. ``recvmmsg`` fills up to :data:`SLOTS` datagrams in
one call, a short count says the socket is empty, and the source addresses come
back as raw ``sockaddr`` bytes, which :class:`MmsgReceiver` maps to the very tuple
``recvfrom`` would have built through a small cache.

Memory, allocated once per socket: :data:`SLOTS` ``struct mmsghdr``, each with one
``iovec`` over a :data:`RECV_SLOT`-byte buffer (as large as any UDP datagram, so
nothing is ever truncated; the buffers are an anonymous ``mmap``, so only the
pages the kernel writes into are ever resident), room for the source ``sockaddr``
and, on a wildcard socket, for the ``IP_PKTINFO``/``IPV6_PKTINFO`` control message
that says where the datagram was sent to (UDP-SRV-6; :meth:`MmsgReceiver.receive_with_control`).

:func:`available` says whether this module can be used here, and
:class:`MmsgReceiver` raises :class:`OSError` when the kernel refuses the call on
its socket (a seccomp filter); when it cannot (another OS, no ``recvmmsg`` in the
C library, a refused system call), the adapter reads with ``recvfrom``/``recvmsg``.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import socket
import struct
import sys
from typing import Any

from rrp_spec import UDP_RECEIVE_BUFFER_SIZE

#: Datagrams one ``recvmmsg`` may return.
SLOTS = 64
#: Receive buffer per slot: as large as any UDP datagram, so nothing is ever truncated.
RECV_SLOT = UDP_RECEIVE_BUFFER_SIZE
#: Distinct source addresses remembered (raw ``sockaddr`` -> address tuples); the cache is cleared when full.
_ADDRESS_CACHE = 4096


class _IoVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _SockaddrIn(ctypes.Structure):
    _fields_ = (
        ("sin_family", ctypes.c_ushort),
        ("sin_port", ctypes.c_ushort),
        ("sin_addr", ctypes.c_char * 4),
        ("sin_zero", ctypes.c_char * 8),
    )


class _SockaddrIn6(ctypes.Structure):
    _fields_ = (
        ("sin6_family", ctypes.c_ushort),
        ("sin6_port", ctypes.c_ushort),
        ("sin6_flowinfo", ctypes.c_uint32),
        ("sin6_addr", ctypes.c_char * 16),
        ("sin6_scope_id", ctypes.c_uint32),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


_HDR = ctypes.sizeof(_MMsgHdr)
_IOV = ctypes.sizeof(_IoVec)
_NAME = _MsgHdr.msg_name.offset
_NAMELEN = _MsgHdr.msg_namelen.offset
_MSG_LEN = _MMsgHdr.msg_len.offset
_IOV_FIELD = _MsgHdr.msg_iov.offset
_FIRST_LENGTH = struct.Struct(f"@{_MSG_LEN}xI")
_CONTROL = _MsgHdr.msg_control.offset
_CONTROL_FIELDS = struct.Struct("@PN")
_CONTROL_LENGTH = _MsgHdr.msg_controllen.offset
#: msg_controllen, then msg_len, of one ``struct mmsghdr``.
_CONTROL_LENGTH_FORMAT = (
    f"{_CONTROL_LENGTH}xN{_MSG_LEN - _CONTROL_LENGTH - struct.calcsize('N')}xI{_HDR - _MSG_LEN - 4}x"
)
#: ``struct cmsghdr``: length (header included), level, type; the data starts at ``CMSG_LEN(0)``.
_CMSG_HEADER = struct.Struct("@Nii")
_CMSG_DATA = socket.CMSG_LEN(0)
_IOVEC = struct.Struct("@PN")
_NAME_FIELDS = struct.Struct("@PI")
_IOV_FIELDS = struct.Struct("@PN")

_libc: Any = None
#: The same C library with ``errno`` kept (``use_errno``), for the one checked call of :class:`MmsgReceiver`.
_libc_errno: Any = None


def _load() -> Any:
    global _libc, _libc_errno
    if _libc is None:
        if not sys.platform.startswith("linux"):
            _libc = False
            return _libc
        try:
            # The running interpreter's own symbols, libc's among them: no library search (which may spawn
            # ldconfig or a compiler) at server start.
            libc = ctypes.CDLL(None)
            recvmmsg = libc.recvmmsg
            checked = ctypes.CDLL(None, use_errno=True)
            checked.recvmmsg.restype = ctypes.c_int
        except (OSError, AttributeError):
            _libc = False
            return _libc
        # No argtypes: every argument is passed as a ready C value (ints, a ctypes array as its address, None as
        # NULL), which skips ctypes' per-argument conversion, a third of the cost of a call.
        recvmmsg.restype = ctypes.c_int
        _libc_errno = checked
        _libc = libc
    return _libc


def available() -> bool:
    """True when ``recvmmsg`` can be called here (Linux with a C library that has it)."""
    return bool(_load())


class MmsgReceiver:
    """``recvmmsg`` on one non-blocking UDP socket: :meth:`receive` reads up to a batch.

    With ``control_space`` (bytes of control messages per datagram), read with
    :meth:`receive_with_control` instead.
    """

    def __init__(self, sock: socket.socket, *, slots: int = SLOTS, control_space: int = 0) -> None:
        libc = _load()
        if not libc:
            raise OSError(errno.ENOSYS, "recvmmsg is not available")
        self._recvmmsg = libc.recvmmsg
        self._sock = sock
        #: Most datagrams one :meth:`receive` returns.
        self.slots = slots
        self._v6 = sock.family == socket.AF_INET6
        # Source addresses are packed back to back, one sockaddr_in (16 bytes) or sockaddr_in6 (28) each.
        stride = ctypes.sizeof(_SockaddrIn6 if self._v6 else _SockaddrIn)
        # Anonymous mmaps: pages the kernel never writes into are never resident, and slicing one gives bytes.
        self._data = mmap.mmap(-1, slots * RECV_SLOT)
        self._names = mmap.mmap(-1, slots * stride)
        self._controls = mmap.mmap(-1, max(slots * control_space, 1))
        self._headers = bytearray(slots * _HDR)
        iovecs = bytearray(slots * _IOV)
        # ctypes views of the buffers, kept so that their addresses stay valid (and the mmaps open).
        self._views = [
            ctypes.c_char.from_buffer(self._data),
            ctypes.c_char.from_buffer(self._names),
            ctypes.c_char.from_buffer(self._controls),
            (ctypes.c_char * len(self._headers)).from_buffer(self._headers),
            (ctypes.c_char * len(iovecs)).from_buffer(iovecs),
        ]
        data, names, controls, _, iovec_base = (ctypes.addressof(view) for view in self._views)
        self._headers_view = self._views[3]
        for i in range(slots):
            _IOVEC.pack_into(iovecs, i * _IOV, data + i * RECV_SLOT, RECV_SLOT)
            _NAME_FIELDS.pack_into(self._headers, i * _HDR + _NAME, names + i * stride, stride)
            _IOV_FIELDS.pack_into(self._headers, i * _HDR + _IOV_FIELD, iovec_base + i * _IOV, 1)
            if control_space:
                _CONTROL_FIELDS.pack_into(
                    self._headers, i * _HDR + _CONTROL, controls + i * control_space, control_space
                )
        # The kernel overwrites msg_namelen and msg_controllen; a copy restores them after each call that used them.
        self._pristine = bytes(self._headers)
        self._check(sock)
        # One struct call reads every msg_len of a batch (and every msg_controllen).
        self._lengths = [struct.Struct("@" + f"{_MSG_LEN}xI{_HDR - _MSG_LEN - 4}x" * n) for n in range(slots + 1)]
        self._control_lengths = [struct.Struct("@" + _CONTROL_LENGTH_FORMAT * n) for n in range(slots + 1)]
        self._data_offsets = range(0, slots * RECV_SLOT, RECV_SLOT)
        self._control_offsets = range(0, slots * control_space, control_space) if control_space else range(0)
        self._name_slices = [slice(i * stride, (i + 1) * stride) for i in range(slots)]
        self._addresses: dict[bytes, Any] = {}

    def _check(self, sock: socket.socket) -> None:
        """Raise :class:`OSError` unless ``recvmmsg`` works on ``sock``: peek at one datagram, with ``errno`` kept.

        Why: the C library may have ``recvmmsg`` while the system call is refused (a seccomp filter: ``ENOSYS``,
        ``EPERM``). :meth:`receive` cannot tell that from an empty socket, so the level-triggered reader would be
        called again at once, for ever, and no datagram would ever be read. Only "nothing waiting" passes.
        """
        ctypes.set_errno(0)
        count = _libc_errno.recvmmsg(sock.fileno(), self._headers_view, 1, socket.MSG_DONTWAIT | socket.MSG_PEEK, None)
        self._headers[:_HDR] = self._pristine[:_HDR]
        if count < 0:
            code = ctypes.get_errno()
            if code not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                self.close()
                raise OSError(code, f"recvmmsg does not work here: {errno.errorcode.get(code, code)}")

    def close(self) -> None:
        """Release the buffers (the socket is the caller's); a later :meth:`receive` reads nothing."""
        # The headers still point into the buffers: a call after this one would have the kernel write datagrams
        # into unmapped memory (losing them) or into whatever is mapped there next. Zero slots asks for none.
        self.slots = 0
        self._views.clear()
        self._data.close()
        self._names.close()
        self._controls.close()

    def receive(self) -> tuple[list[bytes], list[Any]]:
        """The datagrams waiting (at most :attr:`slots`) and their sources, as ``recvfrom`` gives them.

        Empty when the socket is empty, and on an error (a pending ICMP error, for one): the
        next readiness event reads on.
        """
        count = self._recvmmsg(self._sock.fileno(), self._headers_view, self.slots, socket.MSG_DONTWAIT, None)
        if count <= 0:
            return [], []
        data = self._data
        cache = self._addresses
        if count == 1:  # the usual case of a lightly loaded server: skip the batch machinery
            key = self._names[self._name_slices[0]]
            return [data[: _FIRST_LENGTH.unpack_from(self._headers)[0]]], [cache.get(key) or self._address(key)]
        lengths = self._lengths[count].unpack_from(self._headers)
        datagrams = [
            data[offset : offset + length] for offset, length in zip(self._data_offsets, lengths, strict=False)
        ]
        keys = map(self._names.__getitem__, self._name_slices[:count])
        return datagrams, [cache.get(key) or self._address(key) for key in keys]

    def receive_with_control(self) -> tuple[list[bytes], list[Any], list[bytes]]:
        """Like :meth:`receive`, with each datagram's raw control messages (for ``control_space`` > 0).

        :func:`parse_control` reads them; on a wildcard socket with ``IP_PKTINFO``/``IPV6_RECVPKTINFO``
        they say where each datagram was sent to (UDP-SRV-6).
        """
        count = self._recvmmsg(self._sock.fileno(), self._headers_view, self.slots, socket.MSG_DONTWAIT, None)
        if count <= 0:
            return [], [], []
        headers = self._headers
        fields = self._control_lengths[count].unpack_from(headers)
        headers[: count * _HDR] = self._pristine[: count * _HDR]
        data = self._data
        datagrams = [
            data[offset : offset + length] for offset, length in zip(self._data_offsets, fields[1::2], strict=False)
        ]
        controls = self._controls
        received = [
            controls[offset : offset + length]
            for offset, length in zip(self._control_offsets, fields[::2], strict=False)
        ]
        cache = self._addresses
        keys = map(self._names.__getitem__, self._name_slices[:count])
        return datagrams, [cache.get(key) or self._address(key) for key in keys], received

    def _address(self, raw: bytes) -> Any:
        """A source ``sockaddr`` as ``recvfrom`` would give it, remembered for the next datagram from there."""
        address: Any
        if self._v6:
            port, flowinfo = struct.unpack_from("!HI", raw, 2)
            (scope,) = struct.unpack_from("@I", raw, 24)
            address = (socket.inet_ntop(socket.AF_INET6, raw[8:24]), port, flowinfo, scope)
        else:
            address = (socket.inet_ntop(socket.AF_INET, raw[4:8]), int.from_bytes(raw[2:4], "big"))
        cache = self._addresses
        if len(cache) >= _ADDRESS_CACHE:
            cache.clear()
        cache[raw] = address
        return address


def parse_control(raw: bytes) -> list[tuple[int, int, bytes]]:
    """Control messages as ``recvmsg`` returns them: ``(level, type, data)`` each."""
    found: list[tuple[int, int, bytes]] = []
    offset = 0
    while offset + _CMSG_HEADER.size <= len(raw):
        length, level, kind = _CMSG_HEADER.unpack_from(raw, offset)
        if length < _CMSG_HEADER.size or offset + length > len(raw):
            break
        found.append((level, kind, raw[offset + _CMSG_DATA : offset + length]))
        offset += socket.CMSG_SPACE(length - _CMSG_DATA)
    return found
