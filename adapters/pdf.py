"""HTML to PDF with headless Chromium's print-to-PDF (A4 and margins come from the page's CSS).

The page is written to a private temporary folder and printed from a file URL with network
access off, so a report never fetches anything. Chromium's own failures become PdfFailed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field


class PdfSettings(BaseModel):
    chromium: str = Field("chromium", description="Chromium binary (a name on PATH or a path).")
    timeout_s: float = Field(90.0, gt=0, description="Longest a single print may take.")


class PdfFailed(RuntimeError):
    """Chromium is missing or could not print; the message says which and how to fix it."""


def html_to_pdf(page: str, settings: PdfSettings) -> bytes:
    binary = shutil.which(settings.chromium)
    if binary is None:
        raise PdfFailed(f"{settings.chromium!r} not found: install Chromium "
                        "(scripts/install-system-deps) or set the chromium path")
    with tempfile.TemporaryDirectory(prefix="loopmeter-pdf-") as work:
        folder = Path(work)
        source, target = folder / "report.html", folder / "report.pdf"
        source.write_text(page, encoding="utf-8")
        command = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-background-networking", "--disable-component-update",
                   "--disable-sync", "--disable-extensions", "--no-pdf-header-footer",
                   "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
                   f"--user-data-dir={folder / 'profile'}", f"--print-to-pdf={target}",
                   source.as_uri()]
        try:
            result = subprocess.run(command, capture_output=True, text=True,
                                    timeout=settings.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise PdfFailed(f"Chromium could not print the report: {error}") from error
        if result.returncode != 0 or not target.is_file():
            raise PdfFailed(f"Chromium could not print the report (exit {result.returncode}): "
                            f"{result.stderr.strip()[-300:]}")
        return target.read_bytes()
