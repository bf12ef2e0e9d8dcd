"""The deployment files, checked as far as this machine allows: the compose files with Debian's
docker-compose (`config -q` parses, merges and validates against the compose schema; no engine runs
here), the Kubernetes manifests against the API's JSON schemas (kubernetes-validate, strict), and
every setting they give the app is one the app knows."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

DEPLOY = REPO / "deploy"
MANIFESTS = sorted(p for p in (DEPLOY / "kubernetes").glob("*.yaml") if p.name != "kustomization.yaml")
KUBERNETES_VERSION = "1.33"
# what the deployment sets that is not a setting of app/config.py
NOT_SETTINGS = {"JINGCE_SECRETS_DIR"}


def _compose(*files: str) -> dict:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is not installed (.ci/run installs it)")
        pytest.skip("docker-compose is not installed")
    args = [binary, *(a for f in files for a in ("-f", str(DEPLOY / f)))]
    env = {"PATH": os.environ["PATH"], "QDRANT_API_KEY": "placeholder"}
    checked = subprocess.run([*args, "config", "-q"], env=env, capture_output=True, text=True, cwd=DEPLOY)
    assert checked.returncode == 0, checked.stderr
    merged = subprocess.run([*args, "config"], env=env, capture_output=True, text=True, cwd=DEPLOY, check=True)
    return yaml.safe_load(merged.stdout)


def _known_settings() -> set[str]:
    from app.config import settings_reference

    return {name for name, _, _ in settings_reference()}


def _documents() -> list[dict]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_compose_file_is_valid_and_wires_the_parts():
    services = _compose("compose.yaml")["services"]
    assert {"qdrant", "redis", "postgres", "vllm", "embedder", "app", "worker", "proxy", "migrate"} <= set(services)
    app = services["app"]
    assert "--workers" in app["command"] and app["environment"]["QDRANT_URL"] == "http://qdrant:6333"
    assert set(app["environment"]) - NOT_SETTINGS <= _known_settings()
    assert app["environment"]["EMBEDDING_PROVIDER"] == "openai"
    llm = services["vllm"]
    assert "--enable-prefix-caching" in " ".join(llm["command"]) and "cat /run/secrets/llm_api_key" in llm["command"][0]
    assert llm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "--runner pooling" in services["embedder"]["command"][0]
    assert "/corpus" in " ".join(services["worker"]["volumes"]), "workers read the files the ingest job queues"
    assert services["worker"]["command"][:2] == ["jingce", "worker"]
    nginx = (DEPLOY / "nginx.conf").read_text()
    assert "proxy_buffering off" in nginx and "proxy_read_timeout 300s" in nginx


def test_compose_keeps_secrets_out_of_the_files():
    text = (DEPLOY / "compose.yaml").read_text() + (DEPLOY / "compose.cluster.yaml").read_text()
    for word in ("PASSWORD:", "API_KEY:", "SIGNING_KEY:"):
        for line in text.splitlines():
            if word in line and "${" not in line and "_FILE" not in line:
                pytest.fail(f"a secret written into a compose file: {line.strip()}")
    services = _compose("compose.yaml")["services"]
    assert {"database_url", "qdrant_api_key", "audit_signing_key"} <= {
        s if isinstance(s, str) else s["source"] for s in services["app"]["secrets"]}


def test_cluster_variant_replicates_every_shard():
    services = _compose("compose.yaml", "compose.cluster.yaml")["services"]
    assert {"qdrant", "qdrant-2", "qdrant-3"} <= set(services)
    for name in ("app", "worker", "ingest", "train-routing", "audit-verify"):
        env = services[name]["environment"]
        assert (env["QDRANT_REPLICATION_FACTOR"], env["QDRANT_WRITE_CONSISTENCY_FACTOR"]) == ("2", "2"), name
    assert "--bootstrap" in services["qdrant-2"]["command"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_matches_the_kubernetes_schemas(path):
    import kubernetes_validate

    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught():
    import kubernetes_validate

    broken = yaml.safe_load((DEPLOY / "kubernetes" / "namespace.yaml").read_text())
    broken["metadata"]["lables"] = {"typo": "yes"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_manifests_give_probes_resources_and_budgets():
    docs = _documents()
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    for workload in workloads:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            name = f"{workload['metadata']['name']}/{container['name']}"
            assert container["resources"]["requests"], name
            assert "readinessProbe" in container and "livenessProbe" in container, name
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    gpu = by_name[("Deployment", "vllm")]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert gpu["limits"]["nvidia.com/gpu"] == "1"
    assert ("PodDisruptionBudget", "app") in by_name and ("PodDisruptionBudget", "qdrant") in by_name
    assert by_name[("StatefulSet", "qdrant")]["spec"]["replicas"] == 3
    app = by_name[("Deployment", "app")]["spec"]["template"]["spec"]["containers"][0]
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz" and app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    listed = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(p.name for p in MANIFESTS)


def test_manifest_settings_are_settings_the_app_reads():
    config = next(d for d in _documents() if d["kind"] == "ConfigMap")
    assert set(config["data"]) - NOT_SETTINGS <= _known_settings()
    from app.config import Settings

    env = {k: v for k, v in config["data"].items() if k not in NOT_SETTINGS}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        settings = Settings()  # parses: types and cross-checks hold
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert settings.qdrant.replication_factor == 2 and settings.embedding.provider == "openai"


def test_secrets_are_read_from_files(tmp_path, monkeypatch):
    (tmp_path / "qdrant_api_key").write_text("from-a-file")
    (tmp_path / "database_url").write_text("postgresql+psycopg://jingce:pw@postgres:5432/jingce")
    monkeypatch.setenv("JINGCE_SECRETS_DIR", str(tmp_path))
    import importlib

    import app.config

    reloaded = importlib.reload(app.config)
    try:
        settings = reloaded.Settings()
        assert settings.qdrant.api_key.get_secret_value() == "from-a-file"
        assert settings.database.url.endswith("@postgres:5432/jingce")
    finally:
        monkeypatch.delenv("JINGCE_SECRETS_DIR")
        importlib.reload(app.config)
