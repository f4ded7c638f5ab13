"""The ttmem package against a real ttmemd: the write calls reach the daemon, status(), dump()
and report() return the documented documents, record() reports its block, scopes and phases
are attributed, bad input raises one clear error, the TT-NN hook is inert without ttnn."""
import importlib.util
import json
import os
import subprocess

import pytest

import ttmem

# A process that reports three buffers and frees one, then waits (the buffers stay live)
# until its stdin says go; "ready" on stdout once the daemon took every event.
HOLDER = r"""
import sys, ttmem
assert ttmem.enabled()
assert ttmem.describe(0, "wormhole_b0")
assert ttmem.alloc(0, "DRAM", 0x100000, 4096, obj=11)
assert ttmem.alloc(0, "L1", 0x2000, 256, obj=12)
assert ttmem.alloc(1, "DRAM", 0x300000, 1 << 20, obj=13)
assert ttmem.free(0, "DRAM", 0x100000, 4096, obj=11)
assert ttmem.flush(5000)
print("ready", flush=True)
sys.stdin.readline()
"""


def test_status_and_dump_see_a_live_process(daemon, spawn_py):
    p = spawn_py(HOLDER, socket=daemon.socket)
    assert p.stdout.readline() == "ready\n"
    s = ttmem.status(socket=daemon.socket)
    assert s["schema"] == "ttmem.status" and s["schema_version"] == 2
    assert s["socket"] == daemon.socket
    assert s["totals"]["allocs"] == 3 and s["totals"]["frees"] == 1
    assert s["totals"]["live_records"] == 2
    pids = [pr["pid"] for pr in s["processes"]]
    assert p.pid in pids, pids

    d = ttmem.dump(socket=daemon.socket)
    assert d["schema"] == "ttmem.dump"
    assert d["live_total"] == 2
    by_dev = {dev["device"]: dev["bytes"] for dev in d["devices"]}
    assert by_dev == {0: 256, 1: 1 << 20}, by_dev
    assert ttmem.dump(socket=daemon.socket, max=1)["listed"] == 1

    p.stdin.write("go\n")
    p.stdin.close()
    assert p.wait(timeout=30) == 0


def test_record_reports_its_block_scopes_and_phases(run_py, tmpdir_short):
    journal = os.path.join(tmpdir_short, "kept.ttmem")
    code = r"""
import json, os, ttmem
with ttmem.record(keep=%r) as r:
    assert r.tracked_self
    ttmem.mark("warmup")
    with ttmem.scope("matmul"):
        ttmem.alloc(0, "DRAM", 0x1000, 4096, obj=1)
        ttmem.alloc(0, "DRAM", 0x9000, 512, obj=2)
    ttmem.free(0, "DRAM", 0x1000, 4096, obj=1)
    ttmem.free(0, "DRAM", 0x1000, 4096, obj=1)
    live = r.dump()["live_total"]
print(json.dumps({"report": r.report, "pid": os.getpid(), "live": live, "dir": r.directory,
                  "env": [os.environ.get("TTMEM"), os.environ.get("TTMEM_SOCKET")]}))
""" % journal
    out = run_py(code, track=False)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    rep = got["report"]
    assert got["live"] == 1
    assert rep["schema"] == "ttmem.report"
    assert rep["classes"]["alloc_ok"]["count"] == 2
    assert rep["classes"]["free_ok"]["count"] == 1
    assert rep["classes"]["double_free"]["count"] == 1
    assert [pr["pid"] for pr in rep["processes"]] == [got["pid"]]
    strings = {s["id"]: s["text"] for s in rep["strings"]}
    scopes = {strings[b["name"]]: b["allocs"] for b in rep["breakdown"] if b["kind"] == "scope"}
    assert scopes.get("matmul") == 2, rep["breakdown"]
    assert [strings[ph["name"]] for ph in rep["phases"]] == ["warmup"]
    # the kept journal gives the same report again
    again = ttmem.report(journal)
    assert again["classes"] == rep["classes"] and again["totals"] == rep["totals"]
    # the private daemon's directory is gone, the environment is as it was
    assert got["dir"] and not os.path.exists(got["dir"])
    assert got["env"] == [None, None]


def test_record_covers_subprocesses(run_py):
    code = r"""
import json, subprocess, sys, ttmem
child = "import ttmem; ttmem.alloc(2, 'L1', 0x4000, 2048, obj=5); ttmem.alloc(2, 'L1', 0x8000, 64, obj=6)"
with ttmem.record() as r:
    pid = subprocess.run([sys.executable, "-c", child + "; import os; print(os.getpid())"],
                         capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({"report": r.report, "child": int(pid)}))
"""
    out = run_py(code, track=False)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    rep = got["report"]
    assert got["child"] in [pr["pid"] for pr in rep["processes"]]
    assert rep["leaked_count"] == 2 and rep["leaked_bytes"] == 2048 + 64
    assert sorted(l["addr"] for l in rep["leaks"]) == ["0x4000", "0x8000"]


def test_report_reads_a_json_report_file(tmpdir_short, daemon):
    cli = os.environ.get("TTMEM_CLI", "ttmem")
    out = os.path.join(tmpdir_short, "r.json")
    env = dict(os.environ, TMPDIR=tmpdir_short)
    holder = "import ttmem; ttmem.alloc(0, 'DRAM', 0x7000, 100, obj=9)"
    import sys
    from conftest import PKG_DIR
    env["PYTHONPATH"] = PKG_DIR
    rc = subprocess.run([cli, "record", "-o", out, "--", sys.executable, "-c", holder],
                        env=env, capture_output=True, check=False).returncode
    assert rc == 0
    rep = ttmem.report(out)
    assert rep["schema"] == "ttmem.report"
    assert rep["leaked_count"] == 1 and rep["leaks"][0]["addr"] == "0x7000"


def test_bad_input_gets_one_clear_error(tmpdir_short, run_py):
    with pytest.raises(ttmem.QueryError) as e:
        ttmem.report(os.path.join(tmpdir_short, "missing.ttmem"))
    assert "missing.ttmem" in str(e.value) and "\n" not in str(e.value)
    junk = os.path.join(tmpdir_short, "junk.ttmem")
    with open(junk, "wb") as f:
        f.write(b"not a journal at all\n" * 10)
    with pytest.raises(ttmem.QueryError) as e:
        ttmem.report(junk)
    assert e.value.status != 0 and "\n" not in str(e.value)
    bad_json = os.path.join(tmpdir_short, "x.json")
    with open(bad_json, "w") as f:
        f.write('{"schema": "something.else"}')
    with pytest.raises(ttmem.QueryError, match="not a ttmem document"):
        ttmem.report(bad_json)
    with pytest.raises(ttmem.QueryError) as e:
        ttmem.status(socket=os.path.join(tmpdir_short, "nobody.sock"))
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="unknown memtype"):
        ttmem.alloc(0, "HBM", 0, 1)
    with pytest.raises(ValueError, match="unknown arch"):
        ttmem.describe(0, "pentium")
    with pytest.raises(ValueError):
        ttmem.scope("")
    # libttmem's own refusals become TtmemError with its error name
    out = run_py(r"""
import ttmem
try:
    with ttmem.record():
        ttmem.alloc(0, "ANY", 0x10, 64)
except ttmem.TtmemError as e:
    print(e.name)
""", track=False)
    assert out.stdout.strip() == "TTM_EINVAL", (out.stdout, out.stderr)


def test_disabled_calls_are_no_ops(run_py):
    out = run_py(r"""
import ttmem
print(ttmem.enabled(), ttmem.alloc(0, "DRAM", 0x1000, 64), ttmem.free(0, "ANY", 0x1000),
      ttmem.mark("x"), ttmem.flush())
with ttmem.scope("nothing"):
    pass
print(ttmem.stats()["events"])
""", track=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False", "False", "False", "0"]


def test_ttnn_hook_is_inert_without_ttnn():
    assert importlib.util.find_spec("ttnn") is None, "this test is for a host without ttnn"
    with ttmem.ttnn_scopes() as on:
        assert on is False


def test_ttnn_hook_functions_push_the_op_name(run_py):
    # the functions ttnn_scopes() registers with ttnn, called as ttnn calls them
    out = run_py(r"""
import json, ttmem
class Op:
    python_fully_qualified_name = "ttnn.matmul"
with ttmem.record() as r:
    ttmem._ttnn_pre(Op(), (1, 2), {})
    ttmem.alloc(0, "L1", 0x100, 32, obj=3)
    ttmem._ttnn_post(Op(), (1, 2), {}, None)
    ttmem.alloc(0, "L1", 0x200, 32, obj=4)
print(json.dumps(r.report))
""", track=False)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    strings = {s["id"]: s["text"] for s in rep["strings"]}
    scopes = {strings[b["name"]]: b["allocs"] for b in rep["breakdown"] if b["kind"] == "scope"}
    assert scopes == {"ttnn.matmul": 1}, rep["breakdown"]


def test_pip_install_offline_in_a_fresh_venv(tmpdir_short, daemon, spawn_py):
    import sys
    from conftest import PKG_DIR
    venv = os.path.join(tmpdir_short, "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True)
    py = os.path.join(venv, "bin", "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") and k != "PYTHONPATH"}
    env["PIP_NO_INDEX"] = "1"  # offline: no index at all, not even a configured one
    env["PIP_FIND_LINKS"] = ""
    env["PIP_NO_CACHE_DIR"] = "1"
    p = subprocess.run([py, "-m", "pip", "install", "--no-index", PKG_DIR], env=env,
                       capture_output=True, text=True, check=False, cwd=tmpdir_short)
    assert p.returncode == 0, p.stdout + p.stderr
    holder = spawn_py(HOLDER, socket=daemon.socket)
    assert holder.stdout.readline() == "ready\n"
    code = ("import ttmem, json; print(json.dumps([ttmem.__file__, "
            "ttmem.dump(socket=%r)['live_total']]))" % daemon.socket)
    out = subprocess.run([py, "-c", code], env=env, capture_output=True, text=True,
                         check=False, cwd=tmpdir_short)
    assert out.returncode == 0, out.stderr
    where, live = json.loads(out.stdout)
    assert where.startswith(venv + os.sep), where
    assert live == 2
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0


def test_record_reports_a_block_that_raised_and_knows_who_is_tracked(run_py):
    out = run_py(r"""
import json, subprocess, sys, ttmem
assert not ttmem.enabled()          # libttmem read the environment already: tracking off
rec = None
try:
    with ttmem.record() as r:
        rec = r
        subprocess.run([sys.executable, "-c",
                        "import ttmem; ttmem.alloc(0, 'DRAM', 0x5000, 10, obj=1)"], check=True)
        ttmem.alloc(0, "DRAM", 0x6000, 10, obj=2)   # off in this process: not reported
        raise KeyError("the block's own error")
except KeyError as e:
    err = str(e)
print(json.dumps({"err": err, "self": rec.tracked_self, "allocs": rec.report["totals"]["allocs"]}))
""", track=False)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got == {"err": "\"the block's own error\"", "self": False, "allocs": 1}, got


def test_record_says_why_its_daemon_did_not_start(run_py, tmpdir_short):
    out = run_py(r"""
import os, ttmem
os.environ["TTMEMD"] = "/bin/false"
try:
    with ttmem.record():
        raise SystemExit("the block ran")
except ttmem.QueryError as e:
    print(e)
""", track=False)
    assert out.stdout.startswith("ttmem: the private ttmemd did not start"), out
    assert out.stdout.count("\n") == 1


def test_one_scope_object_on_many_threads_and_as_a_decorator(run_py):
    out = run_py(r"""
import json, threading, ttmem
op = ttmem.scope("shared")
@ttmem.scope("decorated")
def work(i):
    ttmem.alloc(0, "L1", 0x1000 * (i + 1), 16, obj=100 + i)
barrier = threading.Barrier(4)
def thread(i):
    with op:
        barrier.wait()
        ttmem.alloc(1, "L1", 0x1000 * (i + 1), 16, obj=i + 1)
        barrier.wait()
with ttmem.record() as r:
    ts = [threading.Thread(target=thread, args=(i,)) for i in range(4)]
    for t in ts: t.start()
    for t in ts: t.join()
    for i in range(3): work(i)
    ttmem.alloc(2, "L1", 0x100, 16, obj=999)   # outside every scope
print(json.dumps(r.report))
""", track=False)
    assert out.returncode == 0, out.stderr
    rep = json.loads(out.stdout)
    strings = {s["id"]: s["text"] for s in rep["strings"]}
    scopes = {strings[b["name"]]: b["allocs"] for b in rep["breakdown"] if b["kind"] == "scope"}
    assert scopes == {"shared": 4, "decorated": 3}, rep["breakdown"]


def test_ping_speaks_the_query_socket(daemon, tmpdir_short):
    import re
    import socket
    import threading
    from conftest import PKG_DIR
    from ttmem import _wire
    d = ttmem.ping(socket=daemon.socket)
    s = ttmem.status(socket=daemon.socket)["daemon"]
    for k in ("version", "pid", "max_clients", "max_live_per_client"):
        assert d[k] == s[k], (k, d[k], s[k])
    assert d["pid"] == daemon.proc.pid
    assert ttmem.ping(socket=daemon.socket)["queries"] > d["queries"]
    # the layout is the generated table of docs/DAEMON.md (`daemon`: field, wire, bytes)
    doc = open(os.path.join(os.path.dirname(PKG_DIR), "docs", "DAEMON.md")).read()
    table = doc.split("\n`daemon`:\n", 1)[1].strip().split("\n\n", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| (\d+) \|$", table, re.M)
    import struct
    assert len(rows) > 10
    assert [(n, struct.calcsize("<" + c)) for n, c in _wire.DAEMON_FIELDS] == \
        [(n, int(b)) for n, b in rows]
    # no daemon, and a peer that is not one: one line each
    with pytest.raises(ttmem.WireError) as e:
        ttmem.ping(socket=os.path.join(tmpdir_short, "none.sock"))
    assert "cannot connect" in str(e.value) and "\n" not in str(e.value)
    fake = os.path.join(tmpdir_short, "fake.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(fake + ".query")
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        c.recv(64)
        c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
        c.close()

    t = threading.Thread(target=serve)
    t.start()
    with pytest.raises(ttmem.WireError, match="not a ttmem query socket"):
        ttmem.ping(socket=fake)
    t.join()
    srv.close()
