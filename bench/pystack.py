"""bench/pystack.py — what the Python frames cost a stack (issue 11, item 5): ns per
ttm__py_stack() call on top of a native capture (libunwind, depth 32), at three depths of
Python recursion, through ctypes.CDLL (the GIL released around the call: the capture takes it
with PyGILState_Ensure) and ctypes.PyDLL (the GIL held, as from a C extension); beside the
same-run baseline of the native capture alone. Every call comes from the same call sites, so
after the first one each Python frame is a cache hit, the case of every event but a call
site's first. The probe library is tests/python/pyprobe.c (built as libttm_pyprobe.so).

Usage: python3 bench/pystack.py build/tests/libttm_pyprobe.so [calls]   (default 20,000)
"""
import ctypes
import platform
import sys

DEPTHS = (0, 20, 40)


def at_depth(k, fn):
    if k == 0:
        return fn()
    return at_depth(k - 1, fn)


def main():
    path = sys.argv[1]
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    print(f"bench_pystack: {platform.python_implementation()} {platform.python_version()} "
          f"({sys.executable}), {calls} calls per figure")
    for kind in (ctypes.CDLL, ctypes.PyDLL):
        lib = kind(path)
        lib.probe_bench.argtypes = [ctypes.c_uint, ctypes.c_int]
        lib.probe_bench.restype = ctypes.c_double
        res = {}
        for d in DEPTHS:
            base = at_depth(d, lambda: lib.probe_bench(calls, 0))
            on = at_depth(d, lambda: lib.probe_bench(calls, 1))
            res[d] = (base, on)
            print(f"  {kind.__name__:5} +{d:2} Python frames: native capture {base:7.1f} ns, "
                  f"+ Python frames {on:7.1f} ns (adds {on - base:7.1f} ns)")
        lo, hi = DEPTHS[0], DEPTHS[-1]
        per = ((res[hi][1] - res[hi][0]) - (res[lo][1] - res[lo][0])) / (hi - lo)
        print(f"  {kind.__name__:5} per Python frame: {per:.1f} ns; fixed (GIL, walk start): "
              f"{res[lo][1] - res[lo][0]:.1f} ns at +0")


if __name__ == "__main__":
    main()
