"""The direction imports point (pyproject.toml [tool.importlinter], docs/architecture.md): each layer
imports only those below it, and the client other systems install imports nothing of the server.
A change that breaks it fails here, naming the import chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from app.config import REPO_ROOT


def test_imports_point_one_way():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "2 kept, 0 broken" in result.stdout
