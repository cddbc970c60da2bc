"""Render a refine HTML report in headless Chromium and check it as a user would see it.

    python scripts/render_report.py report.html                       # check: exit 1 on a JS error or a missing plot
    python scripts/render_report.py report.html --screenshot docs/report.png --width 1280 --height 2000

It loads the page in Debian's ``chromium`` (or ``chromium-browser``,
``google-chrome``; ``$CHROMIUM`` wins), waits for plotly to draw (virtual
time), dumps the DOM and checks that the page reached
``data-refine-report="ready"``, that no JavaScript error was caught (the page
lists them in ``#refine-report-errors``; Chromium's console errors on stderr
count too), and that every plot has an SVG. The test suite uses
:func:`render` (tests/test_report.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)
# Chromium's own chatter on stderr that is no page error.
_CONSOLE_ERROR = re.compile(r"CONSOLE\(\d+\)\].*|Uncaught .*|ERROR:CONSOLE.*", re.I)


def find_chromium() -> str | None:
    """The Chromium executable: ``$CHROMIUM``, else the first on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((p for p in map(shutil.which, _BROWSERS) if p), None)


@dataclass
class Rendered:
    """What the browser saw."""

    dom: str
    status: str | None
    plots_expected: int
    plots_drawn: int
    js_plotly_plots: int
    main_svgs: int
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        out = []
        if self.status != "ready":
            out.append(f"the page did not report ready (data-refine-report={self.status!r})")
        if self.plots_expected == 0:
            out.append("the page holds no plot")
        if self.js_plotly_plots != self.plots_expected:
            out.append(f"{self.js_plotly_plots} plotly plots drawn, {self.plots_expected} expected")
        if self.main_svgs < self.plots_expected:
            out.append(f"only {self.main_svgs} plot SVGs for {self.plots_expected} plots")
        out += [f"JavaScript error: {e}" for e in self.page_errors]
        out += [f"console error: {e}" for e in self.console_errors]
        return out


def _attr(dom: str, name: str) -> str | None:
    m = re.search(r"<body[^>]*\s" + re.escape(name) + r"=\"([^\"]*)\"", dom)
    return m.group(1) if m else None


def render(
    page: str | os.PathLike,
    *,
    screenshot: str | os.PathLike | None = None,
    width: int = 1280,
    height: int = 2200,
    budget_ms: int = 10000,
    chromium: str | None = None,
) -> Rendered:
    """Load ``page`` in headless Chromium; return the dumped DOM and the checks' raw numbers.

    Raises:
        FileNotFoundError: No Chromium found.
        RuntimeError: Chromium failed.
    """
    exe = chromium or find_chromium()
    if exe is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium; or set $CHROMIUM)")
    url = Path(page).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="refine-chromium-") as profile:
        base = [
            exe,
            *_FLAGS,
            f"--user-data-dir={profile}",
            f"--virtual-time-budget={budget_ms}",
            f"--window-size={width},{height}",
        ]
        proc = subprocess.run(
            [*base, "--enable-logging=stderr", "--v=0", "--dump-dom", url], capture_output=True, text=True, timeout=180
        )
        if proc.returncode != 0 or "<body" not in proc.stdout:
            raise RuntimeError(f"chromium failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
        if screenshot is not None:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            shot = subprocess.run(
                [*base, f"--screenshot={Path(screenshot).resolve()}", url], capture_output=True, text=True, timeout=180
            )
            if shot.returncode != 0 or not Path(screenshot).exists():
                raise RuntimeError(f"chromium screenshot failed (exit {shot.returncode}): {shot.stderr[-2000:]}")
    dom = proc.stdout
    errors_box = re.search(r'<ul id="refine-report-errors"[^>]*>(.*?)</ul>', dom, re.S)
    page_errors = (
        re.findall(r"<li>(.*?)</li>", errors_box.group(1), re.S) if errors_box else ["#refine-report-errors is missing"]
    )
    console = [line.strip() for line in proc.stderr.splitlines() if _CONSOLE_ERROR.search(line)]
    return Rendered(
        dom=dom,
        status=_attr(dom, "data-refine-report"),
        plots_expected=int(_attr(dom, "data-refine-expected") or 0),
        plots_drawn=int(_attr(dom, "data-refine-plots") or 0),
        js_plotly_plots=len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom)),
        main_svgs=len(re.findall(r'<svg[^>]*class="main-svg"', dom)),
        page_errors=page_errors,
        console_errors=console,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("page", help="the report's HTML file")
    parser.add_argument("--screenshot", help="also write a PNG screenshot here")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=2200)
    args = parser.parse_args(argv)
    try:
        seen = render(args.page, screenshot=args.screenshot, width=args.width, height=args.height)
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{args.page}: {seen.js_plotly_plots} plots drawn of {seen.plots_expected}, {seen.main_svgs} SVGs, "
        f"status {seen.status}"
    )
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    for p in seen.problems:
        print(f"problem: {p}", file=sys.stderr)
    return 1 if seen.problems else 0


if __name__ == "__main__":
    sys.exit(main())
