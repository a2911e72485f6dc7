#!/usr/bin/env python3
"""The Label Studio export imports into a real Label Studio (label-studio from PyPI, SQLite, on loopback), and its
labels come back (issue 27, item 3).

A short line feeds a collector; `collect export --format labelstudio --extra-classes gear` writes tasks.json and
labeling_config.xml; a Label Studio server started here makes a project with that labeling config, connects the
export folder as local-files storage, imports the tasks through its API, and the predictions read back are the same
boxes (percent of the original size), labels, scores and model version; an imported task's image is served.
Then a labeler annotates three tasks through the API (one box of the model's class, one of the extra class `gear`,
one "nothing here"), skips a fourth, the project is exported as Label Studio's JSON, `collect import` attaches
the labels to their samples, and `collect snapshot` writes them as COCO in the samples' pixels with the labeler's
name; a second snapshot after a relabel names the first as its parent.

Usage: test_collect_labelstudio.py SIGHTLINE_BINARY MODEL_YAML LABEL_STUDIO_EXECUTABLE
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from support import FAILURES, check, free_port

BINARY, MODEL, LABEL_STUDIO = sys.argv[1], str(Path(sys.argv[2]).resolve()), sys.argv[3]
TOKEN = "sightline-test-token-0123456789abcdef"


def api(base, method, path, body=None, raw=False):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        payload = r.read()
        return payload if raw else json.loads(payload or b"null")


def make_export(tmp):
    scene = tmp / "scene"
    subprocess.run([BINARY, "--log-level", "warn", "synth", "--out", str(scene), "--cameras", "1", "--seconds", "4",
                    "--seed", "9"], check=True)
    port = free_port()
    (tmp / "run.yaml").write_text(
        f"cameras:\n  - {{id: cam1, url: {scene / 'cam1.mp4'}}}\nmodel: {MODEL}\n"
        f"publish:\n  predictions: tcp://127.0.0.1:*\n  samples: tcp://127.0.0.1:{port}\n"
        "sampling:\n  window_s: 0.5\n  max_per_window: 1\n  strategies:\n    - {name: doubt, type: uncertainty, min: 0}\n")
    c = subprocess.Popen([BINARY, "--log-level", "warn", "collect", "--connect", f"tcp://127.0.0.1:{port}", "--out",
                          str(tmp / "ds"), "--idle-exit", "4"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    subprocess.run([BINARY, "--log-level", "warn", "run", str(tmp / "run.yaml")], check=True)
    c.wait(timeout=60)
    out = tmp / "export"
    subprocess.run([BINARY, "collect", "export", str(tmp / "ds"), "--format", "labelstudio", "--out", str(out),
                    "--extra-classes", "gear"], check=True, stdout=subprocess.DEVNULL)
    return out


def rect(x, y, w, h, label, task):
    return {"type": "rectanglelabels", "from_name": "label", "to_name": "image", "original_width": task["w"],
            "original_height": task["h"], "image_rotation": 0,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [label]}}


def labels_come_back(base, pid, back, tmp):
    """A labeler's work through the API, exported, imported into the dataset and frozen as snapshots."""
    config = api(base, "GET", f"/api/projects/{pid}")["label_config"]
    check('value="gear"' in config, "the labeling config offers the extra class gear")
    me = api(base, "GET", "/api/current-user/whoami")
    ids = sorted(b["id"] for b in back)
    results = [r for b in back for p in b["predictions"] for r in p["result"]]
    size = {"w": results[0]["original_width"], "h": results[0]["original_height"]} if results else {"w": 0, "h": 0}
    t0, t1, t2, t3 = ids[:4]
    submitted = {t0: [rect(10, 20, 30, 40, "gear", size), rect(50, 10, 20, 20, "bolt", size)],
                 t1: [rect(5, 5, 10, 10, "gear", size)],
                 t2: []}
    for task_id, result in submitted.items():
        api(base, "POST", f"/api/tasks/{task_id}/annotations/", {"result": result, "lead_time": 3.5})
    api(base, "POST", f"/api/tasks/{t3}/annotations/", {"result": [], "was_cancelled": True})
    exported = api(base, "GET", f"/api/projects/{pid}/export?exportType=JSON", raw=True)
    export_file = tmp / "ls-export.json"
    export_file.write_bytes(exported)
    ds = tmp / "ds"
    r = subprocess.run([BINARY, "collect", "import", str(ds), "--from", "labelstudio", str(export_file)],
                       capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("3 samples labeled (3 boxes;"),
          f"collect import attaches the three labels: {r.stdout.strip()} {r.stderr.strip()[-300:]}")
    check("1 annotation(s) skipped" in r.stdout and "classes the model does not know: gear" in r.stdout,
          "the skipped task and the new class are reported")
    snap = tmp / "v1"
    r = subprocess.run([BINARY, "collect", "snapshot", str(ds), "--out", str(snap)], capture_output=True, text=True)
    check(r.returncode == 0, f"collect snapshot: {r.stdout.strip()} {r.stderr.strip()[-300:]}")
    coco = json.loads((snap / "annotations.json").read_text())
    manifest = json.loads((snap / "manifest.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    by_sample = {}
    for a in coco["annotations"]:
        by_sample.setdefault(a["image_id"], []).append(a)
    same = len(coco["images"]) == 3
    for img in coco["images"]:
        task = next(b for b in back if b["data"]["sample_id"] == img["sample_id"])
        want = sorted((round(v["value"]["x"] * img["width"] / 100, 2), round(v["value"]["y"] * img["height"] / 100, 2),
                       round(v["value"]["width"] * img["width"] / 100, 2),
                       round(v["value"]["height"] * img["height"] / 100, 2), v["value"]["rectanglelabels"][0])
                      for v in submitted.get(task["id"], []))
        got = sorted((round(a["bbox"][0], 2), round(a["bbox"][1], 2), round(a["bbox"][2], 2), round(a["bbox"][3], 2),
                      names[a["category_id"]]) for a in by_sample.get(img["id"], []))
        same &= want == got
    check(same, "the snapshot's COCO boxes are the labeler's, in the samples' pixels, with their classes (gear too)")
    labelers = {e["labeler"] for e in manifest["samples"]}
    # Label Studio's JSON export names an annotator by user id (its completed_by), not by email
    check(labelers == {f"labelstudio user {me['id']}"},
          f"each sample names its labeler ({labelers}: the API user, id {me['id']})")
    check(all(e["labeled_at"] for e in manifest["samples"]), "and when it was labeled")
    check(manifest["parent"] is None and manifest["hash"].startswith("sha256:"), "the first snapshot has no parent")
    # a relabel: the labeler changes a box; the next snapshot names the first, which is unchanged
    api(base, "POST", f"/api/tasks/{t2}/annotations/", {"result": [rect(1, 1, 5, 5, "gear", size)]})
    export_file.write_bytes(api(base, "GET", f"/api/projects/{pid}/export?exportType=JSON", raw=True))
    subprocess.run([BINARY, "collect", "import", str(ds), str(export_file)], check=True, capture_output=True)
    r = subprocess.run([BINARY, "collect", "snapshot", str(ds), "--out", str(tmp / "v2")], capture_output=True,
                       text=True)
    m2 = json.loads((tmp / "v2" / "manifest.json").read_text())
    check(r.returncode == 0 and m2["parent"]["hash"] == manifest["hash"] and m2["hash"] != manifest["hash"],
          "the second snapshot names the first as its parent")
    check(json.loads((snap / "manifest.json").read_text()) == manifest, "the first snapshot is unchanged")


def main():
    with tempfile.TemporaryDirectory(prefix="sightline-ls-") as t:
        tmp = Path(t)
        export = make_export(tmp)
        tasks = json.loads((export / "tasks.json").read_text())
        config = (export / "labeling_config.xml").read_text()
        check(len(tasks) >= 5, f"the export holds {len(tasks)} tasks")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = dict(os.environ, LABEL_STUDIO_BASE_DATA_DIR=str(tmp / "ls"), LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
                   LOCAL_FILES_SERVING_ENABLED="true", LOCAL_FILES_DOCUMENT_ROOT=str(export),
                   LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true")
        log = open(tmp / "ls.log", "w")
        server = subprocess.Popen([LABEL_STUDIO, "start", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
                                   "--username", "test@sightline.local", "--password", "sightline-pw",
                                   "--user-token", TOKEN], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            up = False
            for _ in range(600):
                try:
                    up = urllib.request.urlopen(base + "/health", timeout=2).status == 200
                except (urllib.error.URLError, ConnectionError, OSError):
                    pass
                if up or server.poll() is not None:
                    break
                time.sleep(0.5)
            check(up, "Label Studio answered /health")
            if not up:
                print((tmp / "ls.log").read_text()[-3000:])
                return 1
            project = api(base, "POST", "/api/projects", {"title": "sightline samples", "label_config": config})
            check("id" in project, f"a project made with the exported labeling config (id {project.get('id')})")
            pid = project["id"]
            storage = api(base, "POST", "/api/storages/localfiles",
                          {"project": pid, "path": str(export / "images"), "use_blob_urls": False,
                           "title": "sightline export"})
            check("id" in storage, "the export folder connected as local-files storage")
            imported = api(base, "POST", f"/api/projects/{pid}/import", tasks)
            check(imported.get("task_count") == len(tasks) and imported.get("prediction_count") == len(tasks),
                  f"imported through the API: {imported.get('task_count')} tasks, "
                  f"{imported.get('prediction_count')} predictions")
            back = api(base, "GET", f"/api/tasks?project={pid}&page_size=1000&fields=all")
            back = back["tasks"] if isinstance(back, dict) else back
            by_image = {b["data"]["image"]: b for b in back}
            same = len(by_image) == len(tasks)
            for task in tasks:
                b = by_image.get(task["data"]["image"])
                if not b or not b.get("predictions"):
                    same = False
                    continue
                want, got = task["predictions"][0], b["predictions"][0]
                same &= got["model_version"] == want["model_version"]
                same &= abs(got["score"] - want["score"]) < 1e-6
                wr = sorted(want["result"], key=lambda r: r["id"])
                gr = sorted(got["result"], key=lambda r: r["id"])
                same &= len(wr) == len(gr)
                for w, g in zip(wr, gr):
                    same &= g["value"]["rectanglelabels"] == w["value"]["rectanglelabels"]
                    same &= all(abs(g["value"][k] - w["value"][k]) < 1e-6 for k in ("x", "y", "width", "height"))
                    same &= abs(g["score"] - w["score"]) < 1e-6
            n_boxes = sum(len(t["predictions"][0]["result"]) for t in tasks)
            check(same, f"the predictions read back are the same {n_boxes} boxes, labels, scores and model version")
            image = api(base, "GET", tasks[0]["data"]["image"], raw=True)
            check(image[:2] == b"\xff\xd8", f"a task's image is served by Label Studio ({len(image)} bytes of JPEG)")
            labels_come_back(base, pid, back, tmp)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
    if FAILURES:
        print(f"{len(FAILURES)} failed")
        return 1
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
