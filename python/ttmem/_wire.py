"""The query socket spoken directly (docs/DAEMON.md, "The query protocol"): frames, the
section list of a SNAPSHOT, and the `daemon` record, which is enough to ask a ttmemd whether it
is there and what it is without running the ttmem command (ping()).

The other sections are decoded by the ttmem command (status(), dump()): it walks the report's
field tables, and one decoder of them is kept. The `daemon` record's layout below is the table
of DAEMON.md, which python.pytest compares with the generated docs, so a change of the record
fails the test instead of misreading the wire.
"""
import os
import socket as _socket
import struct

MAGIC = 0x514D5454  # "TTMQ"
VERSION = 2
MSG_QUERY, MSG_SNAPSHOT, MSG_ERROR = 1, 2, 3
SEC_DAEMON = 1
HEADER = struct.Struct("<IHHIi")  # magic, version, type, length, status
SECTION = struct.Struct("<HHI")  # id, 0, length
MAX_PAYLOAD = 256 << 20

# the `daemon` record: (field, struct code) in wire order; "16s" is a NUL-padded string
DAEMON_FIELDS = [
    ("version", "16s"), ("pid", "I"), ("max_clients", "I"), ("max_live_per_client", "I"),
    ("uptime_ns", "Q"), ("clients_connected", "I"), ("now_ns", "Q"), ("clients_total", "Q"),
    ("clients_rejected", "Q"), ("clients_refused", "Q"), ("reattached", "Q"), ("events", "Q"),
    ("events_rejected", "Q"), ("prior_events", "Q"), ("waited", "Q"), ("dropped", "Q"),
    ("ring_errors", "Q"), ("queries", "Q"), ("procs_dropped", "Q"),
]
DAEMON = struct.Struct("<" + "".join(code for _, code in DAEMON_FIELDS))


class WireError(RuntimeError):
    """The query socket could not be reached or answered wrongly: str() is one line."""


def default_socket():
    """The daemon socket as libttmem and ttmem choose it without --socket: $TTMEM_SOCKET, else
    $XDG_RUNTIME_DIR/ttmem/ttmemd.sock, else /tmp/ttmem-$UID/ttmemd.sock (the user's daemon)."""
    env = os.environ.get("TTMEM_SOCKET")
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "ttmem", "ttmemd.sock")
    return "/tmp/ttmem-%d/ttmemd.sock" % os.getuid()


def _recv_exact(s, n, what):
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise WireError("ttmem: the daemon closed the query socket in the middle of %s" % what)
        buf += chunk
    return bytes(buf)


def query(sock_path, sections, timeout=5.0, top=0, max_leaks=0, max_live=0):
    """One QUERY on SOCK.query; returns {section id: bytes} of the SNAPSHOT."""
    qpath = os.fspath(sock_path) + ".query"
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        try:
            s.connect(qpath)
        except OSError as e:
            raise WireError("ttmem: cannot connect to %s: %s" % (qpath, e.strerror or e)) from e
        payload = struct.pack("<IIII", sections, top, max_leaks, max_live)
        s.sendall(HEADER.pack(MAGIC, VERSION, MSG_QUERY, len(payload), 0) + payload)
        magic, version, mtype, length, status = HEADER.unpack(
            _recv_exact(s, HEADER.size, "a reply header"))
        if magic != MAGIC:
            raise WireError("ttmem: %s is not a ttmem query socket (magic 0x%08x)" % (qpath, magic))
        if length > MAX_PAYLOAD:
            raise WireError("ttmem: the daemon announced a reply of %d bytes" % length)
        body = _recv_exact(s, length, "a reply")
    except _socket.timeout as e:
        raise WireError("ttmem: %s gave no answer in %g s" % (qpath, timeout)) from e
    finally:
        s.close()
    if mtype == MSG_ERROR:  # its layout never changes: u16 n, then n bytes of one line
        n = struct.unpack_from("<H", body)[0] if len(body) >= 2 else 0
        line = body[2:2 + n].decode(errors="replace")
        raise WireError("ttmem: the daemon refused the query (%d): %s" % (status, line))
    if version != VERSION or mtype != MSG_SNAPSHOT:
        raise WireError("ttmem: the daemon speaks query version %d (type %d), this package %d"
                        % (version, mtype, VERSION))
    out, off = {}, 0
    while off < len(body):
        if len(body) - off < SECTION.size:
            raise WireError("ttmem: a truncated section header in the daemon's snapshot")
        sid, _, slen = SECTION.unpack_from(body, off)
        off += SECTION.size
        if slen > len(body) - off:
            raise WireError("ttmem: section %d runs past the daemon's snapshot" % sid)
        out[sid] = body[off:off + slen]
        off += slen
    return out


def ping(socket=None, timeout=5.0):
    """The daemon record of the ttmemd at socket (default: default_socket()), read from its
    query socket: a dict with the fields of the JSON document's `daemon`, but `side`."""
    path = os.fspath(socket) if socket is not None else default_socket()
    sec = query(path, 1 << SEC_DAEMON, timeout=timeout).get(SEC_DAEMON)
    if sec is None or len(sec) < DAEMON.size:
        raise WireError("ttmem: the daemon's snapshot has no daemon record of %d bytes"
                        % DAEMON.size)
    values = DAEMON.unpack_from(sec)
    rec = {}
    for (name, code), v in zip(DAEMON_FIELDS, values):
        rec[name] = v.rstrip(b"\0").decode(errors="replace") if code.endswith("s") else v
    return rec
