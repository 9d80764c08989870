"""Validate every object of the YAML FILES against the Kubernetes 1.33 schemas, strictly:
unknown fields fail, and so do unknown kinds and apiVersions (which kubernetes-validate's CLI
only warns about). CRD groups without a schema here (Gateway API, Prometheus Operator) are
skipped with a note on stderr."""
import sys

import kubernetes_validate as kv
import yaml
from kubernetes_validate.utils import SchemaNotFoundError

CRD_GROUPS = ("gateway.networking.k8s.io/", "monitoring.coreos.com/")

bad = 0
for path in sys.argv[1:]:
    with open(path) as f:
        docs = list(yaml.safe_load_all(f))
    for doc in docs:
        if not doc:
            continue
        where = f"{path}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        if str(doc.get("apiVersion", "")).startswith(CRD_GROUPS):
            print(f"{where}: skipped, no schema for CRD {doc['apiVersion']}", file=sys.stderr)
            continue
        try:
            kv.validate(doc, "1.33", strict=True)
        except SchemaNotFoundError:
            bad = 1
            print(f"{where}: no schema for {doc.get('apiVersion')} {doc.get('kind')}")
        except kv.ValidationError as e:
            bad = 1
            print(f"{where}: {e.message} at {'/'.join(map(str, e.path))}")
sys.exit(bad)
