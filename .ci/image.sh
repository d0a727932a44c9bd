#!/usr/bin/env bash
# Builds rulehook's container image here, with no daemon and no base image to pull: a
# static binary (glibc, static-pie) in an image FROM scratch, made by buildah. Then runs
# the image: `--version`, `check` of the rules it carries, and one hello request answered
# by the server inside it on loopback. Writes the image as an OCI archive.
#
# Usage: .ci/image.sh
# Env:   IMAGE_OUT         the OCI archive (default target/image/rulehook-VERSION.oci.tar)
#        RULEHOOK_COMMIT   the commit `--version` names (default: git rev-parse)
#
# The image holds what the Dockerfile's does: /usr/local/bin/rulehook, the bundled rules at
# /etc/rulehook/rules (a ConfigMap is mounted over them in a cluster), user 65532, no shell.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
COMMIT=${RULEHOOK_COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
TARGET=x86_64-unknown-linux-gnu
TARGET_DIR=target/image
OUT=${IMAGE_OUT:-$TARGET_DIR/rulehook-$VERSION.oci.tar}
IMAGE=localhost/rulehook:$VERSION

# No overlay filesystem or user namespaces in a CI container: copy layers, and run a
# container as a chroot.
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
if ! command -v buildah >/dev/null; then
    log "installing buildah"
    apt-get update -qq && apt-get install -y -qq buildah >/dev/null
fi

log "static binary ($TARGET, crt-static)"
# With --target, RUSTFLAGS reach only the target's code, not build scripts.
RUSTFLAGS='-C target-feature=+crt-static' RULEHOOK_COMMIT=$COMMIT \
    cargo build --release --locked --quiet -p rulehook --target "$TARGET" --target-dir "$TARGET_DIR"
BIN=$TARGET_DIR/$TARGET/release/rulehook
ldd "$BIN" 2>&1 | grep -Eq 'statically linked|not a dynamic executable' \
    || die "$BIN is not static: $(ldd "$BIN" 2>&1 | head -3)"

log "image $IMAGE"
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
buildah copy --quiet --chmod 0755 "$ctr" "$BIN" /usr/local/bin/rulehook >/dev/null
buildah copy --quiet "$ctr" rules /etc/rulehook/rules >/dev/null
buildah config \
    --user 65532:65532 \
    --port 8080 \
    --entrypoint '["/usr/local/bin/rulehook"]' \
    --cmd 'serve --rules /etc/rulehook/rules' \
    --label "org.opencontainers.image.version=$VERSION" \
    --label "org.opencontainers.image.revision=$COMMIT" \
    --label "org.opencontainers.image.title=rulehook" \
    "$ctr"
buildah commit --quiet --rm "$ctr" "$IMAGE" >/dev/null
trap - EXIT

# Runs the image's binary, as its user, with the image's files.
in_image() {
    local run
    run=$(buildah from --quiet "$IMAGE")
    buildah run --user 65532:65532 "$run" -- /usr/local/bin/rulehook "$@"
    local rc=$?
    buildah rm "$run" >/dev/null
    return $rc
}

version=$(in_image --version)
[ "$version" = "rulehook $VERSION (commit $COMMIT)" ] || die "--version printed: $version"
log "--version: $version"
in_image check /etc/rulehook/rules | tail -1 | grep -q 'no problems' || die "check failed"
log "check /etc/rulehook/rules: no problems"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server=$(buildah from --quiet "$IMAGE")
started=$(date +%s%N)
# Its output goes to a file, shown if it never becomes ready: stopping it at the end makes
# buildah report the kill.
buildah run --user 65532:65532 "$server" -- /usr/local/bin/rulehook serve \
    --rules /etc/rulehook/rules --listen "127.0.0.1:$port" --log warn \
    >"$TARGET_DIR/serve.log" 2>&1 &
serving=$!
cleanup() {
    kill "$serving" 2>/dev/null || true
    wait "$serving" 2>/dev/null || true
    buildah rm "$server" >/dev/null 2>&1 || true
}
trap cleanup EXIT
ready=
for _ in $(seq 1 200); do
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
        ready=$(( ($(date +%s%N) - started) / 1000000 ))
        break
    fi
    sleep 0.05
done
[ -n "$ready" ] || die "the server in the image never became ready: $(cat "$TARGET_DIR/serve.log")"
answer=$(curl -fsS -H 'Content-Type: application/json' \
    --data-binary @tests/fixtures/hello-sync-v1.json "http://127.0.0.1:$port/hello/sync")
expected='{"children":[{"apiVersion":"v1","kind":"Pod","metadata":{"name":"your-name"},"spec":{"containers":[{"command":["echo","Hello, Your Name!"],"image":"busybox","name":"hello"}],"restartPolicy":"OnFailure"}}],"status":{"pods":1}}'
[ "$answer" = "$expected" ] || die "hello answered: $answer"
log "hello answered from inside the image; ready ${ready} ms after \`buildah run\`"

mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
buildah push --quiet "$IMAGE" "oci-archive:$OUT:rulehook:$VERSION" >/dev/null
log "wrote $OUT"
printf 'image_size=%s\nbinary_bytes=%s\narchive_bytes=%s\nready_ms=%s\n' \
    "$(buildah images --format '{{.Size}}' "$IMAGE" | head -1)" \
    "$(stat -c %s "$BIN")" "$(stat -c %s "$OUT")" "$ready"
echo "image: ok"
