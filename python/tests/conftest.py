"""Fixtures of the ttmem package's tests: a real ttmemd on a temporary socket, and fresh Python
processes for the write side (libttmem reads the environment once per process).

The programs under test: $TTMEM_LIBRARY (libttmem.so), $TTMEM_CLI (ttmem), $TTMEMD (ttmemd);
unset, those of the build tree (below), else the installed ones. The package: the python/ directory beside these tests.
"""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

PKG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PKG_DIR not in sys.path:
    sys.path.insert(0, PKG_DIR)

# Run by hand from a checkout (`python3 -m pytest python/tests`), the programs are those of
# the build tree $TTMEM_BUILD (default: build/ beside python/) when it has them.
_build = os.environ.get("TTMEM_BUILD", os.path.join(os.path.dirname(PKG_DIR), "build"))
for _var, _name in (("TTMEM_LIBRARY", "libttmem.so"), ("TTMEM_CLI", "ttmem"),
                    ("TTMEMD", "ttmemd")):
    if not os.environ.get(_var) and os.path.exists(os.path.join(_build, _name)):
        os.environ[_var] = os.path.join(_build, _name)

import ttmem  # noqa: E402


def daemon_path():
    return os.environ.get("TTMEMD") or shutil.which("ttmemd")


class Daemon:
    """A ttmemd in the foreground on DIR/ttmemd.sock, ready when constructed (--ready-fd)."""

    def __init__(self, directory):
        self.socket = os.path.join(directory, "ttmemd.sock")
        rfd, wfd = os.pipe()
        self.proc = subprocess.Popen(
            [daemon_path(), "--foreground", "--no-state", "--socket", self.socket,
             "--log-file", os.path.join(directory, "ttmemd.log"), "--ready-fd", str(wfd)],
            stdin=subprocess.DEVNULL, pass_fds=(wfd,))
        os.close(wfd)
        with os.fdopen(rfd, "rb") as r:
            line = r.readline()
        assert line == b"ready\n", "ttmemd did not start: %r" % line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


@pytest.fixture
def tmpdir_short():
    # Unix socket paths are short: a directory of our own under /tmp, not pytest's tmp_path
    d = tempfile.mkdtemp(prefix="ttmem-pyt-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def daemon(tmpdir_short):
    d = Daemon(tmpdir_short)
    yield d
    d.stop()


def child_env(socket=None, track=True):
    env = dict(os.environ)
    env["PYTHONPATH"] = PKG_DIR + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TTMEM", None)
    env.pop("TT_ALLOC_TRACKING_ENABLED", None)
    if track:
        env["TTMEM"] = "1"
    if socket is not None:
        env["TTMEM_SOCKET"] = socket
    return env


@pytest.fixture
def run_py():
    """run_py(code, socket=None, track=True) runs code in a fresh interpreter with the package
    importable; returns the CompletedProcess (text, stdout and stderr captured)."""

    def run(code, socket=None, track=True, timeout=60):
        return subprocess.run([sys.executable, "-c", code], env=child_env(socket, track),
                              capture_output=True, text=True, timeout=timeout, check=False)

    return run


@pytest.fixture
def spawn_py():
    """spawn_py(code, socket) starts code in a fresh interpreter (stdin and stdout pipes)."""
    procs = []

    def spawn(code, socket=None, track=True):
        p = subprocess.Popen([sys.executable, "-c", code], env=child_env(socket, track),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        procs.append(p)
        return p

    yield spawn
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
