"""The eval HTML report as a person sees it: rendered by headless Chromium (the real browser), its DOM read back and
a screenshot taken. The COCO table is in pycocotools' order, undefined metrics (-1) read "n/a", the TIDE section
says which AP it breaks down and draws its bars on an absolute dAP axis. Usage: test_eval_report_html.py SIGHTLINE
[SCREENSHOT.png]"""
import html
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from support import chromium

ORDER = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]


def main(binary, shot=None):
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    browser = chromium()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d), "--cameras", "1", "--seconds", "2",
                        "--set", "defaults.width=320", "--set", "defaults.height=240"], check=True)
        gt = json.loads((d / "cam1.json").read_text())
        # the ground truth as detections, every third box missed and a few shifted: a real-looking evaluation
        dets = []
        for i, a in enumerate(a for a in gt["annotations"] if not a["iscrowd"]):
            if i % 3 == 0:
                continue
            x, y, w, h = a["bbox"]
            dx = w * 0.6 if i % 7 == 0 else 0
            dets.append({"image_id": a["image_id"], "category_id": a["category_id"], "bbox": [x + dx, y, w, h],
                         "score": 0.5 + 0.4 * ((i * 37) % 100) / 100})
        (d / "dt.json").write_text(json.dumps(dets))
        out = d / "report.html"
        js = json.loads(subprocess.run([binary, "--log-level", "warn", "eval", "--gt", str(d / "cam1.json"), "--dt",
                                        str(d / "dt.json"), "--html", str(out), "--json", "-"],
                                       check=True, capture_output=True, text=True).stdout)
        undefined = [n for n in ORDER if js["coco"][n] is None]
        check(bool(undefined), f"the pair has undefined metrics to show ({undefined})")
        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={d / 'profile'}"]
        dom = subprocess.run([browser, *flags, "--dump-dom", out.as_uri()], capture_output=True, text=True,
                             timeout=120).stdout
        check("<h2>COCO metrics" in dom, "Chromium rendered the page")
        table = dom[dom.index("<h2>COCO metrics"):] if "<h2>COCO metrics" in dom else ""
        table = table[:table.find("</table>")]
        rows = re.findall(r"<tr><td>([A-Za-z0-9]+)</td><td>[^<]*</td><td>([^<]*)</td></tr>", table)
        check([r[0] for r in rows] == ORDER, f"COCO table in pycocotools' order: {[r[0] for r in rows]}")
        for name, value in rows:
            want = "n/a" if js["coco"][name] is None else f"{js['coco'][name]:.3f}"
            check(html.unescape(value) == want, f"{name} shows {want} (got {value})")
        check("TIDE's AP is AP50" in dom, "the TIDE section says which AP it breaks down")
        check(">dAP</text>" in dom and ">0.000</text>" in dom, "TIDE bars on a labelled absolute dAP axis")
        png = Path(shot) if shot else d / "report.png"
        subprocess.run([browser, *flags, f"--screenshot={png}", "--window-size=1200,2600", out.as_uri()],
                       capture_output=True, timeout=120)
        check(png.exists() and png.stat().st_size > 20000, f"screenshot taken ({png})")
    print(f"{len(failures)} failed" if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(*sys.argv[1:])
