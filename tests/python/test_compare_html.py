"""`sightline compare` as a person sees it: parts-v1 and parts-v2 recorded on the same synthetic videos (a lighting
drift on one camera), compared into JSON, a JPEG contact sheet and a self-contained HTML page that headless Chromium
renders; the page's tables show the JSON's figures, the sheet is a real JPEG of the expected size inside it, and the
screenshot is taken; with --gt, each side's AP50 is what `sightline eval` gives its recording. Usage: test_compare_html.py SIGHTLINE [SCREENSHOT.png]"""
import base64
import json
import re
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from support import FAILURES, check, chromium, record_scene

ROOT = Path(__file__).resolve().parents[2]


def jpeg_size(data):
    """(width, height) from a baseline/progressive JPEG's SOF marker."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    return None


def main(binary, shot=None):
    browser = chromium()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        scenario = "cameras:\n  cam2:\n    lighting_drift: {start: 0, ramp: 0, gain: 0.6, color_temperature: 4300}\n"
        recs = {}
        for v in ("v1", "v2"):
            (d / v).mkdir()
            recs[v] = record_scene(binary, ROOT / f"models/parts-{v}/model.yaml", d / v, scenario, 2, 3, 5, 10)
        videos = d / "v1" / "s"
        out = subprocess.run([binary, "--log-level", "warn", "compare", str(recs["v1"]), str(recs["v2"]), "--videos",
                              str(videos), "--json", str(d / "c.json"), "--html", str(d / "c.html"), "--sheet",
                              str(d / "sheet.jpg"), "--keep", "6", "--guardrails", "--block-frames", "1"],
                             capture_output=True, text=True)
        check(out.returncode == 0, f"compare ran (exit {out.returncode}: {out.stderr.strip()[-300:]})")
        c = json.loads((d / "c.json").read_text())
        check(c["a"]["model"].startswith("parts-v1") and c["b"]["model"].startswith("parts-v2"), "the two models")
        check(c["all"]["frames"] == 60, f"every frame compared ({c['all']['frames']} of 2 cameras x 30)")
        total = sum(c["all"][k] for k in ("both", "class_changed", "only_a", "only_b"))
        check(total > 0 and abs(c["all"]["agreement"] - c["all"]["both"] / total) < 1e-12, "agreement = both / all")
        check(c["all"]["frames_disagreeing"] > 0 and len(c["most_different"]) == 6,
              f"the versions differ somewhere ({c['all']['frames_disagreeing']} frames), 6 kept")
        sheet = (d / "sheet.jpg").read_bytes()
        rows = (len(c["most_different"]) + 1) // 2
        size = jpeg_size(sheet)
        check(sheet[:2] == b"\xff\xd8" and size is not None and size[0] == 2 * 484 and size[1] == rows * (360 + 4),
              f"the sheet is a JPEG of 2 x {rows} tiles of 480x360 ({size})")
        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={d / 'profile'}"]
        dom = subprocess.run([browser, *flags, "--dump-dom", (d / "c.html").as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        check("<h1>Two versions on the same frames</h1>" in dom, "Chromium rendered the page")
        all_row = re.search(r"<tr><td>all</td><td>(\d+)</td><td>[^<]*</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>"
                            r"<td>(\d+)</td>", dom)
        want = [c["all"][k] for k in ("frames", "both", "class_changed", "only_a", "only_b")]
        check(all_row is not None and [int(x) for x in all_row.groups()] == want,
              f"the page's 'all' row shows the JSON's figures {want}")
        for cam in ("cam1", "cam2"):
            check(f"<tr><td>{cam}</td><td>30</td>" in dom, f"{cam}'s row, 30 frames")
        for cam in ("cam1", "cam2"):
            r = c["rollouts"][cam]
            check(f"<tr><td>{cam}</td><td>{r['decision']}</td><td>{r['decided_at_frame']}</td><td>30</td>" in dom,
                  f"{cam}'s guardrail decision on the page ({r['decision']} at frame {r['decided_at_frame']})")
        img = re.search(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"', dom)
        check(img is not None and base64.b64decode(img.group(1)) == sheet, "the sheet is embedded in the page")
        png = Path(shot) if shot else d / "page.png"
        subprocess.run([browser, *flags, f"--screenshot={png}", "--window-size=1100,1800", (d / "c.html").as_uri()],
                       capture_output=True, timeout=120)
        check(png.exists() and png.stat().st_size > 50000, f"screenshot taken ({png})")
        # the same sheet as a PNG (lossless): its size from the IHDR chunk, and the page embeds it as image/png
        out = subprocess.run([binary, "--log-level", "warn", "compare", str(recs["v1"]), str(recs["v2"]), "--videos",
                              str(videos), "--keep", "6", "--sheet", str(d / "sheet.png"), "--html",
                              str(d / "p.html")], capture_output=True, text=True)
        sheet_png = (d / "sheet.png").read_bytes() if (d / "sheet.png").exists() else b""
        png_size = struct.unpack(">II", sheet_png[16:24]) if len(sheet_png) > 24 else None
        check(out.returncode == 0 and sheet_png[:8] == b"\x89PNG\r\n\x1a\n" and png_size == size,
              f"--sheet sheet.png writes a PNG of the JPEG's size ({png_size} against {size})")
        png_page = (d / "p.html").read_text() if (d / "p.html").exists() else ""
        img = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', png_page)
        check(img is not None and base64.b64decode(img.group(1)) == sheet_png, "the PNG sheet is embedded in the page")
        # with ground truth: b against a on it as `sightline eval --compare` computes it, in the text, JSON and page
        gt = videos / "cam2.json"
        out = subprocess.run([binary, "--log-level", "warn", "compare", str(recs["v1"]), str(recs["v2"]), "--gt",
                              str(gt), "--bootstrap", "50", "--json", str(d / "g.json"), "--html", str(d / "g.html")],
                             capture_output=True, text=True)
        check(out.returncode == 0 and "against the ground truth" in out.stdout and "AP50" in out.stdout,
              f"compare --gt prints the paired comparison (exit {out.returncode}: {out.stderr.strip()[-300:]})")
        g = json.loads((d / "g.json").read_text()) if (d / "g.json").exists() else {}
        ev = {}
        for v in ("v1", "v2"):
            e = subprocess.run([binary, "--log-level", "warn", "eval", "--gt", str(gt), "--dt", str(recs[v]),
                                "--json", "-", "--coco-only"], capture_output=True, text=True)
            ev[v] = json.loads(e.stdout)["coco"]["AP50"] if e.returncode == 0 else None
        m = g.get("ground_truth", {}).get("metrics", {}).get("AP50", {})
        check(ev["v1"] is not None and abs(m.get("a", -9) - ev["v1"]) < 1e-12 and abs(m.get("b", -9) - ev["v2"]) < 1e-12,
              f"AP50 of a and b as `sightline eval` gives them for each recording ({m} against {ev})")
        page = subprocess.run([browser, *flags, "--dump-dom", (d / "g.html").as_uri()], capture_output=True,
                              text=True, timeout=120).stdout
        check("<h2>Against the ground truth</h2>" in page and f"<td>AP50</td><td>{m.get('a', 0):.3f}</td>" in page,
              "the page shows the comparison against the ground truth")
        bad = subprocess.run([binary, "compare", str(recs["v1"]), str(recs["v2"]), "--videos", str(d / "nowhere"),
                              "--sheet", str(d / "x.jpg")], capture_output=True, text=True)
        check(bad.returncode != 0 and "nowhere" in bad.stderr, f"a missing video is named ({bad.stderr.strip()})")
    print(f"{len(FAILURES)} failed" if FAILURES else "all passed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main(*sys.argv[1:])
