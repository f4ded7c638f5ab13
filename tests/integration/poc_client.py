#!/usr/bin/env python3
"""poc_client.py — a client of ttmemd's legacy socket written the way the allocation-server
prototype's Python client and monitors are: the standard library only (socket, struct) and
exactly the two struct formats those clients use (V1 and V2 below: the 72- and 112-byte
messages of docs/COMPAT.md). It allocates, frees and queries, and checks every reply byte by
byte against the struct the protocol says it must be.

    poc_client.py SOCKET

The daemon must run with `--devices 2 --arch wormhole_b0` and be fresh (no other client).
Exit status 0 when every check passed; 1 and one line per failed check otherwise.
"""
import socket
import struct
import sys

V1 = "=BxxxiQBxxxiQQQQQQ"          # 72 bytes
V2 = "=BxxxiQBxxxiQQQQQQQQIIIIII"  # 112 bytes

ALLOC, FREE, QUERY, RESPONSE, DUMP_REMAINING = 1, 2, 3, 4, 5
DEVICE_INFO_QUERY, DEVICE_INFO_RESPONSE = 6, 7
DRAM, L1, SYSTEM_MEMORY, L1_SMALL, TRACE = 0, 1, 2, 3, 4
CLAIMED_PID = 1  # what the messages say; the daemon must use the kernel's

failures = []
checks = 0


def check(what, ok):
    global checks
    checks += 1
    if not ok:
        failures.append(what)
        print("FAIL: " + what)


def v1(mtype, dev, size=0, btype=0, buffer_id=0, ts=0, totals=(0, 0, 0, 0)):
    return struct.pack(V1, mtype, dev, size, btype, CLAIMED_PID, buffer_id, ts, *totals)


def v2(mtype, dev, size=0, btype=0, buffer_id=0, ts=0, totals=(0, 0, 0, 0),
       info=(0, 0, 0, 0, 0, 0, 0, 0)):
    return struct.pack(V2, mtype, dev, size, btype, CLAIMED_PID, buffer_id, ts, *totals, *info)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            break
        data += part
    return data


def response(fmt, dev, totals):
    """The RESPONSE the spec describes: zeroed, type 4, device_id echoed, the totals."""
    if fmt == V1:
        return struct.pack(V1, RESPONSE, dev, 0, 0, 0, 0, 0, *totals)
    return struct.pack(V2, RESPONSE, dev, 0, 0, 0, 0, 0, *totals, 0, 0, 0, 0, 0, 0, 0, 0)


def query(sock, fmt, dev, totals, what):
    msg = v1(QUERY, dev) if fmt == V1 else v2(QUERY, dev)
    sock.sendall(msg)
    got = recv_exact(sock, struct.calcsize(fmt))
    want = response(fmt, dev, totals)
    check("%s: a %d-byte reply" % (what, len(want)), len(got) == len(want))
    if len(got) == len(want):
        check("%s: reply %r == %r" % (what, struct.unpack(fmt, got), struct.unpack(fmt, want)),
              got == want)


def main():
    if len(sys.argv) != 2:
        print("usage: poc_client.py SOCKET", file=sys.stderr)
        return 2
    path = sys.argv[1]
    check("V1 is 72 bytes", struct.calcsize(V1) == 72)
    check("V2 is 112 bytes", struct.calcsize(V2) == 112)

    a = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    a.connect(path)
    a.sendall(v1(ALLOC, 0, 4096, DRAM, 0x100000, 1700000000000000000))
    a.sendall(v1(ALLOC, 0, 1024, L1, 0x2000, 1700000000000000001))
    a.sendall(v1(ALLOC, 1, 512, L1_SMALL, 0x3000, 1700000000000000002))
    a.sendall(v1(ALLOC, 1, 2 << 20, TRACE, 0x80000000, 1700000000000000003))
    # SYSTEM_MEMORY is counted in l1_small_allocated, as the prototype did (docs/COMPAT.md)
    a.sendall(v1(ALLOC, 1, 1 << 20, SYSTEM_MEMORY, 0x100000000, 1700000000000000005))
    query(a, V1, 0, (4096, 1024, 0, 0), "v1 query of device 0")
    query(a, V1, 1, (0, 0, 512 + (1 << 20), 2 << 20), "v1 query of device 1")
    a.sendall(v1(FREE, 0, 0, 0, 0x100000))
    query(a, V1, 0, (0, 1024, 0, 0), "v1 query after a free")

    b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    b.connect(path)
    b.sendall(v2(ALLOC, 1, 8192, DRAM, 0x200000, 1700000000000000004))
    query(b, V2, 1, (8192, 0, 512 + (1 << 20), 2 << 20), "v2 query of device 1")
    b.sendall(v2(DEVICE_INFO_QUERY, -1))
    got = recv_exact(b, 112)
    want = struct.pack(V2, DEVICE_INFO_RESPONSE, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       0, 0, 0, 0, 1, 2)
    check("device info of -1: %r" % ((struct.unpack(V2, got) if len(got) == 112 else got),),
          got == want)
    b.sendall(v2(DEVICE_INFO_QUERY, 1))
    got = recv_exact(b, 112)
    # Wormhole_B0's profile (src/common/arch.c, docs/ARCHITECTURE.md): 12 banks of 1 GiB, 64
    # worker cores of 1,499,136 B of L1
    want = struct.pack(V2, DEVICE_INFO_RESPONSE, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                       12 << 30, 64 * 1499136, 2, 12, 1 << 30, 1499136, 1, 0)
    check("device info of device 1: %r" % ((struct.unpack(V2, got) if len(got) == 112 else got),),
          got == want)
    b.sendall(v2(DEVICE_INFO_QUERY, 5))
    got = recv_exact(b, 112)
    want = struct.pack(V2, DEVICE_INFO_RESPONSE, 5, *([0] * 17))
    check("device info of an unknown device", got == want)
    b.sendall(v2(DUMP_REMAINING, 0))
    query(b, V2, 0, (0, 1024, 0, 0), "v2 query after a dump")
    a.close()
    b.close()
    print("poc_client: %d checks, %d failed" % (checks, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
