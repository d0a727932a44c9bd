"""The catset controller as a hand-written Python hook: the sync and finalize answer for one request.

Reads a sync request on stdin, writes the response on stdout. It is the hook `catset.yaml`
replaces, kept to show both side by side and to check that they answer the same
(tests/examples.rs runs it on every fixture).
"""
import copy
import json
import re
import sys

ORDINAL = "(0|[1-9][0-9]*)"  # no leading zeros: `web-01` is not ordinal 1


def sync(request):
    catset = request["parent"]
    name = catset["metadata"]["name"]
    spec = catset["spec"]
    template = spec["template"]
    claim_templates = spec.get("volumeClaimTemplates", [])
    finalizing = request.get("finalizing", False)
    # Finalizing scales to zero the same way a sync scales down.
    replicas = 0 if finalizing else spec.get("replicas", 1)

    # Observed Pods named <name>-<ordinal>, lowest first; Pods of other names are left out.
    pods = []
    for p in request["children"].get("Pod.v1", {}).values():
        m = re.fullmatch(re.escape(name) + "-" + ORDINAL, p["metadata"]["name"])
        if m:
            ready = any(c["type"] == "Ready" and c["status"] == "True"
                        for c in p.get("status", {}).get("conditions", []))
            pods.append({"ordinal": int(m.group(1)), "ready": ready})
    pods.sort(key=lambda p: p["ordinal"])
    ordinals = [p["ordinal"] for p in pods]
    ready = [p["ordinal"] for p in pods if p["ready"]]

    # The lowest ordinal below replicas that is not Ready: every lower one is, so it may be
    # created if it is missing.
    next_ = [i for i in range(replicas) if i not in ready][:1]
    # The highest Pod goes when it is at or beyond replicas, none is to be created, and every
    # other Pod is Ready.
    scale_down = (bool(ordinals) and ordinals[-1] >= replicas and not next_
                  and all(p["ready"] for p in pods[:-1]))
    keep = ordinals[:-1] if scale_down else ordinals
    # Highest first: a rolling update replaces Pods in the order the answer lists them.
    desired = sorted(set(keep + next_), reverse=True)

    children = []
    for i in desired:
        pod_name = f"{name}-{i}"
        pod = copy.deepcopy(template)
        pod["apiVersion"], pod["kind"] = "v1", "Pod"
        meta = pod.setdefault("metadata", {})
        meta["name"] = pod_name
        meta["labels"] = dict(meta.get("labels", {}), **{"ctl.enisoc.com/pod-name": pod_name})
        pod_spec = pod.setdefault("spec", {})
        pod_spec["hostname"] = pod_name
        if "serviceName" in spec:
            pod_spec["subdomain"] = spec["serviceName"]
        volumes = pod_spec.get("volumes", []) + [
            {"name": c["metadata"]["name"],
             "persistentVolumeClaim": {"claimName": f"{c['metadata']['name']}-{pod_name}"}}
            for c in claim_templates]
        if volumes:
            pod_spec["volumes"] = volumes
        children.append(pod)

    # Claims for every ordinal below replicas, and every observed one beyond: claims outlive
    # scale-down (a StatefulSet keeps them too).
    seen = {}
    for c in request["children"].get("PersistentVolumeClaim.v1", {}).values():
        m = re.fullmatch("(.+)-" + re.escape(name) + "-" + ORDINAL, c["metadata"]["name"])
        if m:
            seen.setdefault(m.group(1), []).append(int(m.group(2)))
    for t in claim_templates:
        claim = t["metadata"]["name"]
        for i in sorted(set(range(replicas)) | set(seen.get(claim, []))):
            pvc = copy.deepcopy(t)
            pvc["apiVersion"], pvc["kind"] = "v1", "PersistentVolumeClaim"
            pvc["metadata"]["name"] = f"{claim}-{name}-{i}"
            children.append(pvc)

    answer = {"status": {"replicas": len(pods), "readyReplicas": len(ready)},
              "children": children}
    if finalizing:
        # Done once no Pod at all is left, whatever its name.
        answer["finalized"] = not request["children"].get("Pod.v1")
    return answer


if __name__ == "__main__":
    json.dump(sync(json.load(sys.stdin)), sys.stdout, indent=2, sort_keys=True)
