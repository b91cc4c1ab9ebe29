"""A real fault-injecting reverse proxy (mitmproxy's `mitmdump`) in front of an application.

The browser talks to the proxy's port as if it were the application (the Host header is kept, so
the application's CSRF and origin checks see the address the browser uses); `faults_addon.py`
answers some requests itself, delays others, or swallows a write behind a fake redirect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.realapps.harness import install, process

MITMPROXY = ["mitmproxy==11.0.2"]
ADDON = Path(__file__).with_name("faults_addon.py")


@dataclass
class FaultProxy:
    server: process.Server
    rules_file: Path
    log_file: Path

    @property
    def url(self) -> str:
        return self.server.url

    def set_rules(self, rules: list[dict[str, Any]]) -> None:
        """Replace the rules (the proxy reads them again before the next request)."""
        tmp = self.rules_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(rules))
        tmp.replace(self.rules_file)

    def log(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]

    def reached_app(self, method: str, path_prefix: str) -> int:
        """How many `method` requests under `path_prefix` the application itself received."""
        return sum(
            1
            for entry in self.log()
            if entry["method"] == method
            and entry["path"].startswith(path_prefix)
            and entry["fault"] in ("forwarded", "delayed")
        )

    def stop(self) -> None:
        self.server.stop()


def install_mitmproxy() -> Path:
    return install.pip_env("mitmproxy", MITMPROXY)


def start_proxy(upstream: str, workdir: Path, *, port: int | None = None) -> FaultProxy:
    """mitmdump in reverse mode in front of `upstream` (http://127.0.0.1:PORT)."""
    env_dir = install_mitmproxy()
    workdir.mkdir(parents=True, exist_ok=True)
    rules = workdir / "faults.json"
    rules.write_text("[]")
    log = workdir / "requests.jsonl"
    port = port or process.free_port()
    argv = [
        str(env_dir / "bin" / "mitmdump"),
        "--mode",
        f"reverse:{upstream}",
        "--listen-host",
        "127.0.0.1",
        "--listen-port",
        str(port),
        "--set",
        "keep_host_header=true",
        "--set",
        f"confdir={workdir / 'mitmproxy'}",
        "-s",
        str(ADDON),
        "--set",
        f"faults_file={rules}",
        "--set",
        f"faults_log={log}",
        "--quiet",
    ]
    server = process.start("mitmproxy", argv, port=port, log=workdir / "mitmdump.log", timeout=60)
    return FaultProxy(server, rules, log)
