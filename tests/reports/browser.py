"""Open a page in headless Chromium and watch it, in pure Python.

Chromium is driven over the DevTools protocol through ``--remote-debugging-pipe``: the
browser reads NUL-terminated JSON commands from file descriptor 3 and writes responses
and events to descriptor 4. No port, no websocket library, no Node.

:func:`load_page` loads a file, collects everything that would show as an error in the
console (``console.error``/``console.assert``, uncaught exceptions, browser log errors
such as a failed resource load) and every request for something other than a local file
or inline data, returns the rendered DOM, and can write a PNG screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BrowserError", "LoadedPage", "find_chromium", "load_page", "CHROMIUM_FLAGS"]

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--no-default-browser-check", "--mute-audio",
    "--hide-scrollbars", "--remote-debugging-pipe",
)
_LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

# Puts the two pipe ends on descriptors 3 and 4, then becomes Chromium. The ends arrive on
# descriptors >= 5 (see _high_fd), so the two dup2 calls cannot clobber each other.
_TRAMPOLINE = ("import os, sys\n"
               "r, w = int(sys.argv[1]), int(sys.argv[2])\n"
               "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
               "os.execv(sys.argv[3], sys.argv[3:])\n")


class BrowserError(Exception):
    """Chromium could not be started, died, or did not answer in time."""


def find_chromium() -> str | None:
    """``$CHROMIUM``, else the first of chromium, chromium-browser, google-chrome on ``PATH``."""
    configured = os.environ.get("CHROMIUM")
    if configured:
        return configured if Path(configured).exists() or shutil.which(configured) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class LoadedPage:
    """What happened while the page loaded."""

    url: str
    dom: str = ""
    console_errors: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log_errors: list[str] = field(default_factory=list)
    network: list[str] = field(default_factory=list)
    navigation_error: str | None = None

    def problems(self) -> list[str]:
        """Every console error, exception, log error, network request and navigation error."""
        out = [f"console error: {m}" for m in self.console_errors]
        out += [f"uncaught exception: {m}" for m in self.exceptions]
        out += [f"browser log error: {m}" for m in self.log_errors]
        out += [f"network request: {u}" for u in self.network]
        if self.navigation_error:
            out.append(f"navigation failed: {self.navigation_error}")
        return out


def _high_fd(fd: int) -> int:
    """``fd`` duplicated to a descriptor >= 5 (the original is closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 5)
    os.close(fd)
    return high


class _DevTools:
    """A DevTools protocol connection over the two pipes."""

    def __init__(self, process: subprocess.Popen, to_browser: int, from_browser: int, stderr_path: Path):
        self.process = process
        self.to_browser = to_browser
        self.from_browser = from_browser
        self.stderr_path = stderr_path
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self._next_id = 0

    def _stderr_tail(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self.from_browser], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed the DevTools pipe (exit {self.process.poll()}); "
                                   f"stderr: {self._stderr_tail()}")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        command: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self.to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, method: str, session: str | None, timeout: float = 30.0) -> dict[str, Any]:
        for event in self.events:
            if event["method"] == method and event.get("sessionId") == session:
                return event
        deadline = time.monotonic() + timeout
        while True:
            message = self._read(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method and message.get("sessionId") == session:
                    return message


def _launch(executable: str, profile: str) -> tuple[subprocess.Popen, int, int, Path]:
    command_read, command_write = os.pipe()
    result_read, result_write = os.pipe()
    command_read, result_write = _high_fd(command_read), _high_fd(result_write)
    stderr_path = Path(profile) / "chromium-stderr.log"
    argv = [sys.executable, "-c", _TRAMPOLINE, str(command_read), str(result_write),
            shutil.which(executable) or executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"]
    with open(stderr_path, "wb") as stderr:
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                       pass_fds=(command_read, result_write), start_new_session=True)
        finally:
            os.close(command_read)
            os.close(result_write)
    return process, command_write, result_read, stderr_path


def _collect(page: LoadedPage, events: list[dict[str, Any]], session: str) -> None:
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            page.console_errors.append(text)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            description = details.get("exception", {}).get("description") or details.get("text", "")
            page.exceptions.append(description)
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            page.log_errors.append(f"{entry.get('text')} {entry.get('url') or ''}".strip())
        elif method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if not url.startswith(_LOCAL_SCHEMES):
                page.network.append(url)


def load_page(path: str | os.PathLike, *, executable: str, width: int = 1280, height: int = 860,
              screenshot: str | os.PathLike | None = None, full_page: bool = False,
              timeout: float = 60.0) -> LoadedPage:
    """Load ``path`` from disk in headless Chromium; see the module docstring."""
    url = Path(path).resolve().as_uri()
    page = LoadedPage(url=url)
    with tempfile.TemporaryDirectory(prefix="bnconform-chromium-") as profile:
        try:
            process, to_browser, from_browser, stderr_path = _launch(executable, profile)
        except OSError as exc:
            raise BrowserError(f"cannot start {executable}: {exc}") from None
        devtools = _DevTools(process, to_browser, from_browser, stderr_path)
        try:
            target = devtools.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
            session = devtools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                devtools.send(f"{domain}.enable", session=session)
            devtools.send("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                          session=session)
            navigation = devtools.send("Page.navigate", {"url": url}, session=session, timeout=timeout)
            page.navigation_error = navigation.get("errorText") or None
            devtools.wait_for("Page.loadEventFired", session, timeout=timeout)
            # let late console messages and requests arrive: one more round trip after load
            page.dom = devtools.send("Runtime.evaluate", {
                "expression": "document.documentElement.outerHTML", "returnByValue": True},
                session=session)["result"].get("value", "")
            if screenshot is not None:
                params: dict[str, Any] = {"format": "png"}
                if full_page:
                    metrics = devtools.send("Page.getLayoutMetrics", session=session)
                    size = metrics.get("cssContentSize") or metrics["contentSize"]
                    params.update(captureBeyondViewport=True, clip={
                        "x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
                data = devtools.send("Page.captureScreenshot", params, session=session, timeout=timeout)["data"]
                Path(screenshot).write_bytes(base64.b64decode(data))
            _collect(page, devtools.events, session)
            try:
                devtools.send("Browser.close", timeout=10)
            except BrowserError:
                pass
        finally:
            os.close(to_browser)
            os.close(from_browser)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return page
