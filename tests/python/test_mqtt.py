"""The monitor's alarms on MQTT (issue 28, item 6) with a real broker: Debian's mosquitto on loopback, and paho-mqtt
(PyPI, no code shared with libmosquitto) as the plant system listening.

A recorded line whose second camera's lighting drifts is replayed into `sightline monitor --mqtt`: every alarm the
monitor raises or clears (its --json lines) arrives on <prefix>/<line>/<camera>/alarm with QoS 1, in order; a client
that connects after the monitor has ended reads, retained on <prefix>/<line>/<camera>/standing, exactly the alarms
still standing per camera. A broker that is down when the monitor starts gets the alarms once it is up; a malformed
--mqtt URL is refused naming it.

Usage: test_mqtt.py SIGHTLINE MODEL_YAML
"""
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho

from support import FAILURES, check, free_port, record_scene

SCENARIO = """cameras:
  cam2:
    lighting_drift: {start: 20, ramp: 0, gain: 0.6}
"""


def broker(d, port):
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    conf = Path(d) / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    p = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return p


class Listener:
    """A paho client subscribed to sightline/#: every message in arrival order (topic, payload, retained)."""

    def __init__(self, port):
        self.got, self.lock = [], threading.Lock()
        self.c = paho.Client(paho.CallbackAPIVersion.VERSION2) if hasattr(paho, "CallbackAPIVersion") else paho.Client()
        self.c.on_message = self.on_message
        self.c.on_connect = lambda c, *a: c.subscribe("sightline/#", qos=1)
        for _ in range(50):
            try:
                self.c.connect("127.0.0.1", port)
                break
            except OSError:
                time.sleep(0.2)
        self.c.loop_start()

    def on_message(self, c, userdata, m):
        with self.lock:
            self.got.append((m.topic, m.payload.decode(), bool(m.retain)))

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()
        return list(self.got)


def monitor(binary, rec, port, extra=()):
    return subprocess.run([binary, "monitor", "--replay", str(rec), "--json", "--reference-s", "15", "--window-s",
                           "3", "--min-values", "50", "--mqtt", f"mqtt://127.0.0.1:{port}", *extra],
                          capture_output=True, text=True, timeout=300)


def main(binary, model):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        rec = record_scene(binary, model, d, SCENARIO, cameras=2, seconds=30, seed=5, fps=30)
        port = free_port()
        b = broker(d, port)
        try:
            live = Listener(port)
            time.sleep(0.5)
            r = monitor(binary, rec, port)
            time.sleep(1)
            events = live.stop()
            late = Listener(port)  # connects after the monitor ended: only retained messages
            time.sleep(1.5)
            retained = late.stop()
        finally:
            b.terminate()
            b.wait()
        check(r.returncode == 0, f"the monitor ran (exit {r.returncode}; {r.stderr.strip()[-300:]})")
        alarms = [json.loads(l) for l in r.stdout.splitlines() if '"alarm_' in l and '"summary"' not in l]
        sent = [(a["kind"], a["camera"], a["signal"], a["test"], a["value"]) for a in alarms]
        got = [json.loads(p) for t, p, _ in events if t.endswith("/alarm")]
        recv = [(a["kind"], a["camera"], a["signal"], a["test"], a["value"]) for a in got]
        check(len(sent) > 0 and any(k == "alarm_raised" for k, *_ in sent),
              f"the drifting camera raised alarms ({len(sent)} events)")
        check(recv == sent, f"every alarm raised or cleared arrived on MQTT, in order ({len(recv)} of {len(sent)})")
        line = alarms[0]["line"] if alarms else "?"
        topics = {t for t, _, _ in events if t.endswith("/alarm")}
        check(topics == {f"sightline/{line}/{a['camera']}/alarm" for a in alarms},
              f"topics name line and camera ({sorted(topics)})")
        standing = {}
        for a in alarms:
            key = (a["camera"], a["model"], a["signal"], a["test"])
            if a["kind"] == "alarm_raised":
                standing[key] = a
            else:
                standing.pop(key, None)
        for cam in ("cam1", "cam2"):
            want = sorted((a["signal"], a["test"]) for (c, *_), a in standing.items() if c == cam)
            msgs = [json.loads(p) for t, p, ret in retained if t == f"sightline/{line}/{cam}/standing" and ret]
            have = sorted((a["signal"], a["test"]) for a in msgs[-1]) if msgs else None
            check(have == want or (have is None and not want and not any(c == cam for _, c, *_ in sent)),
                  f"{cam}: a client connecting later reads its standing alarms, retained ({have} == {want})")

        # the broker down when the monitor starts: the alarms wait, and go once it is up
        port2 = free_port()
        p = subprocess.Popen([binary, "monitor", "--replay", str(rec), "--json", "--reference-s", "15",
                              "--window-s", "3", "--min-values", "50", "--mqtt", f"mqtt://127.0.0.1:{port2}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        b2 = broker(d, port2)
        try:
            late2 = Listener(port2)
            out, err = p.communicate(timeout=120)
            time.sleep(1.5)
            got2 = late2.stop()
        finally:
            b2.terminate()
            b2.wait()
        retained2 = {t for t, _, _ in got2 if t.endswith("/standing")}
        check("not reached yet" in err or "refused" in err or retained2,
              "a broker down at the start is said, not fatal")
        check(p.returncode == 0 and f"sightline/{line}/cam2/standing" in retained2,
              f"once up, the broker holds the standing alarms of the run ({sorted(retained2)})")

        bad = subprocess.run([binary, "monitor", "--replay", str(rec), "--mqtt", "http://127.0.0.1:1883"],
                             capture_output=True, text=True, timeout=60)
        check(bad.returncode != 0 and "--mqtt" in bad.stderr and "http://127.0.0.1:1883" in bad.stderr,
              f"a malformed --mqtt is refused naming it ({bad.stderr.strip()[-160:]})")
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
