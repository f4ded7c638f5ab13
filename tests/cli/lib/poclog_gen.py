#!/usr/bin/env python3
"""poclog_gen.py OUT EVENTS [SEED] -- a prototype server log and the stack-trace log of the same
run, written as the prototype printed them (docs/COMPAT.md sections 3 and 4), and what they
hold, for the tests of `ttmem analyze-log --journal` and `ttmem journal`.

Writes OUT/server.log (the start-up banner, statistics blocks and blank lines between the
event lines; ids in decimal and 0x hex; several processes, devices and memory types; reference
counts, frees of freed and never-allocated buffers), OUT/trace.log (a stack-trace record for
every event of the traced process) and OUT/expect.json:
  events: [line, pid, kind (1 alloc, 2 free), device, memtype, addr, size], line = the 1-based
          line number in server.log, memtype 255 (any) on frees, size 0 on unknown-buffer lines
  pids:   the pids in the order of their first event
  traced: the number of events with a stack-trace record
"""
import json
import random
import sys

out, nev = sys.argv[1], int(sys.argv[2])
rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 5)
RULE = "\u2500" * 53
TYPES = [("DRAM", 0), ("L1", 1), ("L1_SMALL", 3), ("TRACE", 4), ("SYSTEM_MEMORY", 2)]
TRACED = 31337
PIDS = [TRACED, 4100, 4101]
srv = open(out + "/server.log", "w", encoding="utf-8")
trc = open(out + "/trace.log", "w", encoding="utf-8")
line = 0
events, pids, traced = [], [], 0
live = {}  # (device, addr) -> [pid, size, type word, memtype, refs]
nalloc = 0


class Bag:
    """Keys with O(1) add, remove and random choice (in a seeded, repeatable order)."""

    def __init__(self):
        self.keys, self.at = [], {}

    def add(self, k):
        if k not in self.at:
            self.at[k] = len(self.keys)
            self.keys.append(k)

    def remove(self, k):
        i = self.at.pop(k, None)
        if i is None:
            return
        last = self.keys.pop()
        if i < len(self.keys):
            self.keys[i] = last
            self.at[last] = i

    def choice(self):
        return self.keys[rnd.randrange(len(self.keys))]


live_keys = Bag()
freed = Bag()  # keys freed and not live again: their frees are unknown-buffer lines


def put(text):
    global line
    srv.write(text + "\n")
    line += 1


def ident(v):
    return "0x%x" % v if rnd.random() < 0.5 else "%d" % v


def trace(kind, dev, addr, word, size, fn):
    global nalloc, traced
    if kind == 1:
        trc.write("%s\nAllocation #%d\nTime: 2025-10-14 09:31:07\nDevice: %d\nType: %s\n"
                  "Size: %d bytes (%g KB)\nAddress: 0x%x\nStack trace:\n"
                  % (RULE, nalloc, dev, word, size, size / 1024, addr))
        nalloc += 1
    else:
        trc.write("%s\nDeallocation\nTime: 2025-10-14 09:31:08\nDevice: %d\nAddress: 0x%x\n"
                  "Stack trace:\n" % (RULE, dev, addr))
    for f in ("/opt/tt-metal/lib/libtt_metal.so : tt::tt_metal::Buffer::allocate_impl()+0x5e",
              "./model : %s+0x1c" % fn, "./model : main+0x3c",
              "/lib/x86_64-linux-gnu/libc.so.6 : +0x271ca"):
        trc.write("  " + f + "\n")
    trc.write("\n")
    traced += 1


def event(pid, kind, dev, memtype, addr, size, text, word="", fn="op"):
    put(text)
    events.append([line, pid, kind, dev, memtype, addr, size])
    if pid not in pids:
        pids.append(pid)
    if pid == TRACED:
        trace(kind, dev, addr, word, size, fn)


put("\U0001F680 Allocation Server started")
put("   Listening on: /tmp/tt_allocation_server.sock")
trc.write("=== TT-Metal Buffer Allocation Stack Traces ===\nPID: %d\n\n" % TRACED)
n = 0
while n < nev:
    if rnd.random() < 0.01:
        put("")
        put("\U0001F4CA Current Statistics:")
        put("  Device 0: 1 buffers")
    pid = rnd.choice(PIDS)
    r = rnd.random()
    if r < 0.45 or not live:
        dev = rnd.randrange(4)
        word, mt = rnd.choice(TYPES)
        key = (dev, 0x100000 * (mt + 1) + rnd.randrange(256) * 0x1000)
        if key in live:  # another reference, as the prototype counted it
            b = live[key]
            b[4] += 1
            event(b[0], 1, dev, b[3], key[1], b[1],
                  "\u2713 [PID %d] Allocated %d bytes of %s on device %d (buffer_id=%s, "
                  "ref_count=%d)" % (b[0], b[1], b[2], dev, ident(key[1]), b[4]), b[2], "share")
        else:
            size = rnd.choice([4096, 32768, 1 << 20, 3 << 20])
            live[key] = [pid, size, word, mt, 1]
            live_keys.add(key)
            freed.remove(key)
            event(pid, 1, dev, mt, key[1], size,
                  "\u2713 [PID %d] Allocated %d bytes of %s on device %d (buffer_id=%s)"
                  % (pid, size, word, dev, ident(key[1])), word, "make_tensor(int)")
    elif r < 0.85:
        key = live_keys.choice()
        b = live[key]
        b[4] -= 1
        rest = "ref_count=%d remaining" % b[4] if b[4] else "FINAL"
        event(b[0], 2, key[0], 255, key[1], b[1],
              "\u2717 [PID %d] Freed buffer %s on device %d (%d bytes, %s)"
              % (b[0], ident(key[1]), key[0], b[1], rest), fn="drop_tensor()")
        if b[4] == 0:
            del live[key]
            live_keys.remove(key)
            freed.add(key)
    else:  # a free of a freed buffer, or of one never allocated
        key = freed.choice() if freed.keys and rnd.random() < 0.6 else (5, 0x7000000 + n * 0x1000)
        event(pid, 2, key[0], 255, key[1], 0,
              "\u26a0 [PID %d] Deallocation for unknown buffer %s on device %d (allocated "
              "before tracking started)" % (pid, ident(key[1]), key[0]), fn="free_twice()")
    n += 1
put("")
json.dump({"events": events, "pids": pids, "traced": traced, "lines": line},
          open(out + "/expect.json", "w"))
