#!/usr/bin/env python3
"""The Label Studio export imports into a real Label Studio (label-studio from PyPI, SQLite, on loopback).

A short line feeds a collector; `collect export --format labelstudio` writes tasks.json and labeling_config.xml;
a Label Studio server started here makes a project with that labeling config, connects the export folder as
local-files storage, imports the tasks through its API, and the predictions read back are the same boxes
(percent of the original size), labels, scores and model version; an imported task's image is served.

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
    subprocess.run([BINARY, "collect", "export", str(tmp / "ds"), "--format", "labelstudio", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
    return out


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
