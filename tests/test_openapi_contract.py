"""Property-based contract check: schemathesis generates requests from the OpenAPI document (valid
and invalid) and checks that no response is a server error, and every response — status, media
type, headers and body — is one the document declares. Runs against the real app over the
bundled corpus, for every operation."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance, not_a_server_error, response_headers_conformance, response_schema_conformance,
    status_code_conformance,
)

from app.api import create_app
from tests.conftest import key_headers

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]

# the schema is the app's own document; the services behind the app are the bundled corpus's, set below
APP = create_app()
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP  # requests go to the app in-process (ASGI)


KEYS: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module", autouse=True)
def _serve_the_bundled_corpus(bundled_services):
    APP.state.services = bundled_services
    KEYS.update({role: key_headers(bundled_services, role) for role in ("admin", "auditor")})
    yield
    APP.state.services = None


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_contract(case):
    # with a key that may call the operation, so its own contract is checked and not only the 401
    # (that every route answers 401/403 as documented is walked in tests/test_access.py)
    case.call_and_validate(checks=CHECKS, headers=KEYS["auditor" if case.path.startswith("/v1/audit") else "admin"])
