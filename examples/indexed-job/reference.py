"""The indexed-job controller as a hand-written Python hook: the sync answer for one request.

Reads a sync request on stdin, writes the response on stdout. It is the hook
`indexed-job.yaml` replaces, kept to show both side by side and to check that they answer the
same (tests/examples.rs runs it on every fixture).
"""
import copy
import json
import sys


def sync(request):
    job = request["parent"]
    name = job["metadata"]["name"]
    spec = job["spec"]
    completions = spec.get("completions", 1)
    parallelism = spec.get("parallelism", 1)
    template = spec["template"]
    if not template.get("spec", {}).get("containers"):
        raise ValueError("spec.template has no containers")

    pods = sorted(request["children"].get("Pod.v1", {}).values(),
                  key=lambda p: p["metadata"]["name"])
    phases = {}
    for p in pods:
        phase = p.get("status", {}).get("phase")
        phases[phase] = phases.get(phase, 0) + 1
    succeeded, failed = phases.get("Succeeded", 0), phases.get("Failed", 0)
    active = len(pods) - succeeded - failed

    seen = [int(p["metadata"]["labels"]["job-index"]) for p in pods]
    missing = sorted(set(range(completions)) - set(seen))
    start = missing[:max(0, parallelism - active)]

    children = []
    for i in sorted(seen + start):
        pod = copy.deepcopy(template)
        meta = pod.setdefault("metadata", {})
        meta["name"] = f"{name}-{i}"
        meta["labels"] = dict(meta.get("labels", {}), **{"job-index": str(i)})
        pod["apiVersion"], pod["kind"] = "v1", "Pod"
        pod["spec"]["restartPolicy"] = "Never"
        for c in pod["spec"]["containers"]:
            c["env"] = c.get("env", []) + [{"name": "JOB_INDEX", "value": str(i)}]
        children.append(pod)

    status = {"active": active, "succeeded": succeeded, "failed": failed,
              "complete": succeeded == completions}
    return {"status": status, "children": children}


if __name__ == "__main__":
    json.dump(sync(json.load(sys.stdin)), sys.stdout, indent=2, sort_keys=True)
