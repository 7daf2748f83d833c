"""Real peers for the cluster tests: a redis-server and a HAProxy of their own, on loopback
ports picked at run time, in temporary directories, killed with the test (never the system's
instances; scripts/install-deps.sh keeps the packages from starting theirs).

    with RedisProcess() as redis, CaptureUpstream() as upstream:
        relays = [Relay(upstream=upstream, config=cluster_config(redis.port)) for _ in range(2)]
        with HAProxy([r.port for r in relays]) as proxy: ... smtplib.SMTP("127.0.0.1", proxy.port)
"""

import os
import signal
import socket
import subprocess
import time

from harness import _die_with_parent, make_temp_dir, remove_temp_dir, reserve_port, wait_for

START_TIMEOUT = 10.0


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class _Process:
    name = "process"

    def __init__(self):
        self.temp_dir = make_temp_dir(self.name)
        self.process = None
        self._failed = False

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self._failed = kind is not None
        self.stop()
        remove_temp_dir(self.temp_dir, self._failed)

    def _spawn(self, arguments, ready_port):
        log = open(os.path.join(self.temp_dir, f"{self.name}.out"), "ab")
        self.process = subprocess.Popen(arguments, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=log, preexec_fn=_die_with_parent)
        log.close()

        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}: "
                                     f"{self.output()}")
            return _accepts(ready_port)

        wait_for(ready, START_TIMEOUT, message=f"{self.name} listening on {ready_port}")

    def output(self):
        try:
            with open(os.path.join(self.temp_dir, f"{self.name}.out"), "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)
        self.process = None


class RedisProcess(_Process):
    """redis-server without persistence on 127.0.0.1:PORT; stop() and start() keep the port."""

    name = "redis"

    def __init__(self):
        super().__init__()
        self.port = reserve_port()
        self.start()

    def start(self):
        assert self.process is None
        self._spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no", "--dir", self.temp_dir,
                     "--daemonize", "no", "--loglevel", "warning"], self.port)

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


class HAProxy(_Process):
    """HAProxy in TCP mode balancing round-robin over the relays with send-proxy-v2, health
    checks sending the PROXY header too (a v2 LOCAL command)."""

    name = "haproxy"

    def __init__(self, relay_ports):
        super().__init__()
        self.port = reserve_port()
        servers = "\n".join(
            f"    server relay{i + 1} 127.0.0.1:{port} send-proxy-v2 check check-send-proxy "
            f"inter 500ms fall 1 rise 1"
            for i, port in enumerate(relay_ports))
        self.config_path = os.path.join(self.temp_dir, "haproxy.cfg")
        with open(self.config_path, "w") as file:
            file.write(HAPROXY_CONFIG.format(port=self.port, servers=servers))
        self._spawn(["haproxy", "-db", "-f", self.config_path], self.port)


HAPROXY_CONFIG = """\
global
    maxconn 500

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch

frontend smtp
    bind 127.0.0.1:{port}
    default_backend relays

backend relays
    balance roundrobin
{servers}
"""


def cluster_config(redis, unavailable="defer", limits=None, prefix=None):
    """The relay config of a cluster member: PROXY protocol from loopback, counters in `redis`."""
    state = {"backend": "redis", "redis_url": redis.url, "redis_unavailable": unavailable,
             "redis_timeout": "500ms", "redis_connect_timeout": "500ms",
             "redis_key_prefix": prefix or f"test{time.monotonic_ns()}:"}
    config = {"server": {"proxy_protocol": True, "proxy_networks": ["127.0.0.1/32"]},
              "state": state}
    if limits:
        config["limits"] = limits
    return config
