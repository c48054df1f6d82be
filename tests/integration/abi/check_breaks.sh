#!/usr/bin/env bash
# Proves that scripts/abi-check.sh catches ABI breaks: on a copy of the SDK
# headers, each incompatible edit below must make the check fail, and each
# compatible one (an addition) must let it pass.
#
#   tests/integration/abi/check_breaks.sh [WORKDIR]
#
# Only the layout verdict is tested here (abi.baseline checks that the real
# headers compile on their own). An edit whose anchor is no longer in the headers is an error of this test:
# update the edit, not the baseline.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
work="${1:-$(mktemp -d)}"
rm -rf "$work"
mkdir -p "$work"
passed=0
failed=0

# edit NAME FILE PYTHON-REGEX REPLACEMENT: a copy of the tree with one change.
edit() {
    local dir="$work/$1" file="$2" pattern="$3" repl="$4"
    rm -rf "$dir"
    mkdir -p "$dir/sdk" "$dir/scripts"
    cp -r "$root/sdk/include" "$root/sdk/abi" "$dir/sdk/"
    cp "$root"/scripts/abi-*.sh "$root"/scripts/abi-compat.py "$dir/scripts/"
    python3 - "$dir/sdk/include/agentd/$file" "$pattern" "$repl" <<'EOF' || return 1
import re, sys
path, pattern, repl = sys.argv[1:4]
text = open(path).read()
new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
if n != 1:
    sys.exit("check_breaks: anchor not found in %s: %s" % (path, pattern))
open(path, "w").write(new)
EOF
}

expect() { # expect fail|pass NAME FILE PATTERN REPLACEMENT
    local want="$1" name="$2"
    shift 2
    if ! edit "$name" "$@"; then
        echo "check_breaks: FAILED: $name: could not apply the edit"
        failed=$((failed + 1))
        return
    fi
    local rc=0
    AGENTD_ABI_SKIP_HEADER_CHECK=1 bash "$work/$name/scripts/abi-check.sh" "$work/$name/out" >"$work/$name.log" 2>&1 || rc=$?
    if { [ "$want" = fail ] && [ $rc -ne 0 ]; } || { [ "$want" = pass ] && [ $rc -eq 0 ]; }; then
        echo "check_breaks: ok: $name: check ${want}ed as it should"
        grep -E 'INCOMPATIBLE|abi: (layout )?OK' "$work/$name.log" | head -3 | sed 's/^/    /'
        passed=$((passed + 1))
    else
        echo "check_breaks: FAILED: $name: expected the check to $want (exit $rc):"
        sed 's/^/    /' "$work/$name.log"
        failed=$((failed + 1))
    fi
}

# The unchanged headers pass (otherwise every case below means nothing).
expect pass unchanged abi.h '^#define AGENTD_ABI_MAJOR 1$' '#define AGENTD_ABI_MAJOR 1'

# Incompatible.
expect fail reordered-members plugin.h \
    '^(    uint16_t abi_major;[^\n]*)\n(    uint16_t abi_minor;[^\n]*)$' '\2\n\1'
expect fail member-inserted-in-middle host.h \
    '^(typedef struct agentd_host_api \{\n[^\n]*\n)' '\1    void *inserted;\n'
expect fail member-removed plugin.h '^    const char \*limitations;[^\n]*\n' ''
expect fail member-type-changed plugin.h '^    int required;' '    long required;'
expect fail callback-signature-changed stream.h \
    '^typedef void \(\*agentd_write_cb\)\(void \*ud, int status\);' \
    'typedef void (*agentd_write_cb)(void *ud, long status);'
expect fail enumerator-value-changed plugin.h 'AGENTD_KIND_NOTIFY = 4' 'AGENTD_KIND_NOTIFY = 5'
expect fail constant-changed host.h '^#define AGENTD_POLL_HUP 0x4u' '#define AGENTD_POLL_HUP 0x8u'
expect fail fixed-size-struct-grew abi.h '^#define AGENTD_ERR_MAX 512' '#define AGENTD_ERR_MAX 1024'
expect fail embedded-struct-grew stream.h '^(    void \*impl;\n)(\} agentd_stream_t;)' \
    '\1    void *more;\n\2'

# Compatible.
expect pass member-appended host.h '^(\} agentd_host_api_t;)' \
    '    int (*future_fn)(agentd_host_t *host); /* minor 1 */\n\1'
expect pass enumerator-added abi.h '^(    AGENTD_EUNAVAIL = -19)' '    AGENTD_EFUTURE = -20,\n\1,'

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
