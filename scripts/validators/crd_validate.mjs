// Validates the CRD kinds Kubernetes' own schemas do not cover: Gateway API objects
// (gateway.networking.k8s.io) and Prometheus Operator ones (monitoring.coreos.com), through the
// validators @kubernetes-models compiles from the projects' CRD schemas. They check types,
// enums, patterns and required fields; they do not report unknown fields.
//
//   node crd_validate.mjs FILE.yaml...     (multi-document YAML, e.g. a kustomize build)
//
// FLEETWRIGHT_NODE_MODULES names the node_modules holding @kubernetes-models/* and yaml
// (scripts/tools.sh installs them). Prints one line per checked object; exits 1 on the first
// file with an invalid object, after reporting every invalid object in it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.env.FLEETWRIGHT_NODE_MODULES;
if (!modules) {
  console.error("crd_validate: set FLEETWRIGHT_NODE_MODULES (scripts/tools.sh exports it)");
  process.exit(2);
}
const load = (path) => import(pathToFileURL(join(modules, path)).href);
const { parseAllDocuments } = await load("yaml/dist/index.js");

// API group/version → the module of its kinds.
const groups = {
  "gateway.networking.k8s.io/v1": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/index.js",
  "gateway.networking.k8s.io/v1beta1": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1/index.js",
  "gateway.networking.k8s.io/v1alpha2": "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2/index.js",
  "monitoring.coreos.com/v1": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/index.js",
};

let failed = false;
for (const file of process.argv.slice(2)) {
  for (const document of parseAllDocuments(readFileSync(file, "utf8"))) {
    const object = document.toJS();
    if (!object || !object.apiVersion) continue;
    const group = object.apiVersion.split("/")[0];
    if (group !== "gateway.networking.k8s.io" && group !== "monitoring.coreos.com") continue;
    const name = `${file}: ${object.kind} ${object.metadata?.name ?? "?"}`;
    const module = groups[object.apiVersion];
    const Kind = module && (await load(module))[object.kind];
    if (!Kind) {
      console.log(`${name}: unknown kind ${object.apiVersion} ${object.kind}`);
      failed = true;
      continue;
    }
    try {
      new Kind(object).validate();
      console.log(`${name}: ok`);
    } catch (error) {
      console.log(`${name}: ${error.message}`);
      failed = true;
    }
  }
}
process.exit(failed ? 1 : 0);
