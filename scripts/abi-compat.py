#!/usr/bin/env python3
"""Check that one abidw corpus is an append-only evolution of another.

usage: abi-compat.py BASELINE.xml CURRENT.xml

This is the agentd SDK's compatibility policy, stated precisely (DESIGN.md,
"Plugin ABI rules" 3): against the baseline, the current SDK may only

  * add types, typedefs, functions, enumerators;
  * append data members at the end of a struct that carries a `size` member
    (the size-prefixed structs: the reader copies min(size, sizeof)).

Everything else is incompatible and reported: a removed or renamed type,
member or enumerator; a member whose offset or type changed (a reorder, an
insertion in the middle, int -> long, a changed callback signature); an
enumerator whose value changed; a struct without `size` that grew (such as
agentd_err_t or agentd_stream_t, which are embedded or allocated by the
caller); a typedef whose underlying type changed.

abidiff (libabigail) reports these changes too, and its report is what
scripts/abi-check.sh prints, but its exit code cannot tell "a member appended
at the end" from "members reordered" (both are ABIDIFF_ABI_CHANGE), and its
suppression rule `has_data_member_inserted_at = end` also hides reorders and
member type changes. So the verdict comes from here. Python 3 stdlib only.

Exit status: 0 compatible, 1 incompatible (each problem printed), 2 usage or
unreadable input.
"""
import sys
import xml.etree.ElementTree as ET


class Corpus:
    def __init__(self, path):
        root = ET.parse(path).getroot()
        self.by_id = {}
        self.structs = {}    # name -> element (complete definitions only)
        self.enums = {}      # name -> element
        self.typedefs = {}   # name -> element
        self.functions = {}  # name -> element
        for el in root.iter():
            tid = el.get("id")
            if tid is not None:
                self.by_id[tid] = el
            name = el.get("name")
            if el.tag in ("class-decl", "union-decl") and name and \
                    el.get("is-declaration-only") != "yes" and \
                    el.get("is-anonymous") != "yes":
                self.structs[name] = el
            elif el.tag == "enum-decl" and name and el.get("is-anonymous") != "yes":
                self.enums[name] = el
            elif el.tag == "typedef-decl" and name:
                self.typedefs[name] = el
            elif el.tag == "function-decl" and name:
                self.functions[name] = el

    def canon(self, tid, depth=0):
        """A type's spelling that does not depend on the corpus's type ids."""
        if tid is None:
            return "?"
        el = self.by_id.get(tid)
        if el is None:
            return "<unknown %s>" % tid
        if depth > 40:
            return "..."
        tag = el.tag
        if tag == "type-decl":
            return el.get("name")
        if tag == "typedef-decl":
            return el.get("name")
        if tag in ("class-decl", "union-decl"):
            kw = "union" if tag == "union-decl" else "struct"
            if el.get("is-anonymous") == "yes":
                return "%s { %s }" % (kw, "; ".join(self.members_text(el, depth + 1)))
            return "%s %s" % (kw, el.get("name"))
        if tag == "enum-decl":
            if el.get("is-anonymous") == "yes":
                return "enum { %s }" % ", ".join(
                    "%s=%s" % (e.get("name"), e.get("value")) for e in el.findall("enumerator"))
            return "enum " + el.get("name")
        if tag == "pointer-type-def":
            return self.canon(el.get("type-id"), depth + 1) + " *"
        if tag == "reference-type-def":
            return self.canon(el.get("type-id"), depth + 1) + " &"
        if tag == "qualified-type-def":
            quals = [q for q in ("const", "volatile", "restrict") if el.get(q) == "yes"]
            return " ".join(quals + [self.canon(el.get("type-id"), depth + 1)])
        if tag == "array-type-def":
            dims = "".join("[%s]" % (s.get("length") or "")
                           for s in el.findall("subrange"))
            return self.canon(el.get("type-id"), depth + 1) + dims
        if tag == "function-type":
            return self.signature(el, depth + 1)
        return "<%s>" % tag

    def signature(self, el, depth=0):
        params = []
        ret = "void"
        for child in el:
            if child.tag == "parameter":
                if child.get("is-variadic") == "yes":
                    params.append("...")
                else:
                    params.append(self.canon(child.get("type-id"), depth))
            elif child.tag == "return":
                ret = self.canon(child.get("type-id"), depth)
        return "%s (%s)" % (ret, ", ".join(params))

    def members(self, el):
        """[(name, offset_bits, type_text)] of a struct, in order."""
        out = []
        for dm in el.findall("data-member"):
            var = dm.find("var-decl")
            if var is None:
                continue
            out.append((var.get("name"), int(dm.get("layout-offset-in-bits", "0")),
                        self.canon(var.get("type-id"))))
        return out

    def members_text(self, el, depth):
        return ["%s %s@%d" % (t, n, o) for n, o, t in self.members(el)]


def underlying(corpus, enum_el):
    """An enum's underlying type as its size in bits (its name is compiler
    made up, e.g. 'unnamed-enum-underlying-type-32')."""
    u = enum_el.find("underlying-type")
    el = corpus.by_id.get(u.get("type-id")) if u is not None else None
    return "%s bits" % (el.get("size-in-bits") if el is not None else "?")


def check(base, cur):
    problems = []

    def bad(what, msg):
        problems.append("%s: %s" % (what, msg))

    for name, bel in sorted(base.structs.items()):
        what = "struct " + name
        cel = cur.structs.get(name)
        if cel is None:
            bad(what, "removed (or now only declared)")
            continue
        bm, cm = base.members(bel), cur.members(cel)
        for i, (bn, bo, bt) in enumerate(bm):
            if i >= len(cm):
                bad(what, "member '%s' removed" % bn)
                continue
            cn, co, ct = cm[i]
            if cn != bn:
                bad(what, "member %d is '%s', was '%s' (renamed, removed, inserted "
                          "or reordered)" % (i, cn, bn))
            elif co != bo:
                bad(what, "member '%s' moved from bit %d to bit %d" % (bn, bo, co))
            elif ct != bt:
                bad(what, "member '%s' changed type from '%s' to '%s'" % (bn, bt, ct))
        bsize = int(bel.get("size-in-bits", "0"))
        csize = int(cel.get("size-in-bits", "0"))
        growable = any(n == "size" for n, _, _ in bm)
        if csize < bsize:
            bad(what, "shrank from %d to %d bits" % (bsize, csize))
        elif csize > bsize and not growable:
            bad(what, "grew from %d to %d bits, but it has no `size` member, so "
                      "older code allocates or embeds the old size" % (bsize, csize))
        if len(cm) > len(bm):
            for cn, co, _ in cm[len(bm):]:
                if co < bsize:
                    bad(what, "new member '%s' at bit %d lies inside the old struct "
                              "(%d bits)" % (cn, co, bsize))

    for name, bel in sorted(base.enums.items()):
        what = "enum " + name
        cel = cur.enums.get(name)
        if cel is None:
            bad(what, "removed")
            continue
        cvals = {e.get("name"): e.get("value") for e in cel.findall("enumerator")}
        for e in bel.findall("enumerator"):
            en, ev = e.get("name"), e.get("value")
            if en not in cvals:
                bad(what, "enumerator %s (= %s) removed or renamed" % (en, ev))
            elif cvals[en] != ev:
                bad(what, "enumerator %s changed value from %s to %s" % (en, ev, cvals[en]))
        bu, cu = underlying(base, bel), underlying(cur, cel)
        if bu != cu:
            bad(what, "underlying type changed from %s to %s" % (bu, cu))

    for name, bel in sorted(base.typedefs.items()):
        what = "typedef " + name
        cel = cur.typedefs.get(name)
        if cel is None:
            bad(what, "removed")
            continue
        bt = base.canon(bel.get("type-id"))
        ct = cur.canon(cel.get("type-id"))
        if bt != ct:
            bad(what, "now names '%s', was '%s'" % (ct, bt))

    for name, bel in sorted(base.functions.items()):
        what = "function " + name
        cel = cur.functions.get(name)
        if cel is None:
            bad(what, "removed from the surface (a public type was removed, or "
                      "sdk/abi/abi_surface.c lost a line)")
            continue
        bs, cs = base.signature(bel), cur.signature(cel)
        if bs != cs:
            bad(what, "signature changed from '%s' to '%s'" % (bs, cs))

    added = []
    for kind, bmap, cmap in (("struct", base.structs, cur.structs),
                             ("enum", base.enums, cur.enums),
                             ("typedef", base.typedefs, cur.typedefs),
                             ("function", base.functions, cur.functions)):
        added += ["%s %s" % (kind, n) for n in sorted(set(cmap) - set(bmap))]
    return problems, added


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    try:
        base, cur = Corpus(argv[1]), Corpus(argv[2])
    except (OSError, ET.ParseError) as e:
        sys.stderr.write("abi-compat: %s\n" % e)
        return 2
    problems, added = check(base, cur)
    for a in added:
        print("abi-compat: added (compatible): %s" % a)
    for p in problems:
        print("abi-compat: INCOMPATIBLE: %s" % p)
    if problems:
        print("abi-compat: %d incompatible change(s)" % len(problems))
        return 1
    print("abi-compat: compatible with the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
