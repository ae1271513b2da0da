#!/usr/bin/env bash
# The kernel matrix as CI runs it: every case over both families on this kernel and on the newest
# Debian 6.1 and 6.12 cloud kernels under qemu (KVM when it boots them, TCG otherwise), compared.
# Fails when a case FAILs anywhere or a guest breaks down; a difference of behaviour between
# kernels, or a SKIP for a feature a kernel lacks, is the product, not a failure.
#
# Idempotent: installs only what is missing, fetches each kernel package once (apt-get download,
# unpacked by netcase with dpkg -x under target/netcase/kernels/, never installed into /boot).
# Run as root from anywhere; .ci/run calls it after the test suite. About 6 minutes here.
#
#   KERNELS="linux-image-6.1.0-57-cloud-amd64" ci/matrix.sh   # other kernels
#   SMOKE=1 ci/matrix.sh                                       # five fast cases only, about 1 minute
#   LONG=1 ci/matrix.sh                                        # the long tier too (about 2 more minutes)
set -euo pipefail
cd "$(dirname "$0")/.."

. ci/debian-kernels.sh
need_qemu
if [ -z "${KERNELS:-}" ]; then
    KERNELS="$( (debian_kernels 6.1 | tail -1; debian_kernels 6.12 | tail -1) | xargs)"
fi
[ -n "$KERNELS" ] || { echo "ci/matrix.sh: apt knows no Debian 6.1 or 6.12 cloud kernel" >&2; exit 1; }

args=()
for k in $KERNELS; do args+=(--kernel "$k"); done
if [ -n "${SMOKE:-}" ]; then
    out=target/netcase/matrix-smoke
    args+=(socket_addresses::seen_by_both_ends socket_addresses::lengths_in_and_out
        silent_drops::refused_at_once backlog::somaxconn_truncates linger::zero_aborts_with_reset)
else
    out=target/netcase/matrix
    args+=(--max-expected 100)
    [ -z "${LONG:-}" ] || args+=(--long)
fi

cargo build -q --release --bin netcase
start=$(date +%s.%N)
status=0
./target/release/netcase kernels "${args[@]}" --out "$out" || status=$?
end=$(date +%s.%N)
echo "matrix wall time: $(awk "BEGIN {printf \"%.1f\", $end - $start}") s (report: $out/comparison.html, differences: $out/differences.md)"
exit "$status"
