"""The Python consumer example (pyzmq + msgpack + numpy only) against `sightline run`: every frame of every camera
arrives with no sequence gap and decodes with numpy.frombuffer; class names come from run_start (with the bound
endpoint), every pred carries a wall-clock time, events are stamped when they happen; a consumer joining a running
line is told it joined late, and Ctrl-C ends it with its summary, not a traceback.
Usage: test_consumer.py SIGHTLINE MODEL_YAML"""
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSUME = str(ROOT / "tools/consumers/consume.py")


def check(cond, what, failures):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def main(binary, model):
    failures = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d), "--cameras", "2", "--seconds", "1",
                        "--set", "defaults.width=320", "--set", "defaults.height=240"], check=True)
        endpoint = f"ipc://{d}/pred.sock"
        (d / "run.yaml").write_text(f"cameras:\n  - {{id: cam1, url: cam1.mp4}}\n  - {{id: cam2, url: cam2.mp4}}\n"
                                    f"model: {model}\npublish: {{predictions: '{endpoint}', wait_for_subscribers: 1}}\n")
        consumer = subprocess.Popen([sys.executable, CONSUME, endpoint, "--timeout", "10"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        t0 = time.time()
        run = subprocess.run([binary, "--log-level", "warn", "run", str(d / "run.yaml")], capture_output=True,
                             text=True, timeout=120)
        out, err = consumer.communicate(timeout=120)
        print(err.strip())
        lines = [l for l in out.splitlines() if " pred/" in l]
        check(run.returncode == 0, f"run exits 0 ({run.stderr[-500:]})", failures)
        check(len(lines) == 60 and "0 sequence gaps" in err, f"60 pred messages, no gap ({len(lines)})", failures)
        check(sum(" pred/cam1 " in l for l in lines) == 30, "30 of cam1", failures)
        start = [l for l in out.splitlines() if "run_start" in l]
        check(len(start) == 1 and "'bolt'" in start[0] and endpoint in start[0],
              f"run_start carries the class names and the endpoint: {start}", failures)
        check(any(re.search(r" best (bolt|nut|washer|bracket|defect)@", l) for l in lines), "class names in preds",
              failures)
        now = time.strftime("%H:")
        check(all(not l.startswith("?") for l in lines), "every pred has a wall-clock time", failures)
        ends = [l for l in out.splitlines() if "'run_end'" in l]
        m = re.search(r"'time_ns': (\d+)", ends[0]) if ends else None
        check(m is not None and abs(int(m.group(1)) / 1e9 - time.time()) < 120,
              f"run_end stamped with the wall clock: {ends}", failures)

        # a late join on a live line, then Ctrl-C
        (d / "live.yaml").write_text(f"cameras:\n  - {{id: cam1, url: cam1.mp4, realtime: true, loop: true}}\n"
                                     f"model: {model}\npublish: {{predictions: '{endpoint}'}}\n")
        line = subprocess.Popen([binary, "--log-level", "warn", "run", str(d / "live.yaml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        consumer = subprocess.Popen([sys.executable, CONSUME, endpoint, "--topic", "pred/"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        consumer.send_signal(signal.SIGINT)
        out, err = consumer.communicate(timeout=30)
        line.send_signal(signal.SIGINT)
        line.communicate(timeout=30)
        print(err.strip())
        check("joined late" in err, "the late join is noticed", failures)
        check("Traceback" not in err and "messages," in err, "Ctrl-C gives the summary, no traceback", failures)
        check(consumer.returncode == 0, f"consumer exits 0 after Ctrl-C ({consumer.returncode})", failures)
    print(f"{len(failures)} failed" if failures else "all passed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
