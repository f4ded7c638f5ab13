"""test_pystack.py — libttmem's Python frames (src/client/pystack.c) seen from Python.

Run by ctest (tests/CMakeLists.txt): python3 test_pystack.py PATH/libttm_pyprobe.so.
The probe library (tests/python/pyprobe.c) holds the static libttmem; it is called through
ctypes.CDLL (the GIL released around the call: the capture takes it again) and ctypes.PyDLL
(the GIL held, as from a C extension). Checked: the file, function and line of the calling
Python code, innermost first, both ways and from a Python thread; the Python frames interleaved
with the native ones (read back from the side log's records) without libpython's own frames;
a call site seen before costs no new lookups (the cache); more call sites than the cache holds
are refused by it (counted) and still resolved; an exception pending when the capture runs is
still pending after it; a thread Python does not know gets no Python frames and its native
stack back unchanged.
"""
import ctypes
import inspect
import os
import sys
import threading

HERE = os.path.abspath(__file__)
BUF = 1 << 16
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def load(kind):
    lib = kind(sys.argv[1])
    lib.probe_walk.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.probe_stack.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.probe_stack_raising.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
    lib.probe_stats.argtypes = [ctypes.POINTER(ctypes.c_uint64)]
    lib.probe_stats.restype = None
    return lib


def lines(buf):
    return [l.split("\t") for l in buf.value.decode().splitlines()]


def call_walk(lib):
    buf = ctypes.create_string_buffer(BUF)
    line = inspect.currentframe().f_lineno + 1
    n = lib.probe_walk(buf, BUF)
    return line, n, lines(buf)


def call_stack(lib):
    buf = ctypes.create_string_buffer(BUF)
    line = inspect.currentframe().f_lineno + 1
    n = lib.probe_stack(buf, BUF)
    return line, n, lines(buf)


def outer(fn, lib):
    line = inspect.currentframe().f_lineno + 1
    inner_line, n, got = fn(lib)
    return line, inner_line, n, got


def check_walk(lib, how):
    outer_line, inner_line, n, got = outer(call_walk, lib)
    check(n == len(got) and n >= 3, f"{how}: walk gave {n} frames: {got}")
    if len(got) < 3:
        return
    check(got[0] == [HERE, "call_walk", str(inner_line)], f"{how}: innermost {got[0]}")
    check(got[1] == [HERE, "outer", str(outer_line)], f"{how}: next {got[1]}")
    check(got[-1][1] == "<module>", f"{how}: outermost {got[-1]}")


def interpreter_module():
    """The module holding the interpreter: libpython when it is a shared object, else the
    python executable itself."""
    with open("/proc/self/maps") as f:
        for l in f:
            p = l.split()[-1]
            if "libpython" in os.path.basename(p):
                return os.path.realpath(p)
    return os.path.realpath(sys.executable)


def check_stack(lib, how):
    outer_line, inner_line, n, got = outer(call_stack, lib)
    check(n == len(got), f"{how}: stack gave {n} entries, {len(got)} lines")
    py = [i for i, e in enumerate(got) if e[0] == "py"]
    check(len(py) >= 3, f"{how}: Python frames in the stack: {got}")
    if len(py) < 3:
        return
    first = py[0]
    check(got[0][0] == "c" and got[0][1] == "probe_stack", f"{how}: innermost {got[0]}")
    check(got[first][1:] == [HERE, "call_stack", str(inner_line)], f"{how}: {got[first]}")
    check(got[first + 1][1:] == [HERE, "outer", str(outer_line)], f"{how}: {got[first + 1]}")
    # The Python frames are one run, innermost first, ending with the module's code.
    check(py == list(range(first, first + len(py))), f"{how}: Python frames split: {got}")
    check(got[py[-1]][2] == "<module>", f"{how}: outermost Python frame {got[py[-1]]}")
    interp = interpreter_module()
    natives = [e for e in got if e[0] == "c"]
    check(all(os.path.realpath(e[2]) != interp for e in natives if e[2] != "?"),
          f"{how}: interpreter frames ({interp}) left in: {natives}")


def stats(lib):
    a = (ctypes.c_uint64 * 5)()
    lib.probe_stats(a)
    return list(a)


def rounds(lib, k):
    for _ in range(k):  # one call site for every round
        outer(call_stack, lib)


def check_cache(lib):
    seen = []
    for k in (3, 5):  # the first round caches the frames of this call site
        seen.append(stats(lib))
        rounds(lib, k)
    before, after = seen[1], stats(lib)
    check(after[0] > before[0], f"cache: frames counted {before} -> {after}")
    check(after[1] == before[1], f"cache: new misses at a known call site {before} -> {after}")
    check(after[4] == 0, f"cache: frames lost {after}")


def check_pending_error(pydll):
    """A capture (with frames not cached yet) while an exception is pending keeps it."""
    buf = ctypes.create_string_buffer(BUF)
    raised = None
    try:
        pydll.probe_stack_raising(buf, BUF)
    except ValueError as e:
        raised = str(e)
    check(raised == "probe: pending", f"pending exception: {raised!r}")
    got = lines(buf)
    check(any(e[:3] == ["py", HERE, "check_pending_error"] for e in got),
          f"pending exception: frames {got}")


def check_cache_bound(lib):
    """More call sites than the cache holds: it stops growing (counted), frames still come."""
    before = stats(lib)
    n = 7000  # > 3/4 of TTM__PY_CACHE_SLOTS (8192): every one a new code object
    src = "\n".join(f"def site{i}(f):\n    return f()\n" for i in range(n))
    ns = {}
    exec(compile(src, "generated_sites.py", "exec"), ns)
    buf = ctypes.create_string_buffer(BUF)
    for i in range(n):
        ns[f"site{i}"](lambda: lib.probe_stack(buf, BUF))
    after = stats(lib)
    check(after[3] > before[3], f"cache bound: none refused {before} -> {after}")
    check(after[2] <= 8192 * 3 // 4, f"cache bound: {after[2]} cached")
    check(after[4] == before[4], f"cache bound: frames lost {before} -> {after}")
    last = lines(buf)  # the last site's stack, resolved without the cache
    check(any(e[:4] == ["py", "generated_sites.py", f"site{n - 1}", str(3 * (n - 1) + 2)]
              for e in last),
          f"cache bound: last site's frame {last}")


def thread_target(lib, result):
    result.append(outer(call_walk, lib))


def check_thread(lib):
    result = []
    t = threading.Thread(target=thread_target, args=(lib, result))
    t.start()
    t.join()
    outer_line, inner_line, n, got = result[0]
    check(len(got) >= 3 and got[0] == [HERE, "call_walk", str(inner_line)],
          f"thread: innermost {got[:1]}")
    check(len(got) >= 3 and got[2][1] == "thread_target", f"thread: third {got[2:3]}")
    check(all(f[1] != "<module>" for f in got), f"thread: main thread's frames in {got}")


def main():
    cdll = load(ctypes.CDLL)
    pydll = load(ctypes.PyDLL)
    check(cdll.probe_present() == 1, "Python not found by the probe")
    check_walk(cdll, "CDLL")
    check_walk(pydll, "PyDLL")
    check_stack(cdll, "CDLL")
    check_stack(pydll, "PyDLL")
    check_cache(cdll)
    check_thread(cdll)
    check_pending_error(pydll)
    check_cache_bound(cdll)
    check(cdll.probe_cthread() == 1, "a C thread got Python frames or a changed stack")
    if failures:
        print(f"{len(failures)} failure(s)", file=sys.stderr)
        return 1
    print("test_pystack: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
