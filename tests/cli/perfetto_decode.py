#!/usr/bin/env python3
"""perfetto_decode.py — an independent decoder of the Perfetto traces src/common/perfetto.c writes.

Usage: perfetto_decode.py TEST_PERFETTO WORKDIR
Runs `TEST_PERFETTO --emit WORKDIR/trace.pftrace WORKDIR/expected.tsv`, decodes the trace with
the standard library only (protobuf's wire format by hand; the field numbers are Perfetto's, from
protos/perfetto/trace/, written here independently of the C code) and checks it against the list
of what the C program wrote: every track (process tracks with pid and name, device tracks,
counter tracks in bytes under their device), every counter value and every instant, in order.
(python3-protobuf or Perfetto's trace_processor would be better checkers; neither can be
installed on the offline build machines.)
"""
import os
import subprocess
import sys

# Perfetto's field numbers (protos/perfetto/trace/...).
TRACE_PACKET = 1                        # Trace.packet
PKT = {8: "timestamp", 10: "trusted_packet_sequence_id", 11: "track_event",
       60: "track_descriptor"}           # TracePacket
TD = {1: "uuid", 2: "name", 3: "process", 5: "parent_uuid", 8: "counter"}  # TrackDescriptor
PD = {1: "pid", 6: "process_name"}      # ProcessDescriptor
CD = {3: "unit"}                        # CounterDescriptor
TE = {9: "type", 11: "track_uuid", 23: "name", 30: "counter_value"}  # TrackEvent
UNIT_SIZE_BYTES = 3
TYPE_INSTANT, TYPE_COUNTER = 3, 4


class Bad(Exception):
    pass


def varint(buf, pos):
    v, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise Bad("varint cut short")
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, pos
        shift += 7
        if shift >= 70:
            raise Bad("varint over 10 bytes")


def fields(buf, names, what):
    """The fields of one message as {name: value or [values]} (bytes for length-delimited)."""
    out, pos = {}, 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = varint(buf, pos)
        elif wire == 2:
            n, pos = varint(buf, pos)
            if pos + n > len(buf):
                raise Bad(f"{what}: field {num} runs past the message")
            val, pos = bytes(buf[pos:pos + n]), pos + n
        else:
            raise Bad(f"{what}: field {num} has wire type {wire}, which the writer never uses")
        if num not in names:
            raise Bad(f"{what}: unexpected field {num}")
        name = names[num]
        if name in out:
            raise Bad(f"{what}: field {name} twice")
        out[name] = val
    return out


def int64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def decode(data):
    """The trace as (tracks {uuid: dict}, records [tuples in file order])."""
    tracks, records, pos = {}, [], 0
    while pos < len(data):
        key, pos = varint(data, pos)
        if key != (TRACE_PACKET << 3 | 2):
            raise Bad(f"Trace: key {key:#x} is not a TracePacket")
        n, pos = varint(data, pos)
        if pos + n > len(data):
            raise Bad("Trace: the last packet is cut short")
        pkt = fields(data[pos:pos + n], PKT, "TracePacket")
        pos += n
        if pkt.get("trusted_packet_sequence_id") != 1:
            raise Bad(f"TracePacket without sequence id 1: {pkt}")
        if "track_descriptor" in pkt:
            if "track_event" in pkt or "timestamp" in pkt:
                raise Bad("a TrackDescriptor packet carries an event or a timestamp")
            td = fields(pkt["track_descriptor"], TD, "TrackDescriptor")
            uuid = td.get("uuid")
            if not uuid or uuid in tracks:
                raise Bad(f"track uuid missing or repeated: {td}")
            t = {"uuid": uuid}
            if "name" in td:
                t["name"] = td["name"].decode("utf-8")
            if "parent_uuid" in td:
                if td["parent_uuid"] not in tracks:
                    raise Bad(f"track {uuid}: parent {td['parent_uuid']} not described before")
                t["parent"] = td["parent_uuid"]
            if "process" in td:
                pd = fields(td["process"], PD, "ProcessDescriptor")
                t["pid"] = pd["pid"]
                t["process_name"] = pd["process_name"].decode("utf-8")
            if "counter" in td:
                t["unit"] = fields(td["counter"], CD, "CounterDescriptor").get("unit")
            tracks[uuid] = t
            records.append(("track", uuid))
        elif "track_event" in pkt:
            if "timestamp" not in pkt:
                raise Bad("a TrackEvent packet without a timestamp")
            te = fields(pkt["track_event"], TE, "TrackEvent")
            tu = te.get("track_uuid")
            if tu not in tracks:
                raise Bad(f"event on track {tu}, not described before")
            if te.get("type") == TYPE_COUNTER:
                if "unit" not in tracks[tu] or "name" in te:
                    raise Bad(f"counter event on a non-counter track or with a name: {te}")
                records.append(("counter", tu, pkt["timestamp"], int64(te["counter_value"])))
            elif te.get("type") == TYPE_INSTANT:
                if "counter_value" in te or "unit" in tracks[tu]:
                    raise Bad(f"an instant with a counter value or on a counter track: {te}")
                records.append(("instant", tu, pkt["timestamp"], te["name"].decode("utf-8")))
            else:
                raise Bad(f"TrackEvent of type {te.get('type')}")
        else:
            raise Bad(f"a TracePacket with neither descriptor nor event: {pkt}")
    return tracks, records


def check(tracks, records, expected):
    events = [r for r in records if r[0] != "track"]
    want_events = []
    n_proc = n_counter = 0
    for line in expected:
        f = line.rstrip("\n").split("\t")
        if f[0] == "process":
            t = tracks.get(int(f[1]))
            want = {"uuid": int(f[1]), "pid": int(f[2]), "process_name": f[3]}
            if t != want:
                raise Bad(f"process track: decoded {t}, written {want}")
            n_proc += 1
        elif f[0] == "counter_track":
            t = tracks.get(int(f[1]))
            if t is None or t.get("name") != f[3] or t.get("unit") != UNIT_SIZE_BYTES:
                raise Bad(f"counter track: decoded {t}, written {f}")
            parent = tracks.get(t.get("parent"))
            if parent is None or parent.get("name") != f"device {f[2]}" or len(parent) != 2:
                raise Bad(f"counter track {f[1]}: parent {parent} is not device {f[2]}'s track")
            n_counter += 1
        elif f[0] == "counter":
            want_events.append(("counter", int(f[1]), int(f[2]), int(f[3])))
        elif f[0] == "instant":
            want_events.append(("instant", int(f[1]), int(f[2]), f[3]))
        else:
            raise Bad(f"unknown line in the expectations: {line!r}")
    devices = [t for t in tracks.values() if set(t) == {"uuid", "name"}]
    if len(tracks) != n_proc + n_counter + len(devices):
        raise Bad(f"{len(tracks)} tracks decoded, {n_proc} + {n_counter} + devices written")
    if events != want_events:
        for i, (a, b) in enumerate(zip(events, want_events)):
            if a != b:
                raise Bad(f"event {i}: decoded {a}, written {b}")
        raise Bad(f"{len(events)} events decoded, {len(want_events)} written")
    on = {tracks[e[1]].get("pid") is None for e in events if e[0] == "instant"}
    if n_proc == 0 or n_counter == 0 or on != {True, False}:
        raise Bad("the expectations hold no process, counter track, or instant on a process"
                  " track and on a device track")
    return n_proc, n_counter, len(devices), len(events)


def main():
    prog, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    trace = os.path.join(work, "trace.pftrace")
    expect = os.path.join(work, "expected.tsv")
    subprocess.run([prog, "--emit", trace, expect], check=True)
    with open(trace, "rb") as f:
        data = f.read()
    with open(expect, encoding="utf-8") as f:
        expected = f.readlines()
    try:
        np, nc, nd, ne = check(*decode(data), expected)
        # a trace cut inside its last packet must be seen as such
        try:
            decode(data[:-1])
            raise Bad("a trace cut by one byte decoded without complaint")
        except Bad as e:
            if "cut" not in str(e) and "past" not in str(e):
                raise
    except Bad as e:
        print(f"perfetto_decode: FAIL: {e}", file=sys.stderr)
        return 1
    print(f"perfetto_decode: ok: {np} process, {nd} device and {nc} counter tracks, {ne} events,"
          f" {len(data)} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
