#!/usr/bin/env python3
"""shm_writer.py — writes TT-Metal's per-chip shared-memory regions the way the runtime lays
them out (the layout in src/common/ttshm.h; the same bytes as tests/unit/test_ttshm.c), for tests
of `ttmem status` against regions it did not write itself.

    shm_writer.py layouts DIR LIVE_PID GHOST_PID   tt_device_10{1,2,3,4}_memory: versions 1-4
    shm_writer.py bad DIR                          truncated, bad version, v4 not ready, empty
    shm_writer.py rewrite DIR SECONDS              rewrites tt_device_9_memory under readers

Every region holds the same counters: totals DRAM 3000, L1 300, L1_SMALL 30, TRACE 1000, CB 7
(KERNEL 5 in the older layout); chip 0 local with DRAM 2000, chip 1 remote with DRAM 1000; a
process LIVE_PID "python3" (DRAM 2000, L1 200) and a process GHOST_PID "ghost" (DRAM 1000, L1
100, TRACE 1000).
"""
import os
import struct
import sys
import time

READY = 0x52454459
SIZE_NEW, SIZE_OLD = 8576, 9280


def region(version, live_pid, ghost_pid):
    old = version == 1
    size = SIZE_OLD if old else SIZE_NEW
    chips, chip = (96, 56) if old else (88, 48)
    procs, proc = (992, 128) if old else (856, 120)
    name_off = 64 if old else 56
    b = bytearray(size)
    struct.pack_into("<IIQIxxxxQQi", b, 0, version, 2, 1700000000000000000, 2, 0, 0xABCDEF, 3)
    struct.pack_into("<QQQQQ", b, 48, 3000, 300, 30, 1000, 7)
    if old:
        struct.pack_into("<Q", b, 88, 5)
    for i in range(16):
        struct.pack_into("<I", b, chips + i * chip, 0xFFFFFFFF if version >= 3 else 0)
    struct.pack_into("<IIQ", b, chips, 0, 0, 2000)
    struct.pack_into("<IIQ", b, chips + chip, 1, 1, 1000)
    struct.pack_into("<i", b, procs, live_pid)
    struct.pack_into("<QQ", b, procs + 8, 2000, 200)
    b[procs + name_off:procs + name_off + 8] = b"python3\0"
    g = procs + 5 * proc
    struct.pack_into("<i", b, g, ghost_pid)
    struct.pack_into("<QQQQ", b, g + 8, 1000, 100, 0, 1000)
    b[g + name_off:g + name_off + 6] = b"ghost\0"
    if version == 4:
        struct.pack_into("<I", b, 8536, READY)
    return bytes(b)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main():
    mode, d = sys.argv[1], sys.argv[2]
    if mode == "layouts":
        live, ghost = int(sys.argv[3]), int(sys.argv[4])
        for v in (1, 2, 3, 4):
            write(os.path.join(d, "tt_device_%d_memory" % (100 + v)), region(v, live, ghost))
    elif mode == "bad":
        pid = os.getpid()
        good = region(2, pid, 0)
        write(os.path.join(d, "tt_device_1_memory"), good[:-1])          # truncated
        write(os.path.join(d, "tt_device_2_memory"), struct.pack("<I", 9) + good[4:])
        notready = bytearray(region(4, pid, 0))
        struct.pack_into("<I", notready, 8536, 1)                        # being initialised
        write(os.path.join(d, "tt_device_3_memory"), bytes(notready))
        write(os.path.join(d, "tt_device_4_memory"), b"")                # empty
    elif mode == "rewrite":
        path = os.path.join(d, "tt_device_9_memory")
        end = time.monotonic() + float(sys.argv[3])
        i = 0
        while time.monotonic() < end:
            data = region(1 + i % 4, os.getpid(), 0)
            half = len(data) // 2
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            # truncate, then write in two halves: readers see every state in between
            os.ftruncate(fd, 0 if i % 3 == 0 else half)
            os.pwrite(fd, data[:half], 0)
            os.pwrite(fd, data[half:], half)
            os.close(fd)
            i += 1
    else:
        print("shm_writer.py: unknown mode %r" % mode, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
