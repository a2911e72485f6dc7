"""The Python consumer example (pyzmq + msgpack + numpy only) against `sightline run`: every frame of every camera
arrives, with no sequence gap, and decodes with numpy.frombuffer. Usage: test_consumer.py SIGHTLINE MODEL_YAML"""
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        subprocess.run([binary, "--log-level", "warn", "synth", "--out", str(d), "--cameras", "2", "--seconds", "1",
                        "--set", "defaults.width=320", "--set", "defaults.height=240"], check=True)
        endpoint = f"ipc://{d}/pred.sock"
        (d / "run.yaml").write_text(f"cameras:\n  - {{id: cam1, url: cam1.mp4}}\n  - {{id: cam2, url: cam2.mp4}}\n"
                                    f"model: {model}\npublish: {{predictions: '{endpoint}', wait_for_subscribers: 1}}\n")
        consumer = subprocess.Popen([sys.executable, str(ROOT / "tools/consumers/consume.py"), endpoint, "--topic",
                                     "pred/", "--count", "60", "--timeout", "60"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        run = subprocess.run([binary, "--log-level", "warn", "run", str(d / "run.yaml")], capture_output=True,
                             text=True, timeout=120)
        out, err = consumer.communicate(timeout=120)
        print(err.strip())
        lines = [l for l in out.splitlines() if l.startswith("pred/")]
        ok = (run.returncode == 0 and consumer.returncode == 0 and len(lines) == 60 and "0 sequence gaps" in err
              and sum(l.startswith("pred/cam1 ") for l in lines) == 30)
        if not ok:
            print(f"run rc {run.returncode}: {run.stderr}\nconsumer rc {consumer.returncode}\n{out[-2000:]}")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
