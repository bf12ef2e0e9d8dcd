"""The pages in a real browser: Debian's `chromium` driven by Playwright (no browser download —
`executable_path` points at the system binary; .ci/run installs it with a CJK font), against the app
served by uvicorn over the bundled corpus. Screenshots go to artifacts/screenshots/ (PNG)."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.servers import free_port

SCREENSHOTS = REPO / "artifacts" / "screenshots"

CHROMIUM = next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)


def pytest_collection_modifyitems(items):
    # skipped on a developer's machine without it; in CI (always installed there) a missing browser fails
    if CHROMIUM is None and not os.environ.get("CI"):
        for item in items:
            if "tests/browser" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason="Debian's chromium is not installed (.ci/run installs it)"))


@pytest.fixture(scope="module")
def other_site():
    """Another site, on loopback (Chromium refuses a public site's requests to a loopback server, so the
    site must be local too): yields (its origin, {path: html}) — the test puts the page it wants."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    pages: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = pages.get(self.path, "").encode()
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # "localhost", not the app's 127.0.0.1: another origin
    yield f"http://localhost:{server.server_address[1]}", pages
    server.shutdown()


@pytest.fixture(scope="module")
def live_settings():
    """Settings sections the served app gets in a test module (a module may override this fixture)."""
    return {}


@pytest.fixture(scope="module")
def live(bundled_index, embedder, tmp_path_factory, other_site, live_settings):
    """The app over a copy of the bundled corpus's index (its audit log holds only what these tests do),
    served on a free loopback port; yields (base URL, services)."""
    import uvicorn

    from app.api import create_app
    from app.composition import build_services
    from app.config import Settings

    data_dir = tmp_path_factory.mktemp("browser") / "data"
    shutil.copytree(bundled_index, data_dir)
    settings = Settings(data_dir=data_dir)  # a site that embeds the widget, allowed to call across origins
    settings = settings.model_copy(update={"server": settings.server.model_copy(update={"cors_origins": [other_site[0]]}),
                                           **{name: getattr(settings, name).model_copy(update=values)
                                              for name, values in live_settings.items()}})
    services = build_services(settings, embedder=embedder)
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=free_port(),
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the app did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}", services
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        services.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # as root in CI Chromium's sandbox cannot start; the pages it opens are our own
        assert CHROMIUM, "Debian's chromium is not installed (.ci/run installs it)"
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--lang=zh-CN"])
        yield launched
        launched.close()


@pytest.fixture
def page_at(browser):
    """page_at(width) → a fresh page of that width, in Chinese; it fails the test on a script error or
    a request refused by the content security policy."""
    contexts, problems = [], []

    def make(width: int = 1280, height: int = 860):
        context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai", accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on("console", lambda message: problems.append(message.text) if message.type == "error"
                and "favicon" not in message.text and "Failed to load resource" not in message.text else None)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, problems


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def assert_accessible(page, where: str) -> None:
    """axe-core on the page as it is now (open shadow roots included): no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
           for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert not bad, f"{where}: {bad}"


# ---- the widget, as a resident uses it -------------------------------------------------------
def open_widget(page_at, base: str, width: int = 1280):
    """/demo at this width, with the widget's panel open."""
    page = page_at(width)
    page.goto(base + "/demo")
    page.get_by_role("button", name="政策咨询", exact=True).click()
    return page


def ask(page, question: str) -> None:
    page.get_by_label("您的问题").fill(question)
    page.get_by_label("您的问题").press("Enter")


def finished_answer(page):
    """The answer to the last question, once it is complete (it then carries its status, or failed)."""
    asked = page.locator(".msg.user").count()
    finished = page.locator(".msg.bot[data-status], .msg.bot.failed").nth(asked - 1)
    finished.wait_for()
    return finished
