"""The read side: documents of a ttmemd's query socket and of run journals, as plain dicts.

The daemon's query socket speaks a binary protocol whose records are laid out by the report's
field tables (docs/DAEMON.md); the `ttmem` command is the one decoder of it and the one writer
of the documented JSON schema (docs/REPORT_SCHEMA.md), so this module runs `ttmem ... --json`
and parses what it prints: the dicts are exactly what `ttmem status --json`, `ttmem dump
--json` and `ttmem report --json` print. The command is $TTMEM_CLI when set, else `ttmem` in
PATH (or the one `make install` put beside the package).
"""
import json
import os
import shutil
import subprocess


class QueryError(RuntimeError):
    """The ttmem command could not answer: .status is its exit status, str() its error line."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status


def installed(program):
    """PROGRAM in the bin directory `make install` put beside the package, or None."""
    try:
        from . import _paths  # written by `make install` only
    except ImportError:
        return None
    path = os.path.join(_paths.BINDIR, program)
    return path if os.access(path, os.X_OK) else None


def cli_path():
    """The ttmem command to run; raises QueryError when there is none."""
    env = os.environ.get("TTMEM_CLI")
    if env:
        return env
    found = installed("ttmem") or shutil.which("ttmem")
    if found is None:
        raise QueryError("ttmem: the ttmem command is not in PATH; set TTMEM_CLI to its path", 2)
    return found


def run_json(args, timeout=60):
    """Runs `ttmem ARGS` and returns the JSON document it prints on stdout.

    A failure (non-zero exit with nothing usable on stdout) raises QueryError with the
    command's own error line. `ttmem record`-like exits with a JSON document are not used here.
    """
    cmd = [cli_path()] + list(args)
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, check=False)
    except OSError as e:
        raise QueryError("ttmem: cannot run %s: %s" % (cmd[0], e.strerror), 2) from e
    except subprocess.TimeoutExpired as e:
        raise QueryError("ttmem: %s gave no answer in %d s" % (" ".join(cmd), timeout), 2) from e
    err = p.stderr.decode(errors="replace").strip()
    if p.returncode != 0:
        line = err.splitlines()[-1] if err else "exit status %d" % p.returncode
        raise QueryError(line, p.returncode)
    try:
        return json.loads(p.stdout.decode())
    except ValueError as e:
        raise QueryError("ttmem: %s printed no JSON document (%s)" % (" ".join(cmd), e), 2) from e


def socket_args(socket):
    return [] if socket is None else ["--socket", os.fspath(socket)]
