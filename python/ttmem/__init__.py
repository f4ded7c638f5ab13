"""ttmem from Python: the device-memory tracker for TT-Metal accelerators (docs/PYTHON.md).

Pure Python, no compiled extension:

- the write side, for Python runtimes that report their own device memory, calls libttmem
  through ctypes: alloc(), free(), describe(), mark(), scope(), flush(), stats(). As in C,
  tracking is on only when the environment has TTMEM=1 (or TT_ALLOC_TRACKING_ENABLED=1) at
  libttmem's first call; otherwise every call is a no-op returning False.
- the read side returns plain dicts of the documented JSON schema (docs/REPORT_SCHEMA.md):
  status() and dump() from a running ttmemd, report(path) from a run journal or a JSON report.
- ping() asks a ttmemd's query socket directly for its daemon record.
- record() tracks a block under a private ttmemd and gives its report afterwards.
- ttnn_scopes() tags every TT-NN operation as a scope when ttnn is importable.
"""
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from . import _cli, _lib
from ._cli import QueryError
from ._wire import WireError, ping
from ._lib import ClientStats, TtmemError

__all__ = [
    "alloc", "free", "describe", "mark", "scope", "flush", "stats", "enabled",
    "status", "dump", "report", "record", "Recording", "ttnn_scopes", "ping",
    "TtmemError", "QueryError", "WireError", "MEMTYPES", "FLAG_VIEW",
]
__version__ = "0.1.0"

MEMTYPES = dict(_lib.MEMTYPES)
FLAG_VIEW = _lib.FLAG_VIEW


# ---- the write side (libttmem) ------------------------------------------------------------

def enabled():
    """True when tracking is on for this process (libttmem's first call reads the environment)."""
    return _lib.lib().ttm_client_enabled() == 1


def _flags(view):
    return _lib.FLAG_VIEW if view else 0


def alloc(device, memtype, addr, size, obj=0, view=False):
    """Reports an allocation of size bytes at addr on device (ttm_buffer_alloc).

    memtype is a name of MEMTYPES ("DRAM", "L1", ...) or its number; obj is the caller's
    identity of the buffer (0 = none); view=True marks an object that owns no memory. Returns
    True when the event was recorded, False when tracking is off; raises TtmemError on a bad
    argument or a dropped event (no daemon).
    """
    rc = _lib.lib().ttm_buffer_alloc(int(device), _lib.memtype(memtype), int(addr), int(size),
                                     int(obj), _flags(view))
    return _lib.check("ttm_buffer_alloc", rc) == 0


def free(device, memtype, addr, size=0, obj=0, view=False):
    """Reports a free (ttm_buffer_free); memtype may be "ANY" and size 0 when not known."""
    rc = _lib.lib().ttm_buffer_free(int(device), _lib.memtype(memtype), int(addr), int(size),
                                    int(obj), _flags(view))
    return _lib.check("ttm_buffer_free", rc) == 0


def describe(device, arch, dram_bytes=0, l1_bytes=0):
    """Says what a device is (ttm_device_describe): arch by name ("wormhole_b0") or number,
    capacities in bytes (0 = the profile's)."""
    rc = _lib.lib().ttm_device_describe(int(device), _lib.arch(arch), int(dram_bytes),
                                        int(l1_bytes))
    return _lib.check("ttm_device_describe", rc) == 0


def _name(name, what):
    if not isinstance(name, str) or name == "":
        raise ValueError("ttmem: %s needs a non-empty string" % what)
    return name.encode()


def mark(name):
    """Marks the start of a named phase (ttm_phase_mark; cut at 39 bytes)."""
    rc = _lib.lib().ttm_phase_mark(_name(name, "mark()"))
    return _lib.check("ttm_phase_mark", rc) == 0


class scope:
    """`with ttmem.scope("op"):` pushes a scope on this thread for the block (ttm_scope_push /
    ttm_scope_pop): every event of the thread inside carries it. Also a decorator:
    `@ttmem.scope("op")`. Scopes nest up to 64 deep; names are cut at 255 bytes."""

    def __init__(self, name):
        self.name = name
        self._encoded = _name(name, "scope()")

    # No state in the object: one scope object may be entered by several threads at once.
    # A push either succeeded or tracking is off (then the pop is TTM_EDISABLED as well); a
    # push that failed raised, and its block never ran.
    def __enter__(self):
        _lib.check("ttm_scope_push", _lib.lib().ttm_scope_push(self._encoded))
        return self

    def __exit__(self, *exc):
        _lib.check("ttm_scope_pop", _lib.lib().ttm_scope_pop())
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with scope(self.name):
                return fn(*args, **kwargs)

        return wrapper


def flush(timeout_ms=2000):
    """Waits until the daemon has taken every event committed so far (ttm_client_flush).
    Returns True when it has, False when tracking is off; raises TtmemError on a timeout or
    when there is no daemon."""
    rc = _lib.lib().ttm_client_flush(int(timeout_ms))
    return _lib.check("ttm_client_flush", rc) == 0


def stats():
    """libttmem's counters (ttm_client_stats) as a dict."""
    s = ClientStats()
    _lib.lib().ttm_client_stats_get(s)
    return {name: getattr(s, name) for name, _ in ClientStats._fields_}


# ---- the read side --------------------------------------------------------------------------

def status(socket=None, stacks=False):
    """What the running ttmemd sees, as the `ttmem.status` document (`ttmem status --json`).

    socket: the daemon's socket (default: $TTMEM_SOCKET, else the user's, else the system
    daemon's). Raises QueryError with the command's error line when no daemon answers."""
    args = ["status", "--json"] + _cli.socket_args(socket) + (["--stacks"] if stacks else [])
    return _cli.run_json(args)


def dump(socket=None, max=None, stacks=False):
    """The live buffers of the running ttmemd, as the `ttmem.dump` document (`ttmem dump
    --json`); max caps the buffers listed."""
    args = ["dump", "--json"] + _cli.socket_args(socket)
    if max is not None:
        args += ["--max", str(int(max))]
    if stacks:
        args.append("--stacks")
    return _cli.run_json(args)


def report(path, top=None):
    """The report of a run as the `ttmem.report` document: path is a run journal (.ttmem,
    replayed by `ttmem report --json`) or a JSON report file (`ttmem record -o r.json`)."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
    except OSError as e:
        raise QueryError("ttmem: cannot read %s: %s" % (path, e.strerror), 2) from e
    if head.startswith(b"{"):
        with open(path, encoding="utf-8") as f:
            try:
                doc = json.load(f)
            except ValueError as e:
                raise QueryError("ttmem: %s is not a JSON report (%s)" % (path, e), 2) from e
        if not isinstance(doc, dict) or not str(doc.get("schema", "")).startswith("ttmem."):
            raise QueryError("ttmem: %s is JSON but not a ttmem document" % path, 2)
        return doc
    args = ["report", "--json"] + (["--top", str(int(top))] if top is not None else []) + [path]
    return _cli.run_json(args)


# ---- record() -------------------------------------------------------------------------------

def _daemon_path():
    env = os.environ.get("TTMEMD")
    if env:
        return env
    cli = os.environ.get("TTMEM_CLI")
    if cli:
        beside = os.path.join(os.path.dirname(os.path.abspath(cli)), "ttmemd")
        if os.access(beside, os.X_OK):
            return beside
    found = _cli.installed("ttmemd") or shutil.which("ttmemd")
    if found is None:
        raise QueryError("ttmem: ttmemd is not in PATH; set TTMEMD to its path", 2)
    return found


class Recording:
    """What `with ttmem.record() as r:` gives: .socket and .journal while the block runs (its
    subprocesses inherit TTMEM=1 and TTMEM_SOCKET), .report (the `ttmem.report` dict) after."""

    def __init__(self, directory):
        self.directory = directory
        self.socket = os.path.join(directory, "ttmemd.sock")
        self.journal = os.path.join(directory, "run.ttmem")
        self.log = os.path.join(directory, "ttmemd.log")
        self.report = None
        self.tracked_self = False
        self._daemon = None

    def status(self):
        """status() of the private daemon, while the block runs."""
        return status(socket=self.socket)

    def dump(self):
        """dump() of the private daemon, while the block runs."""
        return dump(socket=self.socket)


_record_lock = threading.Lock()


def _start_daemon(rec):
    rfd, wfd = os.pipe()
    errpath = os.path.join(rec.directory, "ttmemd.stderr")
    try:
        with open(errpath, "wb") as err:
            rec._daemon = subprocess.Popen(
                [_daemon_path(), "--foreground", "--no-state", "--socket", rec.socket,
                 "--log-file", rec.log, "--ready-fd", str(wfd), "--journal", rec.journal],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                pass_fds=(wfd,))
    except OSError as e:
        os.close(rfd)
        os.close(wfd)
        raise QueryError("ttmem: cannot start ttmemd: %s" % e.strerror, 2) from e
    os.close(wfd)
    with os.fdopen(rfd, "rb") as r:
        got = r.readline()  # "ready\n", or the daemon's error line, or nothing if it died
    if got != b"ready\n":
        rec._daemon.wait()
        with open(errpath, "rb") as f:
            err = f.read().decode(errors="replace").strip().splitlines()
        line = got.decode(errors="replace").strip() or (err or ["it died while starting"])[-1]
        raise QueryError("ttmem: the private ttmemd did not start: %s" % line, 2)


def _stop_daemon(rec):
    d = rec._daemon
    if d is None or d.poll() is not None:
        return
    d.send_signal(signal.SIGTERM)
    try:
        d.wait(timeout=30)
    except subprocess.TimeoutExpired:
        d.kill()
        d.wait()
        raise QueryError("ttmem: the private ttmemd did not stop in 30 s", 2)


def _restore_env(saved):
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _gate_unread():
    """True while libttmem has not read the environment yet (its gate word is still 0)."""
    import ctypes
    return ctypes.c_int.in_dll(_lib.lib(), "ttm__gate_word").value == 0


def _settle(rec, timeout_s=5.0):
    """Waits (up to timeout_s) until the private daemon has settled the sessions of every
    other process (as `ttmem record` does): a process that exited in the block is then
    reported with its leaks at exit, not as live. One that still runs stays live."""
    deadline = time.monotonic() + timeout_s
    me = os.getpid()
    while True:
        procs = status(socket=rec.socket).get("processes", [])
        open_ = [p["pid"] for p in procs if p.get("connected") and p.get("pid") != me]
        if not open_:
            return
        if time.monotonic() >= deadline:
            logging.getLogger("ttmem").warning(
                "ttmem: %d tracked process(es) still connected at the end of record(); their "
                "buffers are reported as live", len(open_))
            return
        time.sleep(0.02)  # polled, as the daemon announces no settlement


def _finish(rec, saved, top, keep):
    """The end of a record() block: flush, settle, restore, stop, replay."""
    if rec.tracked_self:
        try:
            flush(5000)
        except TtmemError:
            pass  # what did not reach the daemon is not in the report; nothing else to do
    _settle(rec)
    if rec.tracked_self:
        _lib.quiet()  # the private daemon goes away on purpose: its lost connection is no news
    _restore_env(saved)
    _stop_daemon(rec)
    rec.report = report(rec.journal, top=top)
    if keep is not None:
        shutil.copyfile(rec.journal, os.fspath(keep))


@contextlib.contextmanager
def record(keep=None, top=None):
    """`with ttmem.record() as r:` runs the block under a private ttmemd and sets r.report.

    While the block runs, TTMEM=1 and TTMEM_SOCKET name the private daemon in os.environ, so
    subprocesses started in the block report to it, and so does this process when its libttmem
    is first used inside the block (libttmem reads the environment once: r.tracked_self tells).
    After the block (also when it raised) the daemon takes what this process committed, stops,
    and its run journal is replayed into r.report (`ttmem report --json`). keep: a path to copy
    the journal to. One record() at a time per process.
    """
    if not _record_lock.acquire(blocking=False):
        raise RuntimeError("ttmem: record() is already running in this process")
    saved = {k: os.environ.get(k) for k in ("TTMEM", "TTMEM_SOCKET")}
    directory = tempfile.mkdtemp(prefix="ttmem-py-")
    rec = Recording(directory)
    try:
        _start_daemon(rec)
        os.environ["TTMEM"] = "1"
        os.environ["TTMEM_SOCKET"] = rec.socket
        rec.tracked_self = _gate_unread() and enabled()
        try:
            yield rec
        except BaseException:
            try:
                _finish(rec, saved, top, keep)
            except (QueryError, OSError):
                pass  # the block's own exception is the one to see
            raise
        _finish(rec, saved, top, keep)
    finally:
        _restore_env(saved)
        if rec._daemon is not None and rec._daemon.poll() is None:
            rec._daemon.kill()
            rec._daemon.wait()
        shutil.rmtree(directory, ignore_errors=True)
        _record_lock.release()


# ---- TT-NN ------------------------------------------------------------------------------------

def _op_name(operation):
    for attr in ("python_fully_qualified_name", "__name__", "name"):
        v = getattr(operation, attr, None)
        if isinstance(v, str) and v:
            return v
    return str(operation) or "ttnn.op"


def _ttnn_pre(operation, *args, **kwargs):
    """TT-NN's pre-operation hook: the operation's name becomes this thread's scope."""
    rc = _lib.lib().ttm_scope_push(_op_name(operation).encode())
    if rc not in (0, _lib.TTM_EDISABLED):
        _lib.check("ttm_scope_push", rc)


def _ttnn_post(operation, *args, **kwargs):
    """TT-NN's post-operation hook: the scope of the operation ends."""
    rc = _lib.lib().ttm_scope_pop()
    if rc not in (0, _lib.TTM_EDISABLED):
        _lib.check("ttm_scope_pop", rc)


@contextlib.contextmanager
def ttnn_scopes():
    """`with ttmem.ttnn_scopes() as on:` tags every TT-NN operation in the block as a scope
    (its python_fully_qualified_name, pushed on the dispatching thread by ttnn's pre-operation
    hook and popped by its post-operation hook). Inert when ttnn is not importable: `on` is
    then False and nothing is registered."""
    try:
        import ttnn  # noqa: F401 (the real TT-NN, when installed)
    except ImportError:
        yield False
        return
    pre = getattr(ttnn, "register_pre_operation_hook", None)
    post = getattr(ttnn, "register_post_operation_hook", None)
    if pre is None or post is None:
        yield False
        return
    with pre(_ttnn_pre), post(_ttnn_post):
        yield True
