#!/usr/bin/env python3
"""poc_stream.py — an address-only stream with every cause of unmatched frees (issue 13), sent
to ttmemd's legacy socket by three processes of the prototype's protocol (144-byte messages, the
layout of docs/COMPAT.md section 1), for tests/cli/poc_causes.sh.

usage: poc_stream.py LEGACY_SOCKET SEED -- CMD...

The stream, in phases, each sent by one process while the others wait (so its events reach the
daemon in the order written here):
  - MeshBuffers: a backing buffer reported on device 0 of an 8-device mesh, released with one
    free per other device at the same address, those frees before, after or around the
    backing free (mesh_multiplicity), with address reuse;
  - a pool released twice: each buffer freed again right after its release (double_release);
  - an excess storm: one DRAM address on device 1 allocated once, freed once, then freed again
    every few events among ordinary traffic (excess_storm);
  - frees of addresses never allocated, away from any release (pre_tracking);
  - ordinary alloc/free traffic between the phases and a long tail of it, so that no free is
    still provisional when the stream ends.
Once every process has sent its part (each ends with a QUERY, whose reply says the daemon
applied everything before it), CMD runs (e.g. `ttmem status --json`) while the processes are
still alive and connected; then they exit. It prints what it sent, per kind, as JSON.
"""
import json
import os
import random
import socket
import struct
import subprocess
import sys

ALLOC, FREE, QUERY = 1, 2, 3
DRAM, L1 = 0, 1
SIZE = 144
HEAD = "=BxxxiQBxxxiQQ"  # the common 40-byte prefix
DEVICES = 8


def msg(kind, dev, size=0, btype=0, addr=0):
    head = struct.pack(HEAD, kind, dev, size, btype, 0, addr, 0)
    return head + bytes(SIZE - len(head))


def recv_exact(sock, n):
    b = b""
    while len(b) < n:
        part = sock.recv(n - len(b))
        if not part:
            raise SystemExit("poc_stream: the daemon closed the connection")
        b += part
    return b


class Phase:
    """The messages of one phase, and the counts of what they are meant to be."""

    def __init__(self):
        self.out = []
        self.count = {}

    def add(self, kind, dev, size=0, btype=0, addr=0, what=None):
        self.out.append(msg(kind, dev, size, btype, addr))
        if what:
            self.count[what] = self.count.get(what, 0) + 1


class Filler:
    """Ordinary traffic: an allocation and its free, at addresses nothing else uses."""

    def __init__(self):
        self.next = 0x40000000

    def pairs(self, ph, n, rng):
        for _ in range(n):
            dev = rng.randrange(DEVICES)
            ph.add(ALLOC, dev, 4096, L1, self.next)
            ph.add(FREE, dev, 0, 0, self.next)
            self.next += 0x1000


def mesh(ph, rng, fill, n):
    """n MeshBuffers on an 8-device mesh; the addresses come back (reuse) every 10."""
    for i in range(n):
        addr = 0x10000000 + (i % 10) * 0x100000
        ph.add(ALLOC, 0, 1 << 20, DRAM, addr)
        fill.pairs(ph, rng.randrange(1, 4), rng)
        frees = [(d, d == 0) for d in range(DEVICES)]
        rng.shuffle(frees)  # the backing free (device 0) anywhere among the per-device ones
        for dev, backing in frees:
            ph.add(FREE, dev, 0, 0, addr, None if backing else "mesh_frees")
        fill.pairs(ph, rng.randrange(2, 5), rng)


def pool(ph, rng, fill, n):
    """A pool of n buffers released, each freed once more right after its release."""
    addrs = [0x20000000 + i * 0x10000 for i in range(n)]
    for a in addrs:
        ph.add(ALLOC, 2, 65536, DRAM, a)
    fill.pairs(ph, 3, rng)
    for a in addrs:
        ph.add(FREE, 2, 0, 0, a)
        ph.add(FREE, 2, 0, 0, a, "double_release_frees")
        fill.pairs(ph, 1, rng)


def storm(ph, rng, fill, n):
    """Device 1 DRAM 0x2000000: allocated, freed, then freed again every few events."""
    addr = 0x2000000
    ph.add(ALLOC, 1, 1 << 16, DRAM, addr)
    fill.pairs(ph, 2, rng)
    ph.add(FREE, 1, 0, 0, addr)
    for _ in range(n):
        fill.pairs(ph, 5, rng)
        ph.add(FREE, 1, 0, 0, addr, "storm_frees")


def pre_tracking(ph, rng, fill, n):
    """Frees of addresses never allocated, one by one among ordinary traffic."""
    for i in range(n):
        fill.pairs(ph, 6, rng)
        ph.add(FREE, 3, 0, 0, 0x30000000 + i * 0x2000, "pre_tracking_frees")


def child(path, phases, go, done):
    """One process: connects, then for each of its phases waits for its turn, sends it, and
    ends it with a QUERY whose reply it waits for."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    for ph in phases:
        if os.read(go, 1) != b"g":
            os._exit(1)
        sock.sendall(b"".join(ph.out) + msg(QUERY, 0))
        reply = recv_exact(sock, SIZE)
        if reply[0] != 4:
            os._exit(1)
        os.write(done, b"d")
    os.read(go, 1)  # EOF: the parent has run CMD
    os._exit(0)


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        print("usage: poc_stream.py LEGACY_SOCKET SEED -- CMD...", file=sys.stderr)
        return 2
    path, seed, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[4:]
    rng = random.Random(seed)
    fill = Filler()
    plan = []  # (process, phase) in the order they are sent

    def phase(proc, fn, *args):
        ph = Phase()
        fn(ph, rng, fill, *args)
        plan.append((proc, ph))

    phase(0, mesh, 24)
    phase(1, pool, 30)
    phase(0, storm, 40)
    phase(2, mesh, 16)
    phase(1, pre_tracking, 20)
    phase(2, lambda ph, rng, fill: fill.pairs(ph, 3000, rng))  # the tail: nothing pending

    kids = []
    for proc in range(3):
        go_r, go_w = os.pipe()
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_w)
            os.close(done_r)
            child(path, [ph for p, ph in plan if p == proc], go_r, done_w)
        os.close(go_r)
        os.close(done_w)
        kids.append((pid, go_w, done_r))
    for proc, _ in plan:
        pid, go_w, done_r = kids[proc]
        os.write(go_w, b"g")
        if os.read(done_r, 1) != b"d":
            raise SystemExit("poc_stream: process %d failed its phase" % proc)
    rc = subprocess.call(cmd)
    for pid, go_w, done_r in kids:
        os.close(go_w)
    bad = 0
    for pid, _, _ in kids:
        _, status = os.waitpid(pid, 0)
        bad += status != 0
    sent = {"messages": sum(len(ph.out) for _, ph in plan), "pids": [k[0] for k in kids]}
    for _, ph in plan:
        for k, v in ph.count.items():
            sent[k] = sent.get(k, 0) + v
    print(json.dumps(sent, sort_keys=True))
    return 1 if rc != 0 or bad else 0


if __name__ == "__main__":
    sys.exit(main())
