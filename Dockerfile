# syntax=docker/dockerfile:1
#
# Build:  docker build --build-arg RULEHOOK_COMMIT=$(git rev-parse --short=12 HEAD) -t rulehook:0.1.0 .
# Run:    docker run --rm -p 8080:8080 rulehook:0.1.0
#         (serves the rules baked in from rules/ at /etc/rulehook/rules; in
#         Kubernetes the rulehook-rules ConfigMap is mounted over that path.)
#
# The same image as `.ci/image.sh` builds without a daemon (and CI smoke-tests): a static
# binary FROM scratch, user 65532, no shell.

############################ builder ############################
FROM rust:1-bookworm AS builder
WORKDIR /build

# 1. Dependency layer: build every dependency against dummy sources so that
#    this layer is reused until Cargo.toml or Cargo.lock changes.
COPY Cargo.toml Cargo.lock ./
COPY crates/rulehook-engine/Cargo.toml crates/rulehook-engine/
RUN mkdir -p src tests crates/rulehook-engine/src crates/rulehook-engine/benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs tests/tests.rs \
          crates/rulehook-engine/src/lib.rs crates/rulehook-engine/benches/engine.rs \
 && RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked -p rulehook --target x86_64-unknown-linux-gnu \
 && rm -rf src crates/rulehook-engine/src \
           target/x86_64-unknown-linux-gnu/release/rulehook \
           target/x86_64-unknown-linux-gnu/release/deps/rulehook* \
           target/x86_64-unknown-linux-gnu/release/deps/librulehook* \
           target/x86_64-unknown-linux-gnu/release/.fingerprint/rulehook*

# 2. The real sources of both crates (tests/ and benches/ are not needed for a
#    release build; the empty tests/tests.rs and benches/engine.rs above only keep
#    the [[test]] and [[bench]] targets' paths valid).
#    COPY keeps the files' own mtimes, which may be older than the dummy
#    build above, so touch them to make sure cargo rebuilds the crate.
#    The build context has no .git: the commit comes in as a build argument
#    (`--build-arg RULEHOOK_COMMIT=$(git rev-parse --short=12 HEAD)`), else
#    `--version` says "unknown".
ARG RULEHOOK_COMMIT=
ENV RULEHOOK_COMMIT=${RULEHOOK_COMMIT}
COPY build.rs ./
COPY src ./src
COPY crates/rulehook-engine/src ./crates/rulehook-engine/src
RUN find src crates build.rs -type f -name '*.rs' -exec touch {} + \
 && RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --locked -p rulehook --target x86_64-unknown-linux-gnu \
 && install -D -m 0755 target/x86_64-unknown-linux-gnu/release/rulehook /out/rulehook

############################ runtime ############################
# Nothing but the static binary and the default rules: no libc, no shell, no package
# manager. uid/gid 65532 matches the Deployment's securityContext.
FROM scratch
COPY --from=builder /out/rulehook /usr/local/bin/rulehook
# Default rules; in Kubernetes the rulehook-rules ConfigMap is mounted here.
COPY rules/ /etc/rulehook/rules/
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/rulehook"]
CMD ["serve", "--rules", "/etc/rulehook/rules"]
