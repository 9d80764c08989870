"""Checks the schemas cannot make, on the output of one `kustomize build`: selectors that
select pods; ConfigMaps, Secrets, ServiceAccounts, volumes and scale targets that exist; named
ports that are declared; one namespace; a default-deny NetworkPolicy; hardened pods (non-root,
read-only root, no privilege escalation, no capabilities, no API token, requests and limits);
no credential in a ConfigMap. Prints JSON:
{"errors": [...], "missing_secrets": [...], "dangling_peers": [...]}. Secrets and network
peers may legitimately live outside the build (the prod overlay's external database), so they
are reported for the caller to judge; everything else is an error."""
import json
import sys

import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
errors, missing_secrets, dangling = [], set(), []
workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
pods = {name: w["spec"]["template"] for name, w in workloads.items()}


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def selected(selector):
    return [p for p in pods.values() if selects(selector, p["metadata"].get("labels", {}))]


def port_names(pod_list):
    return {p.get("name") for pod in pod_list for c in pod["spec"]["containers"] for p in c.get("ports", [])}


namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
if len(namespaces) != 1 or None in namespaces or set(by_kind.get("Namespace", {})) != namespaces:
    errors.append(f"objects are not all in the one Namespace object: {sorted(map(str, namespaces))}")

hpa_targets = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", {}).values()}
for name, w in workloads.items():
    spec, pod = w["spec"], w["spec"]["template"]
    if not selects(spec["selector"]["matchLabels"], pod["metadata"].get("labels", {})):
        errors.append(f"{name}: selector does not match its pod labels")
    if name in hpa_targets and "replicas" in spec:
        errors.append(f"{name}: sets replicas although an HPA scales it")
    sa = pod["spec"].get("serviceAccountName")
    if sa and sa not in by_kind.get("ServiceAccount", {}):
        errors.append(f"{name}: no ServiceAccount {sa}")
    for c in pod["spec"]["containers"]:
        names = {p.get("name") for p in c.get("ports", [])}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = (c.get(probe, {}).get("httpGet") or c.get(probe, {}).get("tcpSocket") or {}).get("port")
            if isinstance(port, str) and port not in names:
                errors.append(f"{name}: {probe} names undeclared port {port}")
        for ref in c.get("envFrom", []):
            if "configMapRef" in ref and ref["configMapRef"]["name"] not in by_kind.get("ConfigMap", {}):
                errors.append(f"{name}: no ConfigMap {ref['configMapRef']['name']}")
        for var in c.get("env", []):
            ref = (var.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                secret = by_kind.get("Secret", {}).get(ref["name"])
                if secret is None:
                    missing_secrets.add(ref["name"])
                elif ref["key"] not in {**secret.get("data", {}), **secret.get("stringData", {})}:
                    errors.append(f"{name}: Secret {ref['name']} has no key {ref['key']}")
    for vol in pod["spec"].get("volumes", []):
        for kind, field, key in (("ConfigMap", "configMap", "name"), ("PersistentVolumeClaim", "persistentVolumeClaim", "claimName")):
            if field in vol and vol[field][key] not in by_kind.get(kind, {}):
                errors.append(f"{name}: volume {vol['name']} names missing {kind} {vol[field][key]}")

for name, svc in by_kind.get("Service", {}).items():
    matched = selected(svc["spec"].get("selector", {}))
    if not matched:
        errors.append(f"Service {name}: selects no pods")
    for p in svc["spec"]["ports"]:
        if isinstance(p.get("targetPort"), str) and p["targetPort"] not in port_names(matched):
            errors.append(f"Service {name}: targetPort {p['targetPort']} is not a container port")
for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
    if hpa["spec"]["scaleTargetRef"]["name"] not in by_kind.get("Deployment", {}):
        errors.append(f"HPA {name}: no Deployment {hpa['spec']['scaleTargetRef']['name']}")
for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
    if not selected(pdb["spec"]["selector"]["matchLabels"]):
        errors.append(f"PDB {name}: selects no pods")
for name, np in by_kind.get("NetworkPolicy", {}).items():
    own = np["spec"]["podSelector"].get("matchLabels")
    own_pods = selected(own) if own else list(pods.values())
    if own and not own_pods:
        errors.append(f"NetworkPolicy {name}: selects no pods")
    for direction, side in (("ingress", "from"), ("egress", "to")):
        for rule in np["spec"].get(direction) or []:
            peers = [p["podSelector"]["matchLabels"] for p in rule.get(side, []) if "podSelector" in p and "namespaceSelector" not in p]
            for peer in peers:
                if not selected(peer):
                    dangling.append(f"{name}: {direction} peer {peer}")
            targets = own_pods if direction == "ingress" else [p for peer in peers for p in selected(peer)]
            for port in rule.get("ports", []):
                if isinstance(port.get("port"), str) and targets and port["port"] not in port_names(targets):
                    errors.append(f"NetworkPolicy {name}: {direction} port {port['port']} is not declared by its pods")

if not any(np["spec"]["podSelector"] == {} and set(np["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
           and not np["spec"].get("ingress") and not np["spec"].get("egress")
           for np in by_kind.get("NetworkPolicy", {}).values()):
    errors.append("no default-deny NetworkPolicy")
for name, cm in by_kind.get("ConfigMap", {}).items():
    for key in cm.get("data", {}):
        if any(word in key.upper() for word in ("DATABASE_URL", "PASSWORD", "TOKEN", "SECRET")):
            errors.append(f"ConfigMap {name}: holds {key}, which belongs in a Secret")
for name, pod in pods.items():
    if pod["spec"].get("automountServiceAccountToken") is not False:
        errors.append(f"{name}: mounts a service account token")
    if (pod["spec"].get("securityContext") or {}).get("seccompProfile", {}).get("type") != "RuntimeDefault":
        errors.append(f"{name}: no RuntimeDefault seccomp profile")
    for c in pod["spec"]["containers"]:
        sc = c.get("securityContext") or {}
        if not (sc.get("runAsNonRoot") and sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                and "ALL" in (sc.get("capabilities") or {}).get("drop", [])):
            errors.append(f"{name}/{c['name']}: not hardened (runAsNonRoot, readOnlyRootFilesystem, no privilege escalation, drop ALL)")
        res = c.get("resources") or {}
        if not all(r in res.get(k, {}) for k in ("requests", "limits") for r in ("cpu", "memory")):
            errors.append(f"{name}/{c['name']}: CPU and memory requests and limits are not all set")

print(json.dumps({"errors": errors, "missing_secrets": sorted(missing_secrets), "dangling_peers": dangling}, indent=1))
sys.exit(1 if errors else 0)
