# sites.py — imported by the tests/cli/stacks*.sh checks (PYTHONPATH=tests/cli/lib): reads a
# ttmem JSON document (report, status or dump) and checks that a finding, a leak or a live
# site names the expected function, file, line and module, the line found in the test
# program's sources by its "SITE:<name>" marker (tests/stacks/sites.h), never written down.
import json
import os
import re


class Sites:
    def __init__(self, path, src_dirs):
        with open(path) as f:
            self.doc = json.load(f)
        self.failures = []
        self.markers = {}  # name -> (file basename, line)
        for d in src_dirs:
            for name in sorted(os.listdir(d)):
                if not re.search(r"\.(c|cpp|h|py)$", name):
                    continue
                with open(os.path.join(d, name)) as f:
                    for no, text in enumerate(f, 1):
                        for m in re.finditer(r"SITE:(\w+)", text):
                            self.markers[m.group(1)] = (name, no)
        self.stacks = {s["id"]: s for s in self.doc.get("stacks", [])}
        self.modules = {m["id"]: m for m in self.doc.get("modules", [])}
        self.strings = {s["id"]: s["text"] for s in self.doc.get("strings", [])}

    def fail(self, msg):
        self.failures.append(msg)

    def marker(self, name):
        if name not in self.markers:
            raise KeyError("no SITE:%s marker in the sources" % name)
        return self.markers[name]

    def frames(self, stack_id):
        s = self.stacks.get(stack_id)
        return s["frames"] if s else None

    def module_name(self, frame):
        m = self.modules.get(frame.get("module"))
        return os.path.basename(m["path"]) if m else None

    def show(self, stack_id):
        fr = self.frames(stack_id)
        if fr is None:
            return "stack %s: not in the document" % stack_id
        return "stack %s: " % stack_id + " <- ".join(
            "%s (%s:%s) [%s]" % (f.get("function"), f.get("file"), f.get("line"),
                                 self.module_name(f) if f["kind"] == "native" else f["kind"])
            for f in fr)

    @staticmethod
    def same_function(got, want):
        if got is None:
            return False
        if "::" in want or "<" in want:  # C++: the qualified name is part of the demangled one
            return want in got and not got.startswith("_Z")
        return got == want or got.startswith(want + "(")

    def frame_is(self, f, func, marker, module, kind="native"):
        """The frame is func at marker's file and line (in module, for a native frame)."""
        fname, line = self.marker(marker)
        return (f.get("kind") == kind and self.same_function(f.get("function"), func)
                and (f.get("file") or "").endswith("/" + fname) and f.get("line") == line
                and (module is None or self.module_name(f) == module))

    def check_stack(self, what, stack_id, func, marker, module, caller="main", depth=None):
        """Innermost frame func at marker (in module); caller among the outer frames."""
        fr = self.frames(stack_id)
        if not stack_id or not fr:
            self.fail("%s: no stack (%s)" % (what, self.show(stack_id)))
            return False
        ok = True
        if not self.frame_is(fr[0], func, marker, module):
            self.fail("%s: innermost frame is not %s at %s:%s in %s; %s"
                      % (what, func, *self.marker(marker), module, self.show(stack_id)))
            ok = False
        if caller and not any(self.same_function(f.get("function"), caller) for f in fr[1:]):
            self.fail("%s: %s is not among the callers; %s" % (what, caller, self.show(stack_id)))
            ok = False
        if depth is not None and len(fr) > depth:
            self.fail("%s: %d frames, more than the depth %d; %s"
                      % (what, len(fr), depth, self.show(stack_id)))
            ok = False
        return ok

    def offender(self, cls, addr):
        for o in self.doc["classes"][cls]["offenders"]:
            if int(o["addr"], 16) == addr:
                return o
        self.fail("%s: no offender at 0x%x" % (cls, addr))
        return None

    def site(self, cls, addr, func, marker, module, release=None, scope=None, phase=None,
             caller="main", depth=None):
        """The offender of cls at addr has one site, func at marker; for a double free its
        release_stack is release = (func, marker); scope and phase by name (None: 0)."""
        o = self.offender(cls, addr)
        if o is None:
            return None
        what = "%s at 0x%x" % (cls, addr)
        if len(o["sites"]) != 1 or o["sites"][0]["count"] != o["count"]:
            self.fail("%s: sites %s, not the one site of all %d events"
                      % (what, o["sites"], o["count"]))
            return None
        s = o["sites"][0]
        self.check_stack(what, s["stack"], func, marker, module, caller, depth)
        if release is not None:
            self.check_stack(what + " (released at)", s["release_stack"], release[0],
                             release[1], module, caller, depth)
        elif s["release_stack"] != 0:
            self.fail("%s: release_stack %s where none is due" % (what, s["release_stack"]))
        self.check_names(what, s, scope, phase)
        return s

    def check_names(self, what, row, scope, phase):
        for key, want in (("scope", scope), ("phase", phase)):
            got = self.strings.get(row[key]) if row[key] else None
            if got != want:
                self.fail("%s: %s %r, not %r" % (what, key, got, want))

    def leak(self, addr, func, marker, module, scope=None, phase=None, caller="main"):
        """The leak at addr has an allocation stack, func at marker, and a leak group of it."""
        leaks = [l for l in self.doc["leaks"] if int(l["addr"], 16) == addr]
        what = "leak at 0x%x" % addr
        if len(leaks) != 1:
            self.fail("%s: %d leaks listed there" % (what, len(leaks)))
            return None
        l = leaks[0]
        self.check_stack(what, l["stack"], func, marker, module, caller)
        self.check_names(what, l, scope, phase)
        groups = [g for g in self.doc["leak_groups"] if g["stack"] == l["stack"]]
        if len(groups) != 1 or groups[0]["count"] < 1 or groups[0]["bytes"] < l["size"]:
            self.fail("%s: leak groups of its stack: %s" % (what, groups))
            return None
        return groups[0]

    def done(self):
        for f in self.failures:
            print("FAIL: " + f)
        return 1 if self.failures else 0
