"""The canary controller as a hand-written Python hook: the sync answer for one request.

Reads a sync request on stdin, writes the response on stdout. It is the hook `canary.yaml`
replaces, kept to show both side by side and to check that they answer the same
(tests/examples.rs runs it on every fixture).
"""
import copy
import json
import sys


def sync(request):
    parent = request["parent"]
    spec = parent["spec"]
    name = parent["metadata"]["name"]
    template = spec["template"]
    tracks = [{"track": "stable", "replicas": spec.get("replicas", 1), "images": {}}]
    canary = spec.get("canary")
    if canary is not None:
        tracks.append({"track": "canary", "replicas": canary.get("replicas", 1),
                       "images": canary.get("images", {})})

    children = []
    for t in tracks:
        labels = dict(template.get("metadata", {}).get("labels", {}), track=t["track"])
        pod = copy.deepcopy(template)
        pod.setdefault("metadata", {})["labels"] = labels
        for c in pod["spec"]["containers"]:
            c["image"] = t["images"].get(c["name"], c["image"])
        children.append({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{name}-{t['track']}", "labels": labels},
            "spec": {"replicas": t["replicas"], "selector": {"matchLabels": labels},
                     "template": pod},
        })

    observed = request["children"].get("Deployment.apps/v1", {})
    ready = []
    for t in tracks:
        deployment = next((d for d in observed.values()
                           if d["metadata"]["name"] == f"{name}-{t['track']}"), {})
        ready.append({"track": t["track"],
                      "ready": deployment.get("status", {}).get("readyReplicas", 0)})
    return {"status": {"readyReplicas": ready}, "children": children}


if __name__ == "__main__":
    json.dump(sync(json.load(sys.stdin)), sys.stdout, indent=2, sort_keys=True)
