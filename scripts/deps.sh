#!/usr/bin/env bash
# Installs the Debian packages ttmem needs to build and test, when any is missing: `make demo`,
# `make test` and the other developer targets run it, `make install` never does.
# As root it runs apt-get; otherwise it prints the one line to run and fails.
set -eu
# libmicrohttpd-dev: ttmemd's /metrics endpoint. prometheus: promtool and the server that
# tests/cli/metrics.sh starts on a free loopback port (the package's own service is not used).
# systemd: systemd-analyze, which tests/cli/systemd.sh runs on contrib/systemd/ttmemd.service
# (Debian 12 images ship it; installing it into a container does not make it the init).
# clang: the Release build with clang and the libFuzzer build (`make test`, `make fuzz`); it
# brings libFuzzer. libcmocka-dev: the unit tests only (BUILD_TESTING).
# libdw-dev (elfutils): the CLI's symbolizer, src/sym (function, file and line of the native
# frames of a report). g++: the C++ test programs of the stacks tests (test_sym's test library,
# tests/stacks). binutils: objcopy, which makes test_sym's stripped copies (gcc brings it).
# libunwind8: libttmem loads libunwind with dlopen at run time when it is there (stacks of code
# built without frame pointers); the build never links it, so no libunwind-dev (linking it
# would reroute glibc's backtrace()). heaptrack: the baseline of bench_stacks only, never used
# by a test or a program. python3: also the Python-frames tests (tests/python).
# libzstd-dev: the run journal's compressed blocks (src/common/journal.c). libsqlite3-dev:
# `ttmem export --format sqlite`. chromium: the headless browser tests/cli/timeline.sh renders
# `ttmem timeline`'s HTML in (the test only; the HTML needs no browser of ours).
pkgs="gcc g++ binutils make cmake pkg-config libcmocka-dev python3 zlib1g-dev libncurses-dev tmux
libmicrohttpd-dev prometheus systemd clang libdw-dev libunwind8 heaptrack libzstd-dev
libsqlite3-dev chromium"
# zsh parses and registers the generated zsh completion
# (tests/cli/completion.sh); man-db renders the generated man pages with man -l
# (tests/cli/man.sh).
pkgs="$pkgs zsh man-db"
# python3-pytest runs the Python package's tests (ctest python.pytest);
# python3-setuptools, -venv and -pip: `pip install ./python` offline in a fresh venv.
pkgs="$pkgs python3-pytest python3-setuptools python3-venv python3-pip"
# debhelper and dpkg-dev: tests/cli/deb.sh builds the Debian packages with
# dpkg-buildpackage (debian/rules is dh with compat 13; Rules-Requires-Root: no, no fakeroot).
pkgs="$pkgs debhelper dpkg-dev"
# lintian: tests/cli/deb.sh checks the built packages with it and fails on its errors
# (debian/*.lintian-overrides keep the warnings that are no defect, each with its reason).
pkgs="$pkgs lintian"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ttmem: missing Debian packages:$missing; run: sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "ttmem: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
