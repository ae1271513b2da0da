# Sourced by ci/matrix.sh and ci/kernel-dev.sh: what booting Debian kernels under qemu needs, and
# the names of Debian's cloud kernels apt knows.

# Installs qemu, a static busybox and xz when they are missing (as root).
need_qemu() {
    local need=()
    command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
    [ -x /bin/busybox ] || need+=(busybox-static)
    command -v xz >/dev/null || need+=(xz-utils)
    if [ ${#need[@]} -gt 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}"
    fi
}

# The versioned cloud kernels of a series, oldest first: `debian_kernels 6.1` or `6.12`.
debian_kernels() {
    local series
    case "$1" in
        6.1) series='^linux-image-6\.1\.0-[0-9]+-cloud-amd64$' ;;
        6.12) series='^linux-image-6\.12\.[0-9]+\+deb[0-9]+-cloud-amd64$' ;;
        *) echo "debian_kernels: no series $1" >&2; return 1 ;;
    esac
    [ -n "$(apt-cache search --names-only "$series")" ] || apt-get update -qq
    apt-cache search --names-only "$series" | cut -d' ' -f1 | sort -V
}
