# netcase recipes. Run as root: the harness creates network namespaces.

# Build topologies, talk TCP over both families, print the figures.
run *ARGS:
    cargo run --release -p netcase -- demo {{ARGS}}

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
