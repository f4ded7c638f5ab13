#!/usr/bin/env python3
"""journal_read.py -- an independent reader of run journals, written from docs/JOURNAL.md (not
from src/common/journal.c), for the tests of `ttmem analyze-log --journal` and `ttmem journal`.

Blocks are decompressed by the zstd command-line tool, one block at a time. It checks what the
document promises (magic, header and payload CRC-32C, lengths, record layout) and prints one
JSON document on stdout: the header, the good blocks' records and counts, and the damage.

    journal_read.py FILE [--records]   # --records: every record, else counts only
"""
import json
import struct
import subprocess
import sys

FILE_MAGIC = b"TTMJRNL\0"
FILE_HDR = 112
BLOCK_MAGIC = b"TJBK"
BLOCK_HDR = 44


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        t.append(c)
    return t


_T = _table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = (crc >> 8) ^ _T[(crc ^ b) & 0xFF]
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the document's check value


class Cursor:
    def __init__(self, b):
        self.b, self.i = b, 0

    def u8(self):
        v = self.b[self.i]
        self.i += 1
        return v

    def var(self):
        v, shift = 0, 0
        for _ in range(10):
            c = self.u8()
            v |= (c & 0x7F) << shift
            shift += 7
            if not c & 0x80:
                return v
        raise ValueError("varint longer than 10 bytes")

    def zz(self):
        v = self.var()
        return (v >> 1) ^ -(v & 1)

    def blob(self):
        n = self.var()
        if self.i + n > len(self.b):
            raise ValueError("string past the payload")
        v = self.b[self.i:self.i + n]
        self.i += n
        return v


def records(payload, count):
    c = Cursor(payload)
    ts = addr = obj = 0
    out = []
    for _ in range(count):
        tag = c.u8()
        ts = (ts + c.zz()) & (2**64 - 1)
        if tag == 1:
            r = {"tag": "event", "kind": c.u8(), "memtype": c.u8(), "flags": c.var(),
                 "device": c.var(), "classes": c.var(), "pid": c.var(), "stack": c.var(),
                 "scope": c.var()}
            addr = (addr + c.zz()) & (2**64 - 1)
            r["addr"], r["size"] = addr, c.var()
            obj = (obj + c.zz()) & (2**64 - 1)
            r["obj"] = obj
        elif tag == 2:
            r = dict(zip(("device", "arch", "worker_cores", "l1_per_core", "dram_channels",
                          "dram_capacity", "l1_capacity"), (c.var() for _ in range(7))))
            r["tag"] = "device"
        elif tag == 3:
            r = {"tag": "proc", "state": c.u8(), "pid": c.var(), "status": c.zz(),
                 "name": c.blob().decode("utf-8", "replace"),
                 "cmdline": c.blob().decode("utf-8", "replace")}
        elif tag == 4:
            r = {"tag": "mark", "pid": c.var(), "name": c.blob().decode("utf-8", "replace")}
        elif tag == 5:
            r = {"tag": "chunk", "kind": c.var()}
            data = c.blob()
            r["len"] = len(data)
            if r["kind"] == 5:
                r["text"] = data.decode("utf-8", "replace")
        else:
            raise ValueError("unknown tag %d" % tag)
        r["ts"] = ts
        out.append(r)
    if c.i != len(payload):
        raise ValueError("bytes left after the records")
    return out


def read(path):
    data = open(path, "rb").read()
    h = data[:FILE_HDR]
    if len(h) < FILE_HDR or h[:8] != FILE_MAGIC or struct.unpack_from("<I", h, 108)[0] != crc32c(h[:108]):
        raise SystemExit("%s: not a journal" % path)
    version, = struct.unpack_from("<H", h, 8)
    created, = struct.unpack_from("<Q", h, 16)
    host = h[24:88].split(b"\0")[0].decode("utf-8", "replace")
    run_id, = struct.unpack_from("<Q", h, 88)
    seq, = struct.unpack_from("<I", h, 96)
    doc = {"header": {"version": version, "created_ns": created, "host": host,
                      "run_id": "%016x" % run_id, "seq": seq},
           "blocks": 0, "bad_blocks": 0, "truncated": False, "records": [],
           "block_events": [], "block_offsets": []}
    off = FILE_HDR
    while off < len(data):
        if data[off:off + 4] != BLOCK_MAGIC:
            if len(data) - off < 4 and BLOCK_MAGIC.startswith(data[off:]):
                doc["truncated"] = True  # a cut magic
                break
            doc["bad_blocks"] += 1  # search the next magic (a run of damage is one)
            nxt = data.find(BLOCK_MAGIC, off + 1)
            off = nxt if nxt >= 0 else len(data)
            continue
        bh = data[off:off + BLOCK_HDR]
        if len(bh) < BLOCK_HDR:
            doc["truncated"] = True
            break
        ulen, clen, count, pcrc, first, last, hcrc = struct.unpack_from("<IIIIQQI", bh, 8)
        if hcrc != crc32c(bh[:40]) or bh[4] != 1 or bh[5] != 1:
            doc["bad_blocks"] += 1
            nxt = data.find(BLOCK_MAGIC, off + 1)
            off = nxt if nxt >= 0 else len(data)
            continue
        comp = data[off + BLOCK_HDR:off + BLOCK_HDR + clen]
        if len(comp) < clen:
            doc["truncated"] = True
            break
        try:
            if crc32c(comp) != pcrc:
                raise ValueError("payload CRC")
            raw = subprocess.run(["zstd", "-d", "-c", "-q"], input=comp, stdout=subprocess.PIPE,
                                 check=True).stdout
            if len(raw) != ulen:
                raise ValueError("length")
            recs = records(raw, count)
            if any(r["ts"] < first or r["ts"] > last for r in recs):
                raise ValueError("time outside the block's range")
        except (ValueError, IndexError, subprocess.CalledProcessError):
            doc["bad_blocks"] += 1
            off += BLOCK_HDR + clen
            continue
        doc["blocks"] += 1
        doc["records"].extend(recs)
        doc["block_events"].append(sum(r["tag"] == "event" for r in recs))
        doc["block_offsets"].append(off)
        off += BLOCK_HDR + clen
    return doc


def counts(doc):
    """What `ttmem journal --json` counts, from this reader's records."""
    c = {"total": 0, "events": 0, "alloc": 0, "free": 0, "devices": 0, "marks": 0, "chunks": 0,
         "procs": {"start": 0, "exit": 0, "forget": 0}, "classes": {}, "chunk_kinds": {}}
    for r in doc["records"]:
        c["total"] += 1
        t = r["tag"]
        if t == "event":
            c["events"] += 1
            c["alloc" if r["kind"] == 1 else "free"] += 1
            for b in range(32):
                if r["classes"] >> b & 1:
                    c["classes"][b] = c["classes"].get(b, 0) + 1
        elif t == "device":
            c["devices"] += 1
        elif t == "mark":
            c["marks"] += 1
        elif t == "proc":
            c["procs"][("start", "exit", "forget")[r["state"]]] += 1
        else:
            c["chunks"] += 1
            k = c["chunk_kinds"].setdefault(r["kind"], [0, 0])
            k[0] += 1
            k[1] += r["len"]
    return c


if __name__ == "__main__":
    d = read(sys.argv[1])
    if "--records" not in sys.argv:
        d["counts"] = counts(d)
        del d["records"]
    json.dump(d, sys.stdout)
    sys.stdout.write("\n")
