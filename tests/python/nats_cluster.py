"""A real NATS JetStream cluster on loopback for the tests (issue 28): three `nats-server` processes (Debian's
nats-server) forming one cluster, each with its own file store, started and stopped (or killed -9 and restarted) by
the test. The oracle side reads streams with nats-py (PyPI), which shares no code with sightline's libnats client.

    with NatsCluster(tmpdir) as c:
        c.urls            # "nats://127.0.0.1:P1,nats://127.0.0.1:P2,nats://127.0.0.1:P3"
        c.kill(i); c.start(i)
        c.stream_leader("SIGHTLINE")
        c.read_stream("SIGHTLINE")   # [(subject, body bytes, stream seq)], in stream order
"""
import asyncio
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from support import free_port


def nats_server():
    for p in ("nats-server", "/usr/sbin/nats-server", "/usr/bin/nats-server"):
        if shutil.which(p):
            return shutil.which(p)
    raise SystemExit("no nats-server (scripts/setup.sh installs Debian's nats-server)")


class NatsCluster:
    def __init__(self, d, n=3):
        self.d = Path(d)
        self.d.mkdir(parents=True, exist_ok=True)
        self.n = n
        self.ports = [free_port() for _ in range(n)]
        self.routes = [free_port() for _ in range(n)]
        self.procs = [None] * n
        self.logs = []
        for i in range(n):
            routes = ", ".join(f"nats-route://127.0.0.1:{self.routes[j]}" for j in range(n) if j != i)
            (self.d / f"n{i}.conf").write_text(
                f"server_name: n{i}\nlisten: 127.0.0.1:{self.ports[i]}\n"
                f"jetstream {{ store_dir: '{self.d / f'store{i}'}', max_memory_store: 256MB, max_file_store: 2GB }}\n"
                f"cluster {{ name: sightline-test, listen: 127.0.0.1:{self.routes[i]}, routes: [{routes}] }}\n")

    @property
    def urls(self):
        return ",".join(f"nats://127.0.0.1:{p}" for p in self.ports)

    def url(self, i):
        return f"nats://127.0.0.1:{self.ports[i]}"

    def start(self, i):
        log = open(self.d / f"n{i}.log", "a")
        self.logs.append(log)
        self.procs[i] = subprocess.Popen([nats_server(), "-c", str(self.d / f"n{i}.conf")], stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.ports[i]), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nats-server n{i} did not listen on {self.ports[i]}: see {self.d / f'n{i}.log'}")

    def kill(self, i):
        self.procs[i].send_signal(signal.SIGKILL)
        self.procs[i].wait()

    def __enter__(self):
        for i in range(self.n):
            self.start(i)
        self.wait_ready()
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            if p and p.poll() is None:
                p.terminate()
        for p in self.procs:
            if p:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        for log in self.logs:
            log.close()

    def run(self, coro_fn, timeout=60):
        async def go():
            import nats
            nc = await nats.connect(servers=self.urls.split(","), connect_timeout=5, max_reconnect_attempts=20)
            try:
                return await asyncio.wait_for(coro_fn(nc, nc.jetstream()), timeout)
            finally:
                await nc.close()
        return asyncio.run(go())

    def wait_ready(self, timeout=30):
        """Until JetStream answers (the cluster elected its meta leader)."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                self.run(lambda nc, js: js.account_info(), timeout=5)
                return
            except Exception as e:  # noqa: BLE001 - any failure here means not ready yet
                last = e
                time.sleep(0.5)
        raise RuntimeError(f"the NATS cluster did not become ready in {timeout} s: {last!r}")

    def stream_info(self, stream):
        return self.run(lambda nc, js: js.stream_info(stream), timeout=10)

    def wait_messages(self, stream, timeout=120):
        """Until `stream` exists and holds a message (the lines publish through their bridges)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if self.stream_info(stream).state.messages > 0:
                    return
            except Exception:  # noqa: BLE001 - not made yet
                pass
            time.sleep(0.2)
        raise RuntimeError(f"stream {stream}: no message within {timeout} s")

    def stream_leader(self, stream):
        """The index of the server leading `stream` (its name is n<i>)."""
        info = self.stream_info(stream)
        return int(info.cluster.leader[1:])

    def read_stream(self, stream):
        """Every message of `stream`, in stream order: (subject, data, seq)."""
        async def read(nc, js):
            info = await js.stream_info(stream)
            out = []
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                try:
                    m = await js.get_msg(stream, seq)
                except Exception:  # noqa: BLE001 - a deleted sequence
                    continue
                out.append((m.subject, m.data, m.seq))
            return out
        return self.run(read, timeout=300)
