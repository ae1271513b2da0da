#!/usr/bin/env bash
# The two-kernel matrix smoke test: this kernel's results plus one Debian cloud kernel under qemu
# (KVM when it boots it, TCG otherwise), a few fast cases, and their comparison.
#
# Idempotent: installs only what is missing, fetches the kernel package once (apt-get download,
# unpacked by netcase with dpkg -x under target/netcase/kernels/, never installed into /boot).
# Run as root from anywhere; .ci/run calls it after the test suite. About a minute here.
#
#   KERNEL=linux-image-6.12-cloud-amd64 ci/matrix-smoke.sh     # another kernel
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The newest versioned cloud kernel apt knows, unless told otherwise (the meta-package
# linux-image-cloud-amd64 works too: netcase follows it to its image).
kernel="${KERNEL:-$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-cloud-amd64$' \
    | cut -d' ' -f1 | sort -V | tail -1)}"
kernel="${kernel:-linux-image-cloud-amd64}"
out=target/netcase/matrix-smoke

cargo build -q --bin netcase
start=$(date +%s.%N)
cargo run -q --bin netcase -- kernels --kernel "$kernel" --out "$out" \
    socket_addresses::seen_by_both_ends socket_addresses::lengths_in_and_out \
    silent_drops::refused_at_once backlog::somaxconn_truncates linger::zero_aborts_with_reset
end=$(date +%s.%N)
echo "matrix smoke wall time: $(awk "BEGIN {printf \"%.1f\", $end - $start}") s (report: $out/comparison.html)"
