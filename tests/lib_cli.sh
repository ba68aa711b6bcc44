# Shared harness of the tests/cli_*.sh tests (sourced, not a test itself): BC (the binary) and
# SRC (the source tree) from the arguments, a temp dir T removed on exit, counters and checks.
#   ok / bad MSG            count a passed / failed check
#   expect CODE PATTERN -- command...   exit code and a stderr line matching PATTERN, no crash
#   finish NAME             prints the counts; the test's exit status
BC=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
expect() {
    local code=$1 pat=$2
    shift 3
    "$@" > "$T/out" 2> "$T/err"
    local rc=$?
    if [ "$rc" -ne "$code" ]; then bad "exit $rc (wanted $code): $* :: $(head -c 300 "$T/err")"; return; fi
    if ! grep -qE -- "$pat" "$T/err"; then bad "stderr lacks /$pat/: $* :: $(head -c 300 "$T/err")"; return; fi
    ok
}
