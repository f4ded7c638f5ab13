# py_sites.py — the Python call-site test program (tests/cli/stacks_python.sh): reports through
# libttmem (ctypes; the library's path is argv[1]) a leak from py_leak and an unknown free from
# py_unknown, each call on a line with its SITE marker. Exits 0 when both were reported.
import ctypes
import sys

lib = ctypes.CDLL(sys.argv[1])
lib.ttm_buffer_alloc.argtypes = [ctypes.c_uint16, ctypes.c_int, ctypes.c_uint64,
                                 ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint32]
lib.ttm_buffer_free.argtypes = lib.ttm_buffer_alloc.argtypes
DRAM = 0
BASE = 0x60000000


def py_leak():
    return lib.ttm_buffer_alloc(0, DRAM, BASE + 0x1000, 4096, 0, 0)  # SITE:py_leak


def py_unknown():
    return lib.ttm_buffer_free(0, DRAM, BASE + 0x3000, 0, 0, 0)  # SITE:py_unknown


def main():
    bad = py_leak() != 0  # SITE:py_main_leak
    bad += py_unknown() != 0  # SITE:py_main_unknown
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
