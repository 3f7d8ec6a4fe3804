#!/usr/bin/env python3
"""Checks what can be checked without a container engine: the compose file and the Kubernetes
manifests parse as YAML and carry their essential fields, and the Dockerfile builds roomgate
without the sandbox, in the configuration CI checks (.ci/run). Exits non-zero, naming each problem, if anything is off."""

import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUILD = "cargo build --release --locked --no-default-features"
problems = []


def need(condition, message):
    if not condition:
        problems.append(message)


def load_all(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


# docker-compose.yml
compose = load_all(ROOT / "docker-compose.yml")[0]
services = compose.get("services", {})
db, app = services.get("db", {}), services.get("roomgate", {})
need(str(db.get("image", "")).startswith("postgres:"), "compose: db runs a postgres image")
need(any(str(v).endswith(":/var/lib/postgresql/data") for v in db.get("volumes", [])), "compose: db keeps its data in a volume")
need("pgdata" in (compose.get("volumes") or {}), "compose: the pgdata volume is named")
need("pg_isready" in str(db.get("healthcheck", {}).get("test")), "compose: db has a pg_isready health check")
need(app.get("build") == ".", "compose: roomgate builds from this Dockerfile")
need(app.get("env_file") in (".env", [".env"]), "compose: roomgate takes credentials from .env")
need(app.get("depends_on", {}).get("db", {}).get("condition") == "service_healthy", "compose: roomgate waits for a healthy db")
need("roomgate" in str(app.get("healthcheck", {}).get("test")), "compose: roomgate has a health check")
env = app.get("environment", {})
need(str(env.get("DATABASE_URL", "")).startswith("postgres://"), "compose: DATABASE_URL points at postgres")
need(env.get("ROOMGATE_LISTEN") == "0.0.0.0:8080", "compose: roomgate listens on 0.0.0.0:8080")
need("POSTGRES_PASSWORD" in str(db.get("environment", {})), "compose: the db password comes from the env file")

# deploy/kubernetes
kinds = {}
for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
    for doc in load_all(path):
        need("apiVersion" in doc and "kind" in doc, f"{path.name}: has apiVersion and kind")
        kinds.setdefault(doc.get("kind"), []).append((path.name, doc))
for kind in ["Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap", "Secret", "Kustomization"]:
    need(kind in kinds, f"kubernetes: a {kind} manifest exists")
if "Deployment" in kinds:
    deployment = kinds["Deployment"][0][1]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    labels = spec["template"]["metadata"]["labels"]
    need(spec.get("replicas", 1) >= 2, "deployment: several replicas")
    need(spec["selector"]["matchLabels"].items() <= labels.items(), "deployment: the selector matches the pod labels")
    need(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/readyz", "deployment: readiness probe on /readyz")
    need(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/healthz", "deployment: liveness probe on /healthz")
    resources = container.get("resources", {})
    need({"cpu", "memory"} <= set(resources.get("requests", {})), "deployment: cpu and memory requests")
    need({"cpu", "memory"} <= set(resources.get("limits", {})), "deployment: cpu and memory limits")
    need(any(p.get("containerPort") == 8080 for p in container.get("ports", [])), "deployment: container port 8080")
    need(pod.get("securityContext", {}).get("runAsNonRoot") is True, "deployment: runs as non-root")
    refs = [e.get("configMapRef", e.get("secretRef", {})).get("name") for e in container.get("envFrom", [])]
    need(refs.count("roomgate") == 2, "deployment: settings from the ConfigMap and the Secret")
    name = deployment["metadata"]["name"]
    for kind, field in [("HorizontalPodAutoscaler", ("spec", "scaleTargetRef", "name"))]:
        for file, doc in kinds.get(kind, []):
            need(doc["spec"]["scaleTargetRef"]["name"] == name, f"{file}: scales the Deployment")
            need(doc["spec"]["minReplicas"] >= 2, f"{file}: at least two replicas")
    for file, doc in kinds.get("PodDisruptionBudget", []):
        need(doc["spec"]["selector"]["matchLabels"].items() <= labels.items(), f"{file}: selects the pods")
    for file, doc in kinds.get("Service", []):
        need(doc["spec"]["selector"].items() <= labels.items(), f"{file}: selects the pods")
        need(doc["spec"]["ports"][0]["targetPort"] in ("http", 8080), f"{file}: targets the http port")
for file, doc in kinds.get("Secret", []):
    need({"ENABLEX_APP_ID", "ENABLEX_APP_KEY", "DATABASE_URL"} <= set(doc.get("stringData", {})), f"{file}: holds the credentials")
for file, doc in kinds.get("Kustomization", []):
    listed = set(doc.get("resources", []))
    need("deployment.yaml" in listed and "secret.example.yaml" not in listed, f"{file}: applies the manifests but not the example Secret")

# Dockerfile
dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
runs = [line for line in dockerfile.splitlines() if BUILD in line]
need(len(runs) == 2, f"Dockerfile: builds dependencies, then roomgate, each with `{BUILD}`")
need(len(re.findall(r"^FROM ", dockerfile, re.M)) >= 2, "Dockerfile: multi-stage")
need(re.search(r"^USER (?!root|0\b)", dockerfile, re.M) is not None, "Dockerfile: runs as a non-root user")
need("HEALTHCHECK" in dockerfile, "Dockerfile: has a HEALTHCHECK")
need("ROOMGATE_LISTEN=0.0.0.0:8080" in dockerfile and "EXPOSE 8080" in dockerfile, "Dockerfile: listens on 0.0.0.0:8080")
ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
need("target/" in ignored and ".env" in ignored, ".dockerignore: keeps target/ and .env out of the build context")

if problems:
    print("deployment files: %d problem(s)" % len(problems))
    for p in problems:
        print("  - " + p)
    sys.exit(1)
print("deployment files: compose, %d Kubernetes manifests and the Dockerfile check out" % sum(len(v) for v in kinds.values()))
