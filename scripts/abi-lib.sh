# Shared by scripts/abi-check.sh and scripts/abi-update.sh (sourced, not run).
# Builds the ABI surface of the SDK headers (sdk/abi/abi_surface.c) into a
# small shared object with debug info, and writes its abidw corpus.
#
# Flags are fixed here, not taken from a CMake build, so the corpus does not
# depend on the build type or on sanitizers: -O0 -g keeps every type in DWARF.

AGENTD_ABI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AGENTD_ABI_BASELINE="$AGENTD_ABI_ROOT/sdk/abi/agentd-sdk-abi.xml"
AGENTD_ABI_SURFACE="$AGENTD_ABI_ROOT/sdk/abi/abi_surface.c"

abi_need_tools() {
    local t missing=""
    for t in "${CC:-cc}" abidw abidiff python3; do
        command -v "$t" >/dev/null 2>&1 || missing="$missing $t"
    done
    if [ -n "$missing" ]; then
        echo "abi: missing:$missing (Debian: apt-get install abigail-tools gcc python3," \
             "or run scripts/setup-deps.sh)" >&2
        return 1
    fi
}

# abi_headers_selfcontained: every public header compiles on its own, with
# the C standard library only (DESIGN.md: sdk/include/agentd may include the
# C standard library only).
abi_headers_selfcontained() {
    local h rc=0
    for h in "$AGENTD_ABI_ROOT"/sdk/include/agentd/*.h; do
        if ! printf '#include <agentd/%s>\n#include <agentd/%s>\n' \
                "$(basename "$h")" "$(basename "$h")" |
             "${CC:-cc}" -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only \
                 -I"$AGENTD_ABI_ROOT/sdk/include" -x c - ; then
            echo "abi: sdk/include/agentd/$(basename "$h") does not compile on its own" >&2
            rc=1
        fi
        if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<' "$h" |
           grep -vE '<(stdarg|stddef|stdint|stdio|stdbool|string|stdlib|limits)\.h>' ; then
            echo "abi: $(basename "$h") includes a header outside the C standard library" >&2
            rc=1
        fi
    done
    return $rc
}

# abi_dump OUTDIR: compile the surface and write OUTDIR/agentd-sdk-abi.xml.
abi_dump() {
    local out="$1"
    mkdir -p "$out"
    "${CC:-cc}" -std=c11 -g -O0 -fPIC -shared -fvisibility=hidden \
        -Wall -Wextra -Werror -Wmissing-prototypes \
        -I"$AGENTD_ABI_ROOT/sdk/include" \
        -Wl,-soname,libagentd-sdk-abi.so -fdebug-prefix-map="$AGENTD_ABI_ROOT"=. \
        -o "$out/libagentd-sdk-abi.so" "$AGENTD_ABI_SURFACE" || return 1
    # Stable, reviewable output: hashed type ids (a new type does not renumber
    # every other one), no source locations (a comment edit in a header does
    # not touch the baseline).
    abidw --no-corpus-path --no-comp-dir-path --no-show-locs --type-id-style hash \
        --out-file "$out/agentd-sdk-abi.xml" "$out/libagentd-sdk-abi.so"
}

# abi_surface_complete: every public typedef of the headers has its line in
# sdk/abi/abi_surface.c, so no type escapes the baseline.
abi_surface_complete() {
    python3 - "$AGENTD_ABI_ROOT" <<'PY'
import glob, os, re, sys
root = sys.argv[1]
names = set()
for h in sorted(glob.glob(os.path.join(root, "sdk/include/agentd/*.h"))):
    text = re.sub(r"/\*.*?\*/", " ", open(h).read(), flags=re.S)
    names |= set(re.findall(r"\}\s*(agentd_\w+)\s*;", text))
    names |= set(re.findall(r"typedef\s+(?:struct|enum|union)\s+\w+\s+(agentd_\w+)\s*;", text))
    names |= set(re.findall(r"typedef[^;{}]*?\(\s*\*\s*(agentd_\w+)\s*\)", text))
surface = open(os.path.join(root, "sdk/abi/abi_surface.c")).read()
have = set(re.findall(r"SURFACE(?:_FN)?\((agentd_\w+)\)", surface))
missing = sorted(names - have)
for n in missing:
    print("abi: public type %s has no SURFACE line in sdk/abi/abi_surface.c" % n)
sys.exit(1 if missing else 0)
PY
}
