"""What the browser tests share: find Chromium, drive it offline, serve a folder on loopback.

The browser is the system's Chromium (Debian's ``chromium``; ``.ci/run`` installs it) driven by
Playwright for Python, never a browser that Playwright downloads. Every request that would
leave the machine is blocked and recorded, so a page that needs the network fails its test
instead of silently loading a CDN. ``scripts/screenshots.py`` uses the same helpers.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest

from autograder.course import venv_first_path

#: Where Chromium is looked for, in order; DESCENT_CHROMIUM names another executable.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

#: Offline-safe flags: without the background-networking ones Chromium phones home at start,
#: which a closed network answers with a burst of refused connections. (Playwright adds
#: --headless, --no-sandbox and a fresh --user-data-dir itself.)
CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
REPO = Path(__file__).resolve().parents[1]


def find_chromium() -> str | None:
    """Path of a Chromium executable, or None."""
    named = os.environ.get("DESCENT_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    for name in CHROMIUM_NAMES:
        if found := shutil.which(name):
            return found
    return None


def unavailable(message: str):
    """Skip the test, but fail under CI (CI set, non-empty): CI installs what the test needs."""
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator:
    """A headless Chromium (a Playwright Browser); skips or fails where there is none."""
    executable = find_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None:
        unavailable("Playwright for Python is not installed (requirements-dev.txt)")
    if executable is None:
        unavailable(
            "no Chromium found (looked for " + ", ".join(CHROMIUM_NAMES) + " and "
            "$DESCENT_CHROMIUM); on Debian or Ubuntu: apt-get install chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's signature)
        pass


@contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class Traffic:
    """What went wrong in a browser context: console errors, uncaught exceptions, failed and
    blocked requests. Each entry is a short line, ready for an assertion message."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {e}" for e in self.console_errors),
            *(f"uncaught exception: {e}" for e in self.page_errors),
            *(f"failed request: {e}" for e in self.failed),
            *(f"request leaving the machine (blocked): {e}" for e in self.blocked),
        ]

    def clear(self) -> None:
        for entries in (self.console_errors, self.page_errors, self.failed, self.blocked):
            entries.clear()


def offline_context(browser, **options):
    """A new browser context that lets only loopback requests through; returns
    ``(context, traffic)``, where ``traffic`` records every problem seen by its pages."""
    context = browser.new_context(**options)
    traffic = Traffic()

    def route(route):
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK:
            traffic.blocked.append(url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    def on_console(message):
        if message.type == "error":
            where = message.location.get("url", "")
            traffic.console_errors.append(f"{message.text} ({where})")

    def on_response(response):
        if response.status >= 400:
            traffic.failed.append(f"{response.status} {response.url}")

    def on_failed(request):
        if request.url not in traffic.blocked:
            traffic.failed.append(f"{request.failure} {request.url}")

    context.route("**/*", route)
    context.on("console", on_console)
    context.on("weberror", lambda error: traffic.page_errors.append(str(error.error)))
    context.on("response", on_response)
    context.on("requestfailed", on_failed)
    return context, traffic


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_lab(root: Path, scratch: Path, *, timeout: float = 120) -> Iterator[tuple[str, str]]:
    """JupyterLab on 127.0.0.1 serving ``root``, as `make lab` configures it (the course's
    settings from lab-overrides.json: book pages open as notebooks), with a token; its config,
    data, runtime and workspace folders live in ``scratch`` so nothing of the user's leaks in
    and nothing is written outside. Yields ``(base_url, token)``."""
    token = secrets.token_hex(16)
    port = free_port()
    settings = scratch / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO / "lab-overrides.json", settings / "overrides.json")
    env = {
        **os.environ,
        "PATH": venv_first_path(),
        "JUPYTER_CONFIG_DIR": str(scratch / "config"),
        "JUPYTER_DATA_DIR": str(scratch / "data"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        "IPYTHONDIR": str(scratch / "ipython"),
    }
    env.pop("DESCENT_STATIC", None)  # live widgets in the lab, never static twins
    command = [
        str(Path(sys.executable).parent / "jupyter-lab"), "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.app_settings_dir={settings}",
        f"--LabApp.workspaces_dir={scratch / 'workspaces'}",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI runs as root
    ]
    base_url = f"http://127.0.0.1:{port}/"
    with running_server(command, f"{base_url}api/status?token={token}",
                        scratch / "jupyterlab.log", timeout, cwd=root, env=env):
        yield base_url, token


@contextmanager
def running_server(command: list[str], ready_url: str, log_path: Path, timeout: float,
                   **popen) -> Iterator[subprocess.Popen]:
    """Start ``command`` (its output to ``log_path``), wait until ``ready_url`` answers 200;
    stop it afterwards (terminate, then kill). Fails with the log's end if it never answers."""
    log = open(log_path, "w")  # noqa: SIM115  (closed below)
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **popen)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urlopen(ready_url, timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{Path(command[-1]).name} did not start:\n"
                                   + log_path.read_text()[-4000:])
            time.sleep(0.5)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


# The notebook on screen (JupyterLab keeps other open notebooks in the page, hidden).
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"

# Run All has finished: the kernel is idle and no cell on screen waits ([ ]) or runs ([*]).
# (JupyterLab renders only the cells near the viewport; a saved file tells about the rest.)
RUN_ALL_DONE = f"""() => {{
  const panel = document.querySelector('{PANEL}');
  const idle = panel.querySelector(".jp-Notebook-ExecutionIndicator[data-status='idle']");
  const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
  return idle && prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}}"""


def open_notebook(context, url: str, timeout: float = 90_000):
    """Open a notebook in a new tab of ``context`` and wait for its kernel; returns the tab."""
    tab = context.new_page()
    tab.goto(url)
    tab.locator(f"{PANEL} .jp-Notebook .jp-Cell").first.wait_for(timeout=timeout)
    # The kernel is up when the status bar says "Python 3 (ipykernel) | Idle" (the toolbar's
    # indicator says idle while the kernel still initializes, and cells run then are lost).
    tab.locator("#jp-main-statusbar", has_text=re.compile(r"\|\s*Idle")).wait_for(timeout=timeout)
    # Focus the notebook, as a reader's click does: the Run menu acts on it then.
    tab.locator(f"{PANEL} .jp-Cell .jp-InputPrompt").first.click()
    return tab


def run_all(tab, timeout: float = 180_000) -> None:
    """Run > Run All Cells, as a student does, and wait until it is done."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    tab.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    tab.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    try:
        tab.wait_for_function(RUN_ALL_DONE, timeout=timeout)
    except PlaywrightTimeout:
        shot = Path(tempfile.mkdtemp(prefix="descent-lab-")) / "run-all.png"
        tab.screenshot(path=shot)
        raise AssertionError(
            f"Run All did not finish in {timeout / 1000:.0f} s; the lab looked like {shot}"
        ) from None
