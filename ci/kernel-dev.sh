#!/usr/bin/env bash
# The kernel developer's workflow end to end, as the README shows it, checked: a reference
# kernel and `git bisect run`'s exit statuses (0 the same, 1 different, 125 cannot be tested), a
# user's own test binary run on two kernels and compared, and the first difference in an ordered
# list of kernels. Debian's cloud kernels stand in for a developer's builds. .ci/run calls it
# after the matrix; about 2 minutes here (each kernel package is fetched once, into the cache).
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/debian-kernels.sh
need_qemu

mapfile -t k61 < <(debian_kernels 6.1)
mapfile -t k612 < <(debian_kernels 6.12)
[ ${#k61[@]} -ge 3 ] && [ ${#k612[@]} -ge 3 ] ||
    { echo "ci/kernel-dev.sh: apt knows too few Debian 6.1 and 6.12 cloud kernels" >&2; exit 1; }
newest61=${k61[-1]} newest612=${k612[-1]} oldest612=${k612[0]}
middle612=${k612[$(( ${#k612[@]} / 2 ))]}

cargo build -q --release --bin netcase
netcase=./target/release/netcase
binary=$(cargo test -q -p netcase-example-user --no-run --message-format=json |
    python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "kernel_behaviour":
        print(m["executable"])')
out=target/netcase/kernel-dev
rm -rf "$out" && mkdir -p "$out/broken"
status=0
expect() {
    local want=$1 what=$2 got=0
    shift 2
    local start=$(date +%s.%N)
    "$@" > "$out/$what.log" 2>&1 || got=$?
    local took=$(awk "BEGIN {printf \"%.1f\", $(date +%s.%N) - $start}")
    if [ "$got" = "$want" ]; then
        echo "ok: $what: exit $got in $took s"
    else
        echo "FAIL: $what: exit $got, expected $want ($out/$what.log):"
        tail -20 "$out/$what.log"
        status=1
    fi
}
case=silent_drops::tcp_syncnt_2_default_linear
against() { $netcase kernels --reference "$newest612" --kernel "$1" "$case" --out "$out/$2"; }
expect 1 "newest-6.1-differs" against "$newest61" newest-6.1
expect 0 "older-6.12-behaves-alike" against "$oldest612" older-6.12
# A kernel that cannot boot: the reference's bzImage (in the kernel cache now) cut short: its
# decompressor finds it corrupt.
head -c 4000000 "$(ls "${NETCASE_KERNEL_CACHE:-target/netcase/kernels}/$newest612"_*/boot/vmlinuz-*)" > "$out/broken/bzImage"
expect 125 "no-boot-cannot-be-tested" against "$out/broken/bzImage" broken
expect 125 "not-a-kernel-cannot-be-tested" against /etc/hostname not-a-kernel
expect 255 "bad-input-stops-a-bisection" $netcase kernels --reference "$newest612" \
    --kernel "$newest61" no_such_case --out "$out/bad-input"
expect 1 "test-binary-differs-on-6.1" $netcase kernels --kernel "$newest61" --kernel "$newest612" \
    --test-binary "$binary" --out "$out/test-binary" -- --include-ignored
grep -q '"differs": true' "$out/test-binary/comparison.json" && grep -q 'syn_timeouts_are_linear' \
    "$out/test-binary/comparison.json" ||
    { echo "FAIL: the test binary's comparison shows no difference"; status=1; }
expect 1 "first-difference" $netcase kernels --first-difference --kernel "${k61[-3]}" \
    --kernel "${k61[-2]}" --kernel "$newest61" --kernel "$oldest612" --kernel "$middle612" \
    --kernel "$newest612" "$case" --out "$out/first-difference"
grep -E '^(first difference|[0-9]+ boots)' "$out/first-difference.log" || true
exit "$status"
