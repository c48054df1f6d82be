#!/usr/bin/env bash
# Check the SDK headers (sdk/include/agentd/) against the committed ABI
# baseline sdk/abi/agentd-sdk-abi.xml. Run by scripts/test.sh and by CTest as
# `abi.baseline`.
#
#   scripts/abi-check.sh [WORKDIR]     (default: a temporary directory)
#
# Policy (docs/plugins.md, "Compatibility"): additions are fine (new types,
# new enumerators, members appended at the end of a size-prefixed struct);
# anything else fails: removed or reordered members, changed types or
# signatures, changed values, a struct without `size` that grew.
# abidiff's report is printed for every change; the verdict comes from
# scripts/abi-compat.py, which applies the policy exactly (abidiff's exit
# code says "changed" for an appended member and for a reorder alike).
#
# Also checks that each public header compiles on its own with the C
# standard library only (AGENTD_ABI_SKIP_HEADER_CHECK=1 skips that part).
#
# A deliberate, compatible change: run scripts/abi-update.sh and commit the
# new baseline with the header change. An incompatible one needs ABI major 2.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/abi-lib.sh"

abi_need_tools
work="${1:-}"
if [ -z "$work" ]; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
fi

headers_ok=1
if [ "${AGENTD_ABI_SKIP_HEADER_CHECK:-0}" != 1 ]; then
    echo "abi: headers compile on their own (C standard library only)"
    abi_headers_selfcontained || headers_ok=0
fi
echo "abi: checking that every public type is in the ABI surface"
abi_surface_complete || headers_ok=0

echo "abi: building the ABI surface (sdk/abi/abi_surface.c)"
abi_dump "$work"
current="$work/agentd-sdk-abi.xml"

if [ ! -f "$AGENTD_ABI_BASELINE" ]; then
    echo "abi: no baseline at sdk/abi/agentd-sdk-abi.xml; create it with scripts/abi-update.sh" >&2
    exit 1
fi

set +e
abidiff --no-show-locs "$AGENTD_ABI_BASELINE" "$current" >"$work/abidiff.txt" 2>&1
diff_rc=$?
set -e
# abidiff's exit status is a bit field: 1 tool error, 2 usage error,
# 4 ABI change, 8 incompatible ABI change.
if (( diff_rc & 3 )); then
    cat "$work/abidiff.txt"
    echo "abi: abidiff failed (exit $diff_rc)" >&2
    exit 1
fi
if (( diff_rc != 0 )); then
    echo "abi: abidiff reports changes against the baseline (exit $diff_rc):"
    sed 's/^/  | /' "$work/abidiff.txt"
fi

set +e
python3 "$AGENTD_ABI_ROOT/scripts/abi-compat.py" "$AGENTD_ABI_BASELINE" "$current"
compat_rc=$?
set -e

if (( compat_rc != 0 || (diff_rc & 8) )); then
    cat >&2 <<MSG
abi: FAILED: the SDK headers are incompatible with sdk/abi/agentd-sdk-abi.xml.
abi: Plugins built against the baseline would misbehave in this host. Restore
abi: the layout (append new members at the end of a size-prefixed struct; a
abi: changed signature becomes a new field foo2), or, if the break is
abi: intended, raise AGENTD_ABI_MAJOR and run scripts/abi-update.sh.
MSG
    exit 1
fi
if (( diff_rc != 0 )); then
    echo "abi: layout OK: compatible additions only; record them with scripts/abi-update.sh"
else
    echo "abi: layout OK: identical to the baseline"
fi
if (( ! headers_ok )); then
    echo "abi: FAILED: a public header does not compile on its own, or a public type is" \
         "missing from sdk/abi/abi_surface.c (see above)" >&2
    exit 1
fi
