//! Inputs shared by the criterion benchmarks (`crates/rulehook-engine/benches/engine.rs`) and the load-test tools
//! (`bench/tools`): realistic Pod JSON, big hook requests and rule texts.
//!
//! Everything is deterministic (no randomness, no clock), so every run and every tool sees
//! byte-identical inputs.

#![allow(dead_code)]

use serde_json::{json, Map, Value};

/// Namespace of every generated object.
pub const NAMESPACE: &str = "shop";

/// Name of the parent of the big requests.
pub const PARENT: &str = "storefront";

/// The phases a generated Pod rotates through.
pub const PHASES: [&str; 4] = ["Running", "Pending", "Succeeded", "Failed"];

/// A rule whose status counts the observed Pods, by phase too, for the 1,000-Pod request.
pub const PODS_RULE: &str = r#"name: pods
values:
  name: $.parent.metadata.name
  generation: $.parent.metadata.generation
sync:
  status:
    observedGeneration: "{{ generation }}"
    pods: "{{ length children.[Pod.v1] }}"
    running: "{{ count children.[Pod.v1] \"status.phase\" \"Running\" }}"
    byPhase: "{{ countBy children.[Pod.v1] \"status.phase\" }}"
  children:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        name: "{{ name }}-summary"
        labels:
          app: "{{ name }}"
      data:
        running: "{{ count children.[Pod.v1] \"status.phase\" \"Running\" }}"
"#;

/// A rule that fans one parent out to `spec.replicas` Services with `$forEach`.
pub const FANOUT_RULE: &str = r#"name: fanout
values:
  name: $.parent.metadata.name
  namespace: $.parent.metadata.namespace
  replicas:
    path: $.parent.spec.replicas
    default: 1
  port:
    path: $.parent.spec.port
    default: 8080
sync:
  status:
    services: "{{ replicas }}"
  children:
    - $forEach: "{{ replicas }}"
      $as: shard
      apiVersion: v1
      kind: Service
      metadata:
        name: "{{ printf \"%s-%04d\" name shard }}"
        namespace: "{{ namespace }}"
        labels:
          app: "{{ name }}"
          shard: "{{ printf \"%d\" shard }}"
      spec:
        type: ClusterIP
        selector:
          app: "{{ name }}"
          shard: "{{ printf \"%d\" shard }}"
        ports:
          - name: http
            port: 80
            targetPort: "{{ port }}"
            protocol: TCP
"#;

/// Deterministic pseudo-random 32-bit number for `i` (a tiny xorshift-multiply hash).
fn mix(i: u64) -> u64 {
    let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A UUID-shaped string derived from `seed`.
pub fn uid(seed: u64) -> String {
    let a = mix(seed);
    let b = mix(seed ^ 0x5555);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn timestamp(minute: u64, second: u64) -> String {
    format!(
        "2026-08-20T{:02}:{:02}:{:02}Z",
        10 + minute / 60,
        minute % 60,
        second % 60
    )
}

/// One observed Pod as the API server returns it (metadata with labels, annotations, owner
/// references and managed fields; spec with a container, volumes and tolerations; status with
/// conditions and container statuses), about 3 KB of JSON.
pub fn pod(i: usize, parent: &str, parent_uid: &str) -> Value {
    let i64_ = i as u64;
    let phase = PHASES[i % PHASES.len()];
    let name = format!("{parent}-{i:05}");
    let node = format!("node-{}", i % 7 + 1);
    let ip = format!("10.244.{}.{}", i / 250 + 1, i % 250 + 2);
    let host_ip = format!("172.18.0.{}", i % 7 + 2);
    let started = timestamp(5 + i64_ / 60, i64_);
    let hash = format!("{:010x}", mix(i64_ / 100) & 0xff_ffff_ffff);
    let ready = if phase == "Running" { "True" } else { "False" };
    let state = match phase {
        "Running" => json!({"running": {"startedAt": started}}),
        "Pending" => json!({"waiting": {"reason": "ContainerCreating"}}),
        "Succeeded" => json!({"terminated": {
            "exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started,
            "containerID": format!("containerd://{:016x}{:016x}", mix(i64_ + 7), mix(i64_ + 8))
        }}),
        _ => json!({"terminated": {
            "exitCode": 137, "reason": "OOMKilled", "startedAt": started, "finishedAt": started,
            "containerID": format!("containerd://{:016x}{:016x}", mix(i64_ + 7), mix(i64_ + 8))
        }}),
    };
    let applied = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"labels": {"app": parent, "shard": i.to_string()}, "name": name, "namespace": NAMESPACE},
        "spec": {"containers": [{"image": "registry.example.com/shop/web:1.27.3", "name": "web"}]}
    });
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": uid(i64_),
            "resourceVersion": (184_200 + i * 3).to_string(),
            "creationTimestamp": started,
            "labels": {
                "app": parent,
                "shard": i.to_string(),
                "pod-template-hash": hash,
                "controller-uid": parent_uid,
                "tier": "frontend"
            },
            "annotations": {
                "metacontroller.k8s.io/last-applied-configuration": applied.to_string()
            },
            "ownerReferences": [{
                "apiVersion": "example.com/v1",
                "kind": "Storefront",
                "name": parent,
                "uid": parent_uid,
                "controller": true,
                "blockOwnerDeletion": true
            }],
            "managedFields": [
                {
                    "manager": "metacontroller",
                    "operation": "Update",
                    "apiVersion": "v1",
                    "time": started,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:annotations": {".": {}, "f:metacontroller.k8s.io/last-applied-configuration": {}},
                            "f:labels": {".": {}, "f:app": {}, "f:shard": {}},
                            "f:ownerReferences": {".": {}, format!("k:{{\"uid\":\"{parent_uid}\"}}"): {}}
                        },
                        "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}
                    }
                }
            ]
        },
        "spec": {
            "volumes": [{
                "name": format!("kube-api-access-{:05x}", mix(i64_ + 3) & 0xfffff),
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
                    ],
                    "defaultMode": 420
                }
            }],
            "containers": [{
                "name": "web",
                "image": "registry.example.com/shop/web:1.27.3",
                "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent"
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": node,
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ],
            "priority": 0,
            "enableServiceLinks": true
        },
        "status": {
            "phase": phase,
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": ready, "lastTransitionTime": started}
            ],
            "hostIP": host_ip,
            "podIP": ip,
            "startTime": started,
            "containerStatuses": [{
                "name": "web",
                "state": state,
                "ready": phase == "Running",
                "restartCount": i % 3,
                "image": "registry.example.com/shop/web:1.27.3",
                "imageID": format!("registry.example.com/shop/web@sha256:{:016x}{:016x}", mix(1), mix(2)),
                "started": phase == "Running"
            }],
            "qosClass": "Burstable"
        }
    })
}

/// The parent of the big requests.
fn parent(spec: Value) -> Value {
    let parent_uid = uid(u64::MAX);
    json!({
        "apiVersion": "example.com/v1",
        "kind": "Storefront",
        "metadata": {
            "name": PARENT,
            "namespace": NAMESPACE,
            "uid": parent_uid,
            "resourceVersion": "184100",
            "generation": 7,
            "creationTimestamp": "2026-08-20T10:00:00Z",
            "labels": {"controller-uid": parent_uid}
        },
        "spec": spec,
        "status": {"observedGeneration": 6}
    })
}

fn controller() -> Value {
    json!({
        "apiVersion": "metacontroller.k8s.io/v1alpha1",
        "kind": "CompositeController",
        "metadata": {"name": "storefront-controller", "uid": uid(1 << 40), "generation": 1},
        "spec": {
            "generateSelector": true,
            "parentResource": {"apiVersion": "example.com/v1", "resource": "storefronts"},
            "childResources": [{"apiVersion": "v1", "resource": "pods"}],
            "hooks": {"sync": {"webhook": {"url": "http://rulehook.rulehook/pods/sync"}}}
        }
    })
}

/// A sync request whose parent observes `n` Pods.
pub fn pods_request(n: usize) -> Value {
    let parent_uid = uid(u64::MAX);
    let mut pods = Map::new();
    for i in 0..n {
        pods.insert(format!("{PARENT}-{i:05}"), pod(i, PARENT, &parent_uid));
    }
    json!({
        "controller": controller(),
        "parent": parent(json!({"replicas": n, "image": "registry.example.com/shop/web:1.27.3"})),
        "children": {"Pod.v1": pods},
        "related": {},
        "finalizing": false
    })
}

/// [`pods_request`] as the bytes Metacontroller would send.
pub fn pods_request_body(n: usize) -> Vec<u8> {
    serde_json::to_vec(&pods_request(n)).expect("a Value always serializes")
}

/// A sync request for [`FANOUT_RULE`] with `spec.replicas = n` and no observed children.
pub fn fanout_request(n: usize) -> Value {
    json!({
        "controller": controller(),
        "parent": parent(json!({"replicas": n, "port": 8080})),
        "children": {},
        "related": {},
        "finalizing": false
    })
}

/// A realistic web-application rule, variant `i`: values with defaults, status counting
/// Pods, a ConfigMap, `replicas` Pods via `$forEach` with a nested env loop, and an
/// optional Service.
pub fn webapp_rule(i: usize) -> String {
    format!(
        r#"# Generated benchmark rule {i:03}: a small web application.
name: webapp-{i:03}
values:
  name: $.parent.metadata.name
  namespace: $.parent.metadata.namespace
  generation: $.parent.metadata.generation
  replicas:
    path: $.parent.spec.replicas
    default: {replicas}
  image:
    path: $.parent.spec.image
    default: registry.example.com/team-{i:03}/web:1.{i}.0
  port:
    path: $.parent.spec.port
    default: {port}
  env:
    path: $.parent.spec.env
    default: {{}}
  expose:
    path: $.parent.spec.expose
    default: true
sync:
  resyncAfterSeconds: {resync}
  status:
    observedGeneration: "{{{{ generation }}}}"
    replicas: "{{{{ replicas }}}}"
    pods: "{{{{ length children.[Pod.v1] }}}}"
    ready: "{{{{ count children.[Pod.v1] \"status.phase\" \"Running\" }}}}"
    byPhase: "{{{{ countBy children.[Pod.v1] \"status.phase\" }}}}"
    summary: "{{{{ count children.[Pod.v1] \"status.phase\" \"Running\" }}}}/{{{{ replicas }}}} ready"
  children:
    - apiVersion: v1
      kind: ConfigMap
      metadata:
        name: "{{{{ name }}}}-config"
        namespace: "{{{{ namespace }}}}"
        labels:
          app: "{{{{ name }}}}"
          variant: "v{i}"
      data:
        env.json: "{{{{ toJson env }}}}"
        greeting: "Hello from {{{{ upper name }}}} (variant {i})"
    - $forEach: "{{{{ replicas }}}}"
      $as: replica
      apiVersion: v1
      kind: Pod
      metadata:
        name: "{{{{ printf \"%s-%03d\" name replica }}}}"
        namespace: "{{{{ namespace }}}}"
        labels:
          app: "{{{{ name }}}}"
          replica: "{{{{ printf \"%d\" replica }}}}"
        annotations:
          example.com/variant: "v{i}"
      spec:
        restartPolicy: Always
        containers:
          - name: web
            image: "{{{{ image }}}}"
            ports:
              - name: http
                containerPort: "{{{{ port }}}}"
            env:
              - name: REPLICA
                value: "{{{{ printf \"%d\" replica }}}}"
              - $forEach: "{{{{ env }}}}"
                $as: value
                name: "{{{{ key }}}}"
                value: "{{{{ value }}}}"
            resources:
              requests:
                cpu: {cpu}m
                memory: {memory}Mi
    - $includeWhen: "{{{{ expose }}}}"
      apiVersion: v1
      kind: Service
      metadata:
        name: "{{{{ name }}}}"
        namespace: "{{{{ namespace }}}}"
      spec:
        selector:
          app: "{{{{ name }}}}"
        ports:
          - name: http
            port: 80
            targetPort: "{{{{ port }}}}"
"#,
        replicas = i % 5 + 1,
        port = 8000 + i,
        resync = 30 + i % 60,
        cpu = 50 + 10 * (i % 10),
        memory = 64 + 16 * (i % 8),
    )
}

/// `(file name, text)` of `n` [`webapp_rule`] variants.
pub fn webapp_rules(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("webapp-{i:03}.yaml"), webapp_rule(i)))
        .collect()
}
