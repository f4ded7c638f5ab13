"""libttmem through ctypes: finding the library, the prototypes of include/ttmem/ttmem.h.

The library is $TTMEM_LIBRARY when set, else the one `make install` put beside the package
(_paths.py), else libttmem.so.0 as the dynamic loader finds it (an installed libttmem), else
libttmem.so. It is loaded once, at the first call that needs it.
"""
import atexit
import ctypes
import ctypes.util
import os
import threading

# include/ttmem/ttmem.h: ttm_memtype
MEMTYPES = {
    "DRAM": 0,
    "L1": 1,
    "SYSTEM": 2,
    "L1_SMALL": 3,
    "TRACE": 4,
    "CB": 5,
    "KERNEL": 6,
    "ANY": 255,
}
# ttm_arch
ARCHS = {"invalid": 0, "grayskull": 1, "wormhole_b0": 2, "blackhole": 3, "quasar": 4}
FLAG_VIEW = 0x0001
TTM_EDISABLED = -15


class TtmemError(Exception):
    """A libttmem call failed: .code is the negative ttm_err, .name its symbolic name."""

    def __init__(self, call, code, name, text):
        super().__init__("%s: %s (%s)" % (call, text, name))
        self.call = call
        self.code = code
        self.name = name


class ClientStats(ctypes.Structure):
    """ttm_client_stats, field for field."""

    _fields_ = [
        ("events", ctypes.c_uint64),
        ("waited", ctypes.c_uint64),
        ("dropped", ctypes.c_uint64),
        ("reconnects", ctypes.c_uint64),
        ("connected", ctypes.c_int),
        ("enabled", ctypes.c_int),
        ("stacks", ctypes.c_uint64),
        ("stacks_dropped", ctypes.c_uint64),
        ("side_full", ctypes.c_uint64),
        ("side_bytes", ctypes.c_uint64),
        ("table_full", ctypes.c_uint64),
        ("modules", ctypes.c_uint64),
        ("unwinds", ctypes.c_uint64),
    ]


_lock = threading.Lock()
_lib = None

_U16, _U32, _U64, _INT = ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int
_PROTOS = {
    "ttm_strerror": (ctypes.c_char_p, [_INT]),
    "ttm_err_name": (ctypes.c_char_p, [_INT]),
    "ttm_client_enabled": (_INT, []),
    "ttm_buffer_alloc": (_INT, [_U16, _INT, _U64, _U64, _U64, _U32]),
    "ttm_buffer_free": (_INT, [_U16, _INT, _U64, _U64, _U64, _U32]),
    "ttm_device_describe": (_INT, [_U16, _INT, _U64, _U64]),
    "ttm_phase_mark": (_INT, [ctypes.c_char_p]),
    "ttm_scope_push": (_INT, [ctypes.c_char_p]),
    "ttm_scope_pop": (_INT, []),
    "ttm_client_flush": (_INT, [_INT]),
    "ttm_client_stats_get": (None, [ctypes.POINTER(ClientStats)]),
    "ttm_client_set_log": (None, [ctypes.c_void_p, ctypes.c_void_p]),
}

# libttmem's diagnostics (connection lost, version mismatch) go to the logger "ttmem" instead
# of libttmem's own stderr line: WARNING normally (Python's last-resort handler prints it when
# the application configured none), DEBUG once quiet() was called (after record(): the private
# daemon is gone on purpose).
_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_quiet = False


def _on_log(err, msg, arg):
    import logging
    level = logging.DEBUG if _quiet else logging.WARNING
    logging.getLogger("ttmem").log(level, "%s", (msg or b"").decode(errors="replace"))


_log_cb = _LOG_FN(_on_log)


def quiet():
    """libttmem's diagnostics from now on at DEBUG level."""
    global _quiet
    _quiet = True


def _candidates():
    env = os.environ.get("TTMEM_LIBRARY")
    if env:
        return [env]
    names = []
    try:
        from . import _paths  # written by `make install` only
        if os.path.exists(_paths.LIBTTMEM):
            names.append(_paths.LIBTTMEM)
    except ImportError:
        pass
    names.append("libttmem.so.0")
    found = ctypes.util.find_library("ttmem")
    if found:
        names.append(found)
    names.append("libttmem.so")
    return names


def lib():
    """The loaded libttmem (ctypes.CDLL); raises OSError naming what was tried."""
    global _lib
    with _lock:
        if _lib is not None:
            return _lib
        tried = []
        for name in _candidates():
            try:
                handle = ctypes.CDLL(name)
            except OSError as e:
                tried.append("%s (%s)" % (name, e))
                continue
            for fn, (res, args) in _PROTOS.items():
                f = getattr(handle, fn)
                f.restype = res
                f.argtypes = args
            handle.ttm_client_set_log(ctypes.cast(_log_cb, ctypes.c_void_p), None)
            # no Python callback once the interpreter goes away (libttmem's exit handler and
            # its thread may still have something to say)
            atexit.register(handle.ttm_client_set_log, None, None)
            _lib = handle
            return _lib
        raise OSError("ttmem: cannot load libttmem: tried " + "; ".join(tried) +
                      "; set TTMEM_LIBRARY to its path")


def check(call, rc, allow_disabled=True):
    """rc of a libttmem call: returns it when 0 (or TTM_EDISABLED and allowed), else raises."""
    if rc == 0 or (allow_disabled and rc == TTM_EDISABLED):
        return rc
    h = lib()
    raise TtmemError(call, rc, h.ttm_err_name(rc).decode(), h.ttm_strerror(rc).decode())


def memtype(value):
    """A memtype given as a name ("DRAM", "l1") or a number, as ttm_memtype."""
    if isinstance(value, str):
        key = value.upper()
        if key not in MEMTYPES:
            raise ValueError("ttmem: unknown memtype %r (one of %s)" %
                             (value, ", ".join(MEMTYPES)))
        return MEMTYPES[key]
    v = int(value)
    if v not in MEMTYPES.values():
        raise ValueError("ttmem: unknown memtype %d" % v)
    return v


def arch(value):
    """An architecture given as a name ("wormhole_b0") or a number, as ttm_arch."""
    if isinstance(value, str):
        key = value.lower()
        if key not in ARCHS:
            raise ValueError("ttmem: unknown arch %r (one of %s)" % (value, ", ".join(ARCHS)))
        return ARCHS[key]
    v = int(value)
    if v not in ARCHS.values():
        raise ValueError("ttmem: unknown arch %d" % v)
    return v
