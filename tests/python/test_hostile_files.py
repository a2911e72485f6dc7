"""Issue 24: files from outside (a run config, a model.yaml, a dataset someone damaged or tampered with) get a clear
error naming them and the key or row, never an OK they do not deserve, never exit 3 (which is for bugs). Each case
below was accepted, or crashed, with the binaries of 7317145.

Usage: test_hostile_files.py SIGHTLINE MODEL_YAML
"""
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import zmq

from support import FAILURES, check

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True, errors="replace")


def last(text):
    lines = text.strip().splitlines()
    return lines[-1][-200:] if lines else ""


def test_run_check(d, scene):
    """run --check refuses what the line could not use."""
    video = scene / "cam1.mp4"
    base = {"url": str(video), "predictions": "tcp://127.0.0.1:*", "model": str(MODEL)}

    def config(name, url=None, predictions=None, model=None, extra=""):
        p = d / f"{name}.yaml"
        p.write_text(f"cameras: [{{id: cam1, url: '{url if url is not None else base['url']}'}}]\n"
                     f"model: '{model or base['model']}'\n"
                     f"publish: {{predictions: '{predictions or base['predictions']}'}}\n{extra}")
        return p

    r = run("run", config("good"), "--check")
    check(r.returncode == 0 and "OK" in r.stdout, f"run --check: a sound config is OK ({last(r.stderr)})")
    folder = d / "a-folder"
    folder.mkdir()
    (d / "data.json").write_text('{"images": []}')
    cases = {
        "port 99999": config("p1", predictions="tcp://127.0.0.1:99999"),
        "port -1": config("p2", predictions="tcp://127.0.0.1:-1"),
        "no port": config("p3", predictions="tcp://127.0.0.1"),
        "camera /dev/zero": config("u1", url="/dev/zero"),
        "camera a folder": config("u2", url=str(folder)),
        "camera ''": config("u3", url=""),
        "camera a .json": config("u4", url=str(d / "data.json")),
        "model a folder": config("m1", model=str(folder)),
    }
    dup = d / "dup.yaml"
    dup.write_text(f"cameras: [{{id: cam1, url: '{video}'}}]\nmodel: '{MODEL}'\n"
                   f"publish: {{predictions: 'tcp://127.0.0.1:*'}}\nthresholds: {{confidence: 0.3}}\n"
                   f"thresholds: {{confidence: 0.9}}\n")
    cases["a key given twice"] = dup
    dup2 = d / "dup2.yaml"
    dup2.write_text(f"cameras: [{{id: cam1, url: '{video}', id: cam2}}]\nmodel: '{MODEL}'\n"
                    f"publish: {{predictions: 'tcp://127.0.0.1:*'}}\n")
    cases["a camera key given twice"] = dup2
    for what, cfg in cases.items():
        r = run("run", cfg, "--check")
        check(r.returncode == 2 and str(cfg) in r.stderr or (r.returncode == 2 and "camera cam1" in r.stderr),
              f"run --check: {what}: refused with exit 2 naming the file or camera ({r.returncode}: {last(r.stderr)})")

    # model.yaml values that a forward pass does not catch
    text = MODEL.read_text().replace("file: model.onnx", f"file: {MODEL.parent / 'model.onnx'}")
    text = text.replace("torchscript: model.torchscript.pt", f"torchscript: {MODEL.parent / 'model.torchscript.pt'}")
    variants = {
        "scale .nan": text.replace("scale: 0.00392156862745098", "scale: .nan"),
        "scale .inf": text.replace("scale: 0.00392156862745098", "scale: .inf"),
        "scale 0": text.replace("scale: 0.00392156862745098", "scale: 0"),
        "scale -1": text.replace("scale: 0.00392156862745098", "scale: -1"),
        "mean [.nan, 0, 0]": text.replace("mean: [0.0, 0.0, 0.0]", "mean: [.nan, 0, 0]"),
        "std [.inf, 1, 1]": text.replace("std: [1.0, 1.0, 1.0]", "std: [.inf, 1, 1]"),
        "name twice": text + "name: other\n",
        "file a folder": text.replace(f"file: {MODEL.parent / 'model.onnx'}", f"file: {folder}"),
    }
    for what, body in variants.items():
        m = d / "model-variant.yaml"
        m.write_text(body)
        r = run("run", config("mv", model=str(m)), "--check")
        check(r.returncode == 2 and str(m) in r.stderr,
              f"run --check: model.yaml {what}: refused naming model.yaml ({r.returncode}: {last(r.stderr)})")


def sample_body(k, camera="x"):
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
    f32 = lambda *v: struct.pack(f"<{len(v)}f", *v)
    pred = {"v": 1, "type": "pred", "camera": camera, "seq": k, "pts_ns": k, "frame": k, "width": 8, "height": 8,
            "model": "hand@1", "n": 1, "boxes": f32(1, 1, 5, 5), "scores": f32(0.9),
            "classes": struct.pack("<i", 0), "flags": b"\0" * 4, "margins": f32(0.5),
            "entropies": f32(0.1), "t": {}, "meta": {"line": "L1"}, "frame_flags": 0, "uncertainty": 0.5}
    sample = {"v": 1, "type": "sample", "id": f"{camera}/1/{k}", "pred": pred, "classes": ["thing"],
              "candidates_n": 0, "candidate_boxes": b"", "candidate_scores": b"", "candidate_classes": b"",
              "strategy": "hand", "tags": ["t"], "reasons": ["by hand"], "threshold": 0.25, "selected_ns": 1,
              "jpeg": jpeg}
    return msgpack.packb(sample, use_bin_type=True)


def make_dataset(out, count):
    """A dataset of `count` samples, written by a real collector from a hand-made line (pyzmq ROUTER)."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    c = subprocess.Popen([BINARY, "--log-level", "warn", "collect", "--connect", f"tcp://127.0.0.1:{port}", "--out",
                          out, "--max-samples", str(count)], stdout=subprocess.DEVNULL)
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    assert poller.poll(10000), "the collector never said ready"
    ident, *_ = router.recv_multipart()
    for k in range(count):
        router.send_multipart([ident, b"sample/x", sample_body(k)])
        time.sleep(0.005)
    c.wait(timeout=60)
    router.close(0)
    ctx.term()
    db = sqlite3.connect(out / "dataset.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def test_dataset(d):
    ds = d / "ds"
    make_dataset(ds, 60)
    v = run("collect", "validate", ds)
    check(v.returncode == 0 and "60 samples, 0 problems" in v.stdout, f"dataset: a sound one validates ({last(v.stdout)})")

    # a row pointing its image outside the dataset: export must not copy /etc/hostname
    t = d / "tampered"
    shutil.copytree(ds, t, ignore=shutil.ignore_patterns("dataset.lock"))
    db = sqlite3.connect(t / "dataset.db")
    db.execute("UPDATE samples SET image = '/etc/hostname' WHERE seq = 3")
    db.execute("UPDATE samples SET image = 'images/../../outside.jpg' WHERE seq = 4")
    db.commit()
    db.close()
    e = run("collect", "export", t, "--format", "coco", "--out", d / "exp")
    copied = [p for p in (d / "exp").rglob("*") if p.name in ("hostname", "outside.jpg")] if (d / "exp").exists() else []
    check(e.returncode == 2 and "row 3" in e.stderr and not copied,
          f"dataset: a row whose image is /etc/hostname: export refuses naming the row, copies nothing "
          f"({e.returncode}: {last(e.stderr)})")
    v = run("collect", "validate", t)
    check(v.returncode == 1 and "row 3" in v.stdout and "row 4" in v.stdout,
          f"dataset: validate lists both tampered rows ({last(v.stdout)})")

    # damaged rows: text where JSON belongs, a NULL score (NaN as SQLite's JSON writes it), a NULL column
    t = d / "damaged"
    shutil.copytree(ds, t, ignore=shutil.ignore_patterns("dataset.lock"))
    db = sqlite3.connect(t / "dataset.db")
    db.execute("UPDATE samples SET meta = 'not json' WHERE seq = 2")
    db.execute("""UPDATE samples SET predictions = '[{"box":[1,1,5,5],"score":null,"label":"thing"}]' WHERE seq = 5""")
    db.execute("UPDATE samples SET tags = '[1, 2]' WHERE seq = 6")
    db.commit()
    db.close()
    for cmd in (["collect", "export", t, "--format", "yolo", "--out", d / "exp2"],
                ["collect", "merge", d / "merged", t]):
        r = run(*cmd)
        check(r.returncode == 2 and "row 2" in r.stderr and "meta" in r.stderr,
              f"dataset: damaged rows: {cmd[1]} refuses naming the row and column ({r.returncode}: {last(r.stderr)})")
    v = run("collect", "validate", t)
    check(v.returncode == 1 and all(f"row {k}" in v.stdout for k in (2, 5, 6)),
          f"dataset: validate lists each damaged row ({v.stdout.strip().splitlines()[-1] if v.stdout.strip() else ''})")

    # the file itself damaged: zeroed pages, and a corrupted freelist (pages freed by deleted rows)
    t = d / "zeroed"
    shutil.copytree(ds, t, ignore=shutil.ignore_patterns("dataset.lock"))
    raw = bytearray((t / "dataset.db").read_bytes())
    page = int.from_bytes(raw[16:18], "big") or 65536
    pages = len(raw) // page
    for p in range(pages // 2, pages // 2 + 2):
        raw[p * page:(p + 1) * page] = bytes(page)
    (t / "dataset.db").write_bytes(raw)
    v = run("collect", "validate", t)
    check(v.returncode != 0 and "0 problems" not in v.stdout and v.returncode != 3,
          f"dataset: zeroed pages: validate reports problems ({v.returncode}: {last(v.stdout) or last(v.stderr)})")
    t = d / "freelist"
    shutil.copytree(ds, t, ignore=shutil.ignore_patterns("dataset.lock"))
    db = sqlite3.connect(t / "dataset.db")
    db.execute("CREATE TABLE filler(x TEXT)")
    db.executemany("INSERT INTO filler VALUES (?)", [("y" * 3000,)] * 200)
    db.commit()
    db.execute("DELETE FROM filler")
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    raw = bytearray((t / "dataset.db").read_bytes())
    free_pages = int.from_bytes(raw[36:40], "big")
    raw[32:36] = (0x7FFFFF00).to_bytes(4, "big")  # the first freelist trunk page: far past the file
    (t / "dataset.db").write_bytes(raw)
    v = run("collect", "validate", t)
    check(free_pages > 0 and v.returncode == 1 and "integrity_check" in v.stdout,
          f"dataset: a corrupted freelist ({free_pages} free pages): validate reports SQLite's integrity check "
          f"({v.returncode}: {last(v.stdout)})")


def main(binary, model):
    global BINARY, MODEL
    BINARY, MODEL = binary, Path(model).resolve()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        scene = d / "scene"
        subprocess.run([BINARY, "--log-level", "warn", "synth", "--out", scene, "--cameras", "1", "--seconds", "2"],
                       check=True)
        test_run_check(d, scene)
        test_dataset(d)
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
