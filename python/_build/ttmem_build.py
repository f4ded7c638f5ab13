"""The build backend of the ttmem package (PEP 517, PEP 660): a pure-Python wheel of ttmem/,
made with the standard library only, so that installing needs no setuptools, wheel or index.

The version is the one line `__version__ = "X"` of ttmem/__init__.py.
"""
import base64
import hashlib
import os
import re
import zipfile

NAME = "ttmem"
SUMMARY = "Python interface of ttmem, the device-memory tracker for TT-Metal accelerators"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, NAME)


def _version():
    with open(os.path.join(PKG, "__init__.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"$', f.read(), re.M)
    if m is None:
        raise RuntimeError("ttmem_build: no __version__ line in ttmem/__init__.py")
    return m.group(1)


def _dist_info():
    return "%s-%s.dist-info" % (NAME, _version())


def _metadata():
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "Requires-Python: >=3.9\n" % (NAME, _version(), SUMMARY))


WHEEL = "Wheel-Version: 1.0\nGenerator: ttmem_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def _write_wheel(wheel_directory, files):
    """files: (arcname, bytes) of the payload; adds the dist-info and returns the name."""
    name = "%s-%s-py3-none-any.whl" % (NAME, _version())
    di = _dist_info()
    files = list(files) + [(di + "/METADATA", _metadata().encode()),
                           (di + "/WHEEL", WHEEL.encode())]
    record = [_record_line(a, d) for a, d in files] + [di + "/RECORD,,"]
    files.append((di + "/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            z.writestr(zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return name


def _package_files():
    out = []
    for fn in sorted(os.listdir(PKG)):
        if fn.endswith(".py"):
            with open(os.path.join(PKG, fn), "rb") as f:
                out.append(("%s/%s" % (NAME, fn), f.read()))
    return out


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    di = os.path.join(metadata_directory, _dist_info())
    os.makedirs(di, exist_ok=True)
    with open(os.path.join(di, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    with open(os.path.join(di, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(WHEEL)
    return _dist_info()


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    return _write_wheel(wheel_directory, _package_files())


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    # a .pth file naming this directory: the tree's ttmem/ is what gets imported
    return _write_wheel(wheel_directory, [(NAME + "_editable.pth", (ROOT + "\n").encode())])
