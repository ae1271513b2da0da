# netcase recipes. Run as root: the harness creates network namespaces.

# Run the cases (all, or those matching the filters) and write the report.
run *ARGS:
    cargo run --release --bin netcase -- run {{ARGS}}

# The long tier too (cases of over a minute each), in parallel with the rest.
run-long *ARGS:
    cargo run --release --bin netcase -- run --long {{ARGS}}

# The README's claims table, from a run's results (`just run` first).
claims dir="target/netcase/report":
    cargo run --release --bin netcase -- claims --results {{dir}}

# List the cases.
list *ARGS:
    cargo run --release --bin netcase -- list {{ARGS}}

# Every test, as CI runs them.
test:
    bash .ci/run

# Set-up and teardown speed.
bench pairs="200" hosts="256":
    cargo run --release -p netcase --example setup_bench -- --pairs {{pairs}}
    cargo run --release -p netcase --example setup_bench -- --hosts {{hosts}}

# What must hold before a commit.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# The whole suite N times in a row; stops at the first failure (flakiness shows here).
soak times="10":
    #!/usr/bin/env bash
    set -euo pipefail
    for i in $(seq {{times}}); do
        echo "soak run $i of {{times}}"
        cargo test --workspace -q
    done
    echo "soak: {{times}} of {{times}} passed"

# The kernel matrix: this kernel and the given Debian kernels under qemu, compared.
kernels *ARGS:
    cargo run --release --bin netcase -- kernels {{ARGS}}
