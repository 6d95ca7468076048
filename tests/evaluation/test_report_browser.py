"""The report page in a real headless Chromium: it loads cleanly and its charts render at 1280 px.

The page is served from a loopback HTTP server with a probe page beside it
that loads it in a 1280-pixel frame and writes what it measured (each chart's
size, its bars, the page's width) into its own DOM, which ``--dump-dom``
prints. Console messages are read from Chromium's log on stderr.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import struct
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import BaseModel

from promptkit import Example, Task
from promptkit.evaluation.comparison import Configuration, ItemRun, LabelledItem, evaluate
from promptkit.evaluation.report import html_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason="chromium is not installed (.ci/run installs Debian's: apt-get install chromium)",
    ),
]


class Attributes(BaseModel):
    colour: str | None = None
    sleeve: str | None = None
    type: str | None = None


TASK = Task(
    name="apparel-mini",
    instructions="Find the attributes.",
    input_model="search",
    output_model=Attributes,
    examples=[Example("red top", {"colour": "red", "type": "top"})],
)
ITEMS = [
    LabelledItem(TASK.make_input("red top"), Attributes(colour="red", type="top")),
    LabelledItem(TASK.make_input("gifts for dad"), Attributes()),
    LabelledItem(TASK.make_input("blue <b>jeans</b>"), Attributes(colour="blue", type="jeans")),
]
# Three configurations: zero-shot invents colours and sleeves, the others do better; no sleeve
# is in the gold, so its precision and recall are n/a where nothing was predicted.
REPLIES = [
    Attributes(colour="red", sleeve="short sleeve"),
    Attributes(colour="black"),
    None,
    Attributes(colour="red", type="top"),
    Attributes(),
    Attributes(colour="blue"),
    Attributes(colour="red", type="top"),
    Attributes(),
    Attributes(colour="blue", type="jeans"),
]

PROBE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<pre id="out">pending</pre>
<script>
var frame = document.createElement("iframe");
frame.style.width = "1280px";
frame.style.height = "3000px";
frame.addEventListener("load", function () {
  var doc = frame.contentDocument;
  var charts = Array.from(doc.querySelectorAll("svg.chart")).map(function (svg) {
    var box = svg.getBoundingClientRect();
    var bars = Array.from(svg.querySelectorAll("rect")).filter(function (bar) {
      var r = bar.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    });
    return {width: box.width, height: box.height, bars: bars.length};
  });
  document.getElementById("out").textContent = JSON.stringify({
    title: doc.title,
    charts: charts,
    scrollWidth: doc.documentElement.scrollWidth,
    headings: Array.from(doc.querySelectorAll("h3")).map(function (h) { return h.textContent; })
  });
});
frame.src = "report.html";
document.body.appendChild(frame);
</script></body></html>
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    replies = iter(ItemRun(reply) for reply in REPLIES)
    comparison = evaluate(
        TASK,
        ITEMS,
        "backend",
        [Configuration(0), Configuration(1), Configuration(1, "similar")],
        runner=lambda *_: next(replies),
        data="mini.jsonl",
        metadata={"model": "test-model", "seed": 0, "selector": "first"},
    )
    (tmp_path / "report.html").write_text(html_report(comparison), encoding="utf-8")
    (tmp_path / "probe.html").write_text(PROBE, encoding="utf-8")
    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_page_loads_without_console_errors_and_its_charts_render(
    served: str, tmp_path: Path
) -> None:
    result = chromium(tmp_path, "--dump-dom", f"{served}/probe.html")
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    found = re.search(r'<pre id="out">(.*?)</pre>', result.stdout, re.S)
    assert found is not None, result.stdout[-2000:]
    measured = json.loads(found.group(1).replace("&quot;", '"'))
    assert measured["title"] == "promptkit eval: apparel-mini"
    # One chart per field, every configuration on it, readable at 1280 px, no sideways scroll.
    assert len(measured["charts"]) == 3
    for chart in measured["charts"]:
        assert chart["width"] >= 400
        assert chart["height"] >= 150
        assert chart["bars"] > 0
    colour = measured["charts"][0]
    assert colour["bars"] == 3 * 5  # five rates for each of three configurations
    assert measured["scrollWidth"] <= 1280
    assert {"colour", "sleeve", "type"} <= set(measured["headings"])


def test_a_screenshot_at_1280_pixels(served: str, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    result = chromium(tmp_path, f"--screenshot={shot}", f"{served}/report.html")
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
