#!/usr/bin/env bash
# Regenerate the committed ABI baseline sdk/abi/agentd-sdk-abi.xml from the
# current headers, on purpose: after a compatible addition (bump
# AGENTD_ABI_MINOR in abi.h and label the new fields with it), or after a
# deliberate major break (AGENTD_ABI_MAJOR raised). Shows what changed
# against the old baseline first, then writes the new one.
#
#   scripts/abi-update.sh
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/abi-lib.sh"

abi_need_tools
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

abi_headers_selfcontained || echo "abi-update: (scripts/abi-check.sh will fail until that is fixed)"
abi_surface_complete || echo "abi-update: add the missing SURFACE lines first, or those types stay unchecked"
abi_dump "$work"
if [ -f "$AGENTD_ABI_BASELINE" ]; then
    echo "abi-update: changes against the old baseline:"
    abidiff --no-show-locs "$AGENTD_ABI_BASELINE" "$work/agentd-sdk-abi.xml" || true
    python3 "$AGENTD_ABI_ROOT/scripts/abi-compat.py" "$AGENTD_ABI_BASELINE" \
        "$work/agentd-sdk-abi.xml" || \
        echo "abi-update: NOTE: this is an incompatible change; did you raise AGENTD_ABI_MAJOR?"
fi
cp "$work/agentd-sdk-abi.xml" "$AGENTD_ABI_BASELINE"
echo "abi-update: wrote sdk/abi/agentd-sdk-abi.xml; commit it with the header change"
