"""Issue 24: nothing from outside can crash or poison a sightline process. The built binaries get, with fixed seeds,
what an attacker (or a broken peer) would send: mutants of real messages (hostile.py) on a live monitor's socket,
in recordings for `monitor --replay` and `eval`, and as samples to a collector; then the findings of the issue one
by one (each of them crashed or misled the binaries of 7317145).

Usage: test_hostile_input.py SIGHTLINE MODEL_YAML [SEED]
"""
import json
import math
import os
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import msgpack
import zmq

from hostile import Bin, F32, Mutator, Pairs, Raw, floats, ints, pack, read_recording, write_recording
from support import FAILURES, check, free_port

CRASH = "a signal, or exit 3 (an unexpected failure)"


def survived(code):
    return code is not None and code >= 0 and code != 3


def rss_mb(pid):
    status = Path(f"/proc/{pid}/status")
    for line in (status.read_text().splitlines() if status.exists() else []):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0


def run(*args, **kw):
    return subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True, errors="replace", **kw)


def make_scene(d):
    scene = d / "scene"
    subprocess.run([BINARY, "--log-level", "warn", "synth", "--out", scene, "--cameras", "2", "--seconds", "6"],
                   check=True)
    cfg = d / "run.yaml"
    cfg.write_text(f"cameras:\n  - {{id: cam1, url: {scene / 'cam1.mp4'}}}\n  - {{id: cam2, url: {scene / 'cam2.mp4'}}}\n"
                   f"model: {MODEL}\npublish: {{predictions: 'tcp://127.0.0.1:*'}}\n")
    r = run("--log-level", "warn", "run", cfg, "--record", d / "run.slrec")
    assert r.returncode == 0, r.stderr
    return scene, d / "run.slrec"


def mutant_records(records, seed, count):
    """count (topic, body) records: mutants of the recording's messages, and a valid one now and then."""
    mu = Mutator(seed)
    out = []
    for i in range(count):
        topic, m = records[mu.rng.randrange(len(records))]
        out.append((topic, pack(m) if i % 5 == 0 else mu.body(m)))
    return out


def test_monitor_live(records, seed):
    """200 batches of 100 mutants on a live monitor's socket: it lives, counts them, keeps its memory bounded,
    serves /metrics a Prometheus scrape accepts, and ends cleanly on SIGTERM."""
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.SNDHWM, 100000)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    http = f"127.0.0.1:{free_port()}"
    mon = subprocess.Popen([BINARY, "monitor", "--connect", f"tcp://127.0.0.1:{port}", "--http", http],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    time.sleep(1.0)  # the subscription travels
    mu = Mutator(seed)
    alive_batches, peak = 0, 0.0
    for batch in range(200):
        for i in range(100):
            topic, m = records[mu.rng.randrange(len(records))]
            body = pack(m) if i % 10 == 0 else mu.body(m)
            pub.send_multipart([topic.encode(), body])
        time.sleep(0.02)
        if mon.poll() is not None:
            break
        alive_batches += 1
        peak = max(peak, rss_mb(mon.pid))
    time.sleep(0.5)
    check(mon.poll() is None and alive_batches == 200,
          f"monitor live: alive after {alive_batches} of 200 batches of 100 mutated messages (seed {seed})")
    # a stream of valid messages under 2000 made-up camera names with large meta: the states stay bounded
    for k in range(2000):
        topic, m = records[k % len(records)]
        if not topic.startswith("pred"):
            continue
        m = Pairs(m)
        m.set("camera", Raw(f"flood-{k}".encode()))
        m.set("meta", Pairs((f"key{j}", "v" * 1000) for j in range(60)))
        pub.send_multipart([f"pred/flood-{k}".encode(), pack(m)])
        if k % 100 == 0:
            time.sleep(0.02)
    time.sleep(1.0)
    peak = max(peak, rss_mb(mon.pid))
    # under AddressSanitizer (its shadow memory and a 256 MB quarantine of freed blocks) the bound is the
    # sanitizer's; the normal build is held to 250 MB
    limit = 1000 if "ASAN_OPTIONS" in os.environ else 250
    check(mon.poll() is None and peak < limit, f"monitor live: resident memory peaked at {peak:.0f} MB (< {limit} MB) "
                                               "through mutants and 2000 made-up cameras")
    try:
        metrics = urllib.request.urlopen(f"http://{http}/metrics", timeout=10).read()
        utf8 = True
        metrics.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = False
    except Exception as e:  # noqa: BLE001 - reported as a failure
        metrics, utf8 = b"", False
        print(f"  /metrics: {e}")
    check(utf8 and b"sightline_monitor_malformed_messages_total" in metrics, "monitor live: /metrics is valid UTF-8")
    pc = subprocess.run(["promtool", "check", "metrics"], input=metrics, capture_output=True)
    check(pc.returncode == 0, f"monitor live: promtool accepts the scrape ({pc.stderr.decode()[:200]})")
    mon.send_signal(signal.SIGTERM)
    try:
        _, err = mon.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        mon.kill()
        _, err = mon.communicate()
    m = re.search(r"(\d+) malformed message\(s\) skipped", err)
    refused = re.search(r"(\d+) refused past the (\d+)-state limit", err)
    check(mon.returncode == 0 and m and int(m.group(1)) > 1000,
          f"monitor live: SIGTERM ends it with 0, {m.group(1) if m else '?'} malformed messages counted "
          f"(exit {mon.returncode}; {err.strip().splitlines()[-1][:200] if err.strip() else ''})")
    check(bool(refused) and int(refused.group(1)) > 0 and int(refused.group(2)) == 256
          and "refused: the monitor already keeps 256" in err,
          f"monitor live: cameras past the state limit (256 by default) are refused, counted and logged "
          f"({refused.group(0) if refused else '?'})")
    check(len(re.findall(r"skipped a malformed message", err)) < 40,
          f"monitor live: malformed messages logged at most once per few seconds "
          f"({len(re.findall('skipped a malformed message', err))} lines)")
    pub.close(0)
    ctx.term()


def test_replay_and_eval(d, header, records, scene, seed):
    """Recordings holding mutants: monitor --replay skips and counts them; eval names the record it refuses or
    reports finite figures, never crashes, never writes NaN."""
    crashes = []
    for k in range(12):
        path = d / f"mutant{k}.slrec"
        write_recording(path, {"schema": "sightline.record/1", "model": "parts-v1@1.0.0",
                               "classes": ["bolt", "nut", "washer", "bracket", "defect"], "cameras": ["cam1", "cam2"],
                               "created_ns": 1}, mutant_records(records, seed * 100 + k, 300))
        r = run("monitor", "--replay", path)
        if r.returncode != 0:
            crashes.append(f"monitor --replay {path.name}: exit {r.returncode} {r.stderr[-200:]}")
        out = d / f"mutant{k}.json"
        r = run("eval", "--gt", scene / "cam1.json", "--dt", path, "--camera", "cam1", "--json", out,
                "--export-results", d / f"mutant{k}-results.json")
        if not survived(r.returncode) or r.returncode not in (0, 2, 4):
            crashes.append(f"eval {path.name}: exit {r.returncode} {r.stderr[-200:]}")
        elif r.returncode == 2 and not re.search(r"record \d+", r.stderr):
            crashes.append(f"eval {path.name}: refused without naming the record: {r.stderr[-200:]}")
        elif r.returncode in (0, 4):
            for f in (out, d / f"mutant{k}-results.json"):
                try:
                    json.loads(f.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
                except Exception as e:  # noqa: BLE001
                    crashes.append(f"eval {path.name}: {f.name} is not strict JSON: {e}")
    check(not crashes, f"replay and eval: 12 recordings of 300 mutants: no crash, no NaN written ({crashes[:3]})")


def pred_records(records):
    return [(t, m) for t, m in records if t.startswith("pred/cam1")]


def eval_of(d, scene, records, name, header=None, **kw):
    path = d / f"{name}.slrec"
    write_recording(path, header or HEADER, records)
    r = run("eval", "--gt", scene / "cam1.json", "--dt", path, "--camera", "cam1", "--json", "-", **kw)
    return r, (json.loads(r.stdout) if r.returncode in (0, 4) and r.stdout.strip() else None)


def test_eval_findings(d, scene, records):
    preds = pred_records(records)
    plain = [(t, pack(m)) for t, m in preds]
    r0, base = eval_of(d, scene, plain, "plain")
    ap = base["coco"]["AP"] if base else None
    check(r0.returncode == 0 and ap is not None and ap > 0.5, f"eval: the unmutated recording scores AP {ap}")

    def with_blob(key, every, value, width):
        out = []
        for i, (t, m) in enumerate(preds):
            m = Pairs(m)
            n = m.get("n")
            if i % every == 0 and n:
                vals = list(struct.unpack(f"<{width * n}f", bytes(m.get(key))))
                vals[0] = value
                m.set(key, floats(vals))
            out.append((t, pack(m)))
        return out

    r, _ = eval_of(d, scene, with_blob("scores", 4, math.nan, 1), "nan-scores")
    check(r.returncode == 2 and "record" in r.stderr and "scores" in r.stderr and "not finite" in r.stderr,
          f"eval: NaN scores in a share of the records: refused naming the record and field (exit {r.returncode}: "
          f"{r.stderr.strip()[-160:]})")
    r, _ = eval_of(d, scene, with_blob("boxes", 3, math.nan, 4), "nan-boxes")
    check(r.returncode == 2 and "boxes" in r.stderr,
          f"eval: NaN boxes in 30% of the records: refused, not a higher AP (exit {r.returncode})")
    for cls in (-1, 5, 12):
        recs = []
        for i, (t, m) in enumerate(preds):
            m = Pairs(m)
            if i == 7 and m.get("n"):
                n = m.get("n")
                m.set("classes", ints([cls] + list(struct.unpack(f"<{n}i", bytes(m.get("classes"))))[1:]))
            recs.append((t, pack(m)))
        r, _ = eval_of(d, scene, recs, f"class{cls}")
        check(r.returncode == 2 and f"class {cls}" in r.stderr,
              f"eval: class index {cls} refused naming it (exit {r.returncode}: {r.stderr.strip()[-120:]})")
    for seq in (2 ** 63, 2 ** 64 - 1, 2 ** 63 - 100):
        recs = [(t, pack(m)) for t, m in preds]
        m = Pairs(preds[10][1])
        m.set("seq", seq)
        recs[10] = (preds[10][0], pack(m))
        r, _ = eval_of(d, scene, recs, f"seq{seq}")
        check(r.returncode == 2 and "seq" in r.stderr and "out of range" in r.stderr,
              f"eval: seq {seq} refused as out of range, not counted as billions of gaps (exit {r.returncode})")
    import random
    shuffled = list(plain)
    random.Random(5).shuffle(shuffled)
    r, j = eval_of(d, scene, shuffled, "shuffled")
    flags = " ".join(j["red_flags"]) if j else ""
    check(j is not None and abs(j["coco"]["AP"] - ap) < 1e-12 and "missing" not in flags,
          f"eval: shuffled records (nothing lost): the same AP, no missing messages ({flags[:120]})")
    r, j = eval_of(d, scene, [x for rec in plain for x in (rec, rec)], "doubled")
    flags = " ".join(j["red_flags"]) if j else ""
    check(j is not None and abs(j["coco"]["AP"] - ap) < 1e-12 and "repeat" in flags,
          f"eval: every record twice: the same AP and a red flag for the repeats ({flags[:120]})")
    bad = d / "badclass.slrec"
    with open(bad, "wb") as f:
        f.write(pack({"schema": "sightline.record/1", "model": "m@1", "classes": [Raw(b"bo\xfflt"), "nut"],
                      "cameras": ["cam1"], "created_ns": 1}))
        for t, body in plain:
            f.write(msgpack.packb([t, body], use_bin_type=True))
    r = run("eval", "--gt", scene / "cam1.json", "--dt", bad)
    check(r.returncode == 2 and str(bad) in r.stderr and "UTF-8" in r.stderr,
          f"eval: a header with a non-UTF-8 class name is refused naming the file (exit {r.returncode}: "
          f"{r.stderr.strip()[-160:]})")
    # JSON inputs
    gt = json.loads((scene / "cam1.json").read_text())
    two = d / "two.json"
    two.write_text(json.dumps(gt) + "\n" + json.dumps(gt))
    r = run("eval", "--gt", two, "--dt", d / "plain.slrec")
    check(r.returncode == 2 and "after the JSON document" in r.stderr,
          f"eval: a file of two JSON documents is refused (exit {r.returncode}: {r.stderr.strip()[-120:]})")
    dt = d / "dt.json"
    run("eval", "--gt", scene / "cam1.json", "--dt", d / "plain.slrec", "--camera", "cam1", "--export-results", dt)
    dt2 = d / "dt2.json"
    dt2.write_text(dt.read_text() + "\n[]")
    r = run("eval", "--gt", scene / "cam1.json", "--dt", dt2)
    check(r.returncode == 2 and "after the JSON document" in r.stderr,
          f"eval: results followed by a second document are refused (exit {r.returncode})")
    many = d / "many.json"
    many.write_text(json.dumps({**gt, "categories": [{"id": i, "name": f"c{i}"} for i in range(100000)]}))
    r = run("eval", "--gt", many, "--dt", dt)
    check(r.returncode == 2 and str(many) in r.stderr and "categories" in r.stderr,
          f"eval: 100k categories: a clear refusal naming the file, not bad_alloc (exit {r.returncode}: "
          f"{r.stderr.strip()[-160:]})")


def test_monitor_findings(d, records):
    """The monitor's findings one by one through --replay (the same decode as live): each message alone."""
    pred = next(m for t, m in records if t.startswith("pred/cam1") and m.get("n"))
    n = pred.get("n")
    cases = {
        "luma inf": ("luma", F32(math.inf)), "luma 1e30": ("luma", 1e30), "sharpness inf": ("sharpness", F32(math.inf)),
        "sharpness 3e38": ("sharpness", F32(3e38)), "scores inf": ("scores", floats([math.inf] * n)),
        "scores 3e38": ("scores", floats([3e38] * n)), "boxes inf": ("boxes", floats([math.inf] * 4 * n)),
        "boxes 3e38": ("boxes", floats([3e38] * 4 * n)),
    }
    for name, (key, value) in cases.items():
        m = Pairs(pred)
        m.set(key, value)
        recs = [(t, pack(x)) for t, x in records[:50]] + [("pred/cam1", pack(m))]
        path = d / "one.slrec"
        write_recording(path, HEADER, recs)
        r = run("monitor", "--replay", path)
        check(r.returncode == 0 and "1 malformed message(s) skipped" in r.stderr and key in r.stderr,
              f"monitor: a pred with {name}: counted as malformed naming '{key}', not a crash (exit {r.returncode})")
    m = Pairs(pred)
    m.append(("luma", F32(math.inf)))  # a duplicated key: the second one
    write_recording(d / "dup.slrec", HEADER, [("pred/cam1", pack(m))])
    r = run("monitor", "--replay", d / "dup.slrec")
    check(r.returncode == 0 and "appears twice" in r.stderr, f"monitor: a duplicated luma key is refused (exit {r.returncode})")
    # seq wrap: a camera's messages with one seq near 2^64 among them
    recs = []
    for i, (t, x) in enumerate(pred_records(records)):
        x = Pairs(x)
        if i == 30:
            x.set("seq", 2 ** 64 - 300)
        recs.append((t, pack(x)))
    write_recording(d / "wrap.slrec", HEADER, recs)
    r = run("monitor", "--replay", d / "wrap.slrec")
    g = re.search(r"(\d+) sequence-gap message\(s\)", r.stderr)
    check(r.returncode == 0 and g and int(g.group(1)) <= 1,
          f"monitor: a seq near 2^64 among a camera's messages: {g.group(1) if g else '?'} gaps, not 2^64 "
          f"(exit {r.returncode})")


def test_collector(d, seed):
    """A foreign line sends mutants of a sample: the collector lives, rejects what it cannot read (the line is
    told, by id), stores only what is sound, and validate and export pass on what it stored."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    out = d / "ds"
    log = open(d / "collect.log", "w")
    c = subprocess.Popen([BINARY, "collect", "--connect", f"tcp://127.0.0.1:{port}", "--out", out, "--idle-exit", "20"],
                         stdout=subprocess.DEVNULL, stderr=log)
    poller = zmq.Poller()
    poller.register(router, zmq.POLLIN)
    assert poller.poll(10000), "the collector never said ready"
    ident, verb, *_ = router.recv_multipart()
    jpeg = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
    pred = Pairs([("v", 1), ("type", Raw(b"pred")), ("camera", Raw(b"x")), ("seq", 0), ("pts_ns", 0), ("frame", 7),
                  ("width", 8), ("height", 8), ("model", Raw(b"hand@1")), ("n", 1), ("boxes", floats([1, 1, 5, 5])),
                  ("scores", floats([0.9])), ("classes", ints([0])), ("flags", Bin(b"\0" * 4)),
                  ("margins", floats([0.5])), ("entropies", floats([0.1])), ("t", Pairs()), ("meta", Pairs()),
                  ("frame_flags", 0), ("uncertainty", F32(0.5))])
    sample = Pairs([("v", 1), ("type", Raw(b"sample")), ("id", Raw(b"x/1/0")), ("pred", pred),
                    ("classes", [Raw(b"thing")]), ("candidates_n", 0), ("candidate_boxes", Bin(b"")),
                    ("candidate_scores", Bin(b"")), ("candidate_classes", Bin(b"")), ("strategy", Raw(b"hand")),
                    ("tags", [Raw(b"t")]), ("reasons", [Raw(b"by hand")]), ("threshold", F32(0.25)),
                    ("selected_ns", 1), ("jpeg", Bin(jpeg))])
    mu = Mutator(seed)
    sent, answers = 0, {}
    bodies = []
    for k in range(400):
        m = Pairs(sample)
        m.set("id", Raw(f"x/1/{k}".encode()))
        p = Pairs(m.get("pred"))
        if k % 3 == 0:
            p = mu.mutate(p)
        else:
            m = mu.mutate(m)
            m.set("id", Raw(f"x/1/{k}".encode()))
        if k % 3 == 0:
            m.set("pred", p)
        bodies.append((f"x/1/{k}", pack(m)))
    m = Pairs(sample); m.set("id", Raw(b"tags/1")); m.set("tags", [Raw(b"ok"), Raw(b"\xff\xfe")])
    bodies.append(("tags/1", pack(m)))
    m = Pairs(sample); p = Pairs(pred); p.set("scores", floats([math.nan])); m.set("pred", p); m.set("id", Raw(b"nan/1"))
    bodies.append(("nan/1", pack(m)))
    m = Pairs(sample); p = Pairs(pred); p.set("camera", Raw(b"..")); m.set("pred", p); m.set("id", Raw(b"dots/1"))
    bodies.append(("dots/1", pack(m)))
    m = Pairs(sample); m.set("id", Raw(b"good/1"))
    bodies.append(("good/1", pack(m)))
    def drain(wait_ms):
        while poller.poll(wait_ms):
            _, verb, *rest = router.recv_multipart()
            if verb in (b"ack", b"reject", b"nack"):
                answers[rest[0].decode(errors="replace")] = verb.decode()
            wait_ms = 0

    for sid, body in bodies:  # paced: the collector's queue holds twice its window, a ROUTER drops past it
        router.send_multipart([ident, b"sample/x", body])
        sent += 1
        drain(10)
        if c.poll() is not None:
            break
    deadline = time.time() + 10
    while time.time() < deadline and "good/1" not in answers and c.poll() is None:
        drain(300)
    alive = c.poll() is None
    c.send_signal(signal.SIGINT)
    code = c.wait(timeout=20)
    log.close()
    text = (d / "collect.log").read_text(errors="replace")
    check(alive and code == 0, f"collector: alive through {sent} samples, 400 of them mutants (seed {seed}); "
                               f"SIGINT ends it with 0 (exit {code}; {text.strip().splitlines()[-1][:160]})")
    check(answers.get("tags/1") == "reject", f"collector: non-UTF-8 tags: the sample is rejected ({answers.get('tags/1')})")
    check(answers.get("nan/1") == "reject", f"collector: NaN scores: rejected, not stored ({answers.get('nan/1')})")
    check(answers.get("dots/1") == "reject", f"collector: camera '..': rejected ({answers.get('dots/1')})")
    check(answers.get("good/1") == "ack", f"collector: a sound sample after them is stored and acknowledged")
    check(not (out / "x").exists() and not any(p.name.endswith(".jpg") for p in out.iterdir()),
          "collector: no image outside images/<camera>/")
    v = run("collect", "validate", out)
    check(v.returncode == 0 and "0 problems" in v.stdout, f"collector: validate passes on what it stored ({v.stdout.strip()[-120:]})")
    e = run("collect", "export", out, "--format", "coco", "--out", d / "export")
    check(e.returncode == 0, f"collector: export works on what it stored ({e.stderr.strip()[-160:]})")
    router.close(0)
    ctx.term()


def main(binary, model, seed=24):
    global BINARY, MODEL, HEADER
    BINARY, MODEL = binary, Path(model).resolve()
    HEADER = {"schema": "sightline.record/1", "model": "parts-v1@1.0.0",
              "classes": ["bolt", "nut", "washer", "bracket", "defect"], "cameras": ["cam1", "cam2"], "created_ns": 1}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        scene, rec = make_scene(d)
        header, records = read_recording(rec)
        test_monitor_findings(d, records)
        test_eval_findings(d, scene, records)
        test_replay_and_eval(d, header, records, scene, seed)
        test_monitor_live(records, seed)
        test_collector(d, seed)
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:])))
