"""Issue 24, item 4: CURVE on the line's sockets and the sinks'. `sightline keys generate` writes key files pyzmq
reads; a line with `security:` gives everything to authorized clients (the monitor, the collector, pyzmq holding an
authorized key) and nothing to an outsider (pyzmq without a key, with its own unauthorized key, or expecting a
wrong server key), counts the refusals, never logs a key; an exposed key file and a bind beyond loopback without
security are refused.

Usage: test_security.py SIGHTLINE MODEL_YAML
"""
import os
import re
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack
import zmq

from support import FAILURES, check, free_port


def run(*args):
    return subprocess.run([BINARY, *map(str, args)], capture_output=True, text=True, errors="replace")


def keys(d, name):
    r = run("keys", "generate", d / name)
    assert r.returncode == 0, r.stderr
    return (d / f"{name}.key").read_text().strip().encode(), (d / f"{name}.pub").read_text().strip().encode()


class Listener(threading.Thread):
    """A pyzmq SUB counting what it receives: plain, or CURVE with the given keys and expected server key."""

    def __init__(self, ctx, endpoint, secret=None, public=None, server=None):
        super().__init__(daemon=True)
        self.sock = ctx.socket(zmq.SUB)
        if server is not None:
            self.sock.curve_secretkey, self.sock.curve_publickey, self.sock.curve_serverkey = secret, public, server
        self.sock.setsockopt(zmq.SUBSCRIBE, b"")
        self.sock.setsockopt(zmq.RCVHWM, 100000)
        self.sock.connect(endpoint)
        self.received, self.refused, self.stop = 0, None, False

    def run(self):
        while not self.stop:
            if self.sock.poll(100):
                topic, body = self.sock.recv_multipart()
                self.received += 1
                if topic.startswith(b"stat/"):
                    v = msgpack.unpackb(body, raw=False)["values"]
                    self.refused = v.get("handshakes_refused_total", self.refused)
        self.sock.close(0)


def test_keys(d):
    secret, public = keys(d, "line")
    mode = stat.S_IMODE(os.stat(d / "line.key").st_mode)
    check(mode == 0o600, f"keys generate: line.key has mode {oct(mode)} (0600)")
    check(len(public) == 40 and zmq.curve_public(secret) == public,
          "keys generate: line.pub is the Z85 public key of line.key, as pyzmq derives it")
    r = run("keys", "generate", d / "line")
    check(r.returncode == 2 and "exists" in r.stderr, "keys generate: an existing key is not overwritten")
    os.chmod(d / "line.key", 0o644)
    cfg = d / "exposed.yaml"
    cfg.write_text(f"cameras: [{{id: cam1, url: {SCENE / 'cam1.mp4'}}}]\nmodel: {MODEL}\n"
                   f"publish: {{predictions: 'tcp://127.0.0.1:*'}}\nsecurity: {{key: line.key}}\n")
    r = run("run", cfg, "--check")
    check(r.returncode == 2 and "chmod 600" in r.stderr and secret.decode() not in r.stderr,
          f"a key file readable by others is refused, naming it, without the key ({r.stderr.strip()[-160:]})")
    os.chmod(d / "line.key", 0o600)


def test_line(d):
    line_secret, line_public = keys(d, "line2")
    mon_secret, mon_public = keys(d, "monitor")
    col_secret, col_public = keys(d, "collector")
    out_secret, out_public = keys(d, "outsider")
    wrong_secret, wrong_public = zmq.curve_keypair()
    pred_ep, samples_ep = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    cfg = d / "secure.yaml"
    cfg.write_text(f"cameras: [{{id: cam1, url: {SCENE / 'cam1.mp4'}, realtime: true}}]\nmodel: {MODEL}\n"
                   f"publish: {{predictions: '{pred_ep}', samples: '{samples_ep}', wait_for_subscribers: 2,"
                   f" wait_timeout_s: 30, samples_drain_s: 5}}\n"
                   f"security: {{key: line2.key, authorized: [monitor.pub, collector.pub]}}\n"
                   "sampling:\n  strategies:\n    - {name: all, type: random, fraction: 0.2, limits: {minute: 1000}}\n")
    ctx = zmq.Context()
    outsiders = {
        "no key": Listener(ctx, pred_ep),
        "its own unauthorized key": Listener(ctx, pred_ep, out_secret, out_public, line_public),
        "a wrong server key": Listener(ctx, pred_ep, mon_secret, mon_public, wrong_public),
    }
    insider = Listener(ctx, pred_ep, mon_secret, mon_public, line_public)
    for t in [*outsiders.values(), insider]:
        t.start()
    logs = {n: open(d / f"{n}.log", "w+") for n in ("line", "monitor", "collector", "outcollector")}
    mon = subprocess.Popen([BINARY, "monitor", "--connect", pred_ep, "--key", d / "monitor.key", "--server-key",
                            d / "line2.pub", "--until-run-end"], stdout=subprocess.DEVNULL, stderr=logs["monitor"])
    col = subprocess.Popen([BINARY, "collect", "--connect", samples_ep, "--out", d / "ds", "--key", d / "collector.key",
                            "--server-key", d / "line2.pub", "--idle-exit", "8"], stdout=subprocess.DEVNULL,
                           stderr=logs["collector"])
    outcol = subprocess.Popen([BINARY, "collect", "--connect", samples_ep, "--out", d / "ds-out", "--key",
                               d / "outsider.key", "--server-key", d / "line2.pub", "--idle-exit", "8"],
                              stdout=subprocess.DEVNULL, stderr=logs["outcollector"])
    line = subprocess.Popen([BINARY, "run", cfg], stdout=subprocess.DEVNULL, stderr=logs["line"])
    line.wait(timeout=120)
    try:  # the monitor ends at the line's run_end; on a loaded machine it may still be reading the backlog
        mon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        mon.kill()
        logs["monitor"].seek(0)
        print("the monitor did not end within 60 s of the line; its log:\n" + logs["monitor"].read()[-3000:])
        mon.wait()
    col.wait(timeout=60)
    outcol.wait(timeout=60)
    time.sleep(0.5)
    for t in [*outsiders.values(), insider]:
        t.stop = True
        t.join()
    text = {n: (f.seek(0), f.read())[1] for n, f in logs.items()}
    sent = re.search(r"(\d+) messages sent, (\d+) dropped", text["line"])
    sent = int(sent.group(1)) if sent else -1
    check(line.returncode == 0 and sent > 100, f"the secured line ran ({sent} messages sent)")
    check(insider.received == sent, f"an authorized pyzmq client received every message ({insider.received} of {sent})")
    for what, t in outsiders.items():
        check(t.received == 0, f"pyzmq with {what} received nothing ({t.received})")
    m = re.search(r"monitor: (\d+) messages", text["monitor"])
    check(mon.returncode == 0 and m and int(m.group(1)) == sent,
          f"sightline monitor --key --server-key received everything ({m.group(1) if m else '?'} of {sent})")
    acked = re.search(r"samples: (\d+) selected, (\d+) acknowledged", text["line"])
    added = re.search(r"collect: \d+ received, (\d+) added", text["collector"])
    out_added = re.search(r"collect: (\d+) received", text["outcollector"])
    check(acked and added and int(acked.group(1)) > 0 and int(added.group(1)) == int(acked.group(1)),
          f"the authorized collector stored every sample ({added.group(1) if added else '?'} of "
          f"{acked.group(1) if acked else '?'})")
    # refused, it says so and stops (issue 25, item 6: a sink never reads as a quiet line when it is shut out)
    check(outcol.returncode != 0 and not out_added and "refused this process's CURVE key" in text["outcollector"],
          f"a collector whose key is not authorized received no sample and stops saying why (exit {outcol.returncode}: "
          f"{text['outcollector'].strip().splitlines()[-1] if text['outcollector'].strip() else ''})")
    check(insider.refused is not None and insider.refused >= 3,
          f"the line counts the refused handshakes in its stats ({insider.refused})")
    check("CURVE handshake(s) refused" in text["line"], "the line logs the refusals")
    secrets = [k.decode() for k in (line_secret, mon_secret, col_secret, out_secret)]
    check(not any(s in t for s in secrets for t in text.values()), "no secret key appears in any log")
    ctx.term()


def test_open_binds(d):
    base = f"cameras: [{{id: cam1, url: {SCENE / 'cam1.mp4'}}}]\nmodel: {MODEL}\n"
    cfg = d / "open.yaml"
    cfg.write_text(base + f"publish: {{predictions: 'tcp://0.0.0.0:{free_port()}'}}\n")
    r = run("run", cfg, "--check")
    check(r.returncode == 2 and "security" in r.stderr and "allow_insecure" in r.stderr,
          f"a bind beyond loopback without security: refused ({r.stderr.strip()[-160:]})")
    cfg.write_text(base + f"publish: {{predictions: 'tcp://0.0.0.0:{free_port()}'}}\nallow_insecure: true\n")
    r = run("run", cfg, "--check")
    check(r.returncode == 0 and "without security" in r.stderr,
          f"allow_insecure: true binds it, saying why that is unsafe ({r.returncode})")
    keys(d, "any")
    cfg.write_text(base + f"publish: {{predictions: 'tcp://0.0.0.0:{free_port()}'}}\nsecurity: {{key: any.key}}\n")
    r = run("run", cfg, "--check")
    check(r.returncode == 0, f"with security: it binds beyond loopback ({r.stderr.strip()[-160:]})")
    # the monitor's alarm socket
    r = run("monitor", "--connect", "tcp://127.0.0.1:9", "--publish", f"tcp://0.0.0.0:{free_port()}", "--seconds", "1")
    check(r.returncode == 2 and "--key" in r.stderr, "monitor --publish beyond loopback needs --key")


def main(binary, model):
    global BINARY, MODEL, SCENE
    BINARY, MODEL = binary, Path(model).resolve()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        SCENE = d / "scene"
        subprocess.run([BINARY, "--log-level", "warn", "synth", "--out", SCENE, "--cameras", "1", "--seconds", "8"],
                       check=True)
        test_keys(d)
        test_line(d)
        test_open_binds(d)
    print(f"{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
