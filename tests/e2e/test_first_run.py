"""README's first command starts policy-relayd on conf/policy-relay.toml: that file, as shipped,
must start, accept a swaks message, write it to the outbox and answer policy-relayctl. The test
runs the shipped file with two substitutions only: a run-time port instead of 2525, and its
run/ paths under a temporary directory."""

import os
import re
import signal
import subprocess
import tempfile
import unittest

from harness import ctl_path, relayd_path, wait_for

SHIPPED = os.path.join(os.path.dirname(__file__), "..", "..", "conf", "policy-relay.toml")


class FirstRunTest(unittest.TestCase):
    def test_the_shipped_first_run_config_relays_a_swaks_message_to_the_outbox(self):
        with open(SHIPPED, encoding="utf-8") as file:
            shipped = file.read()
        self.assertIn('listen = ["127.0.0.1:2525"]', shipped)
        with tempfile.TemporaryDirectory(prefix="policy-relay-first-run-") as work:
            config = shipped.replace('listen = ["127.0.0.1:2525"]', 'listen = ["127.0.0.1:0"]')
            config = config.replace('"run/', f'"{work}/run/')
            config_path = os.path.join(work, "policy-relay.toml")
            with open(config_path, "w", encoding="utf-8") as file:
                file.write(config)
            for directory in ("run/spool", "run/outbox"):  # what scripts/quickstart.sh makes
                os.makedirs(os.path.join(work, directory))
            stderr_path = os.path.join(work, "relayd.err")
            with open(stderr_path, "wb") as stderr:
                relay = subprocess.Popen([relayd_path(), "--config", config_path], cwd=work,
                                         stdout=subprocess.DEVNULL, stderr=stderr)
            try:
                def log():
                    with open(stderr_path, encoding="utf-8", errors="replace") as file:
                        return file.read()

                def listening_port():
                    if relay.poll() is not None:
                        raise AssertionError(f"policy-relayd exited with {relay.returncode}:\n{log()}")
                    found = re.search(r"event=listening address=127\.0\.0\.1:(\d+)", log())
                    return int(found.group(1)) if found else None

                port = wait_for(listening_port, 30, message="event=listening")
                swaks = subprocess.run(
                    ["swaks", "--server", "127.0.0.1", "--port", str(port), "--from", "a@edomex.gob.mx",
                     "--to", "b@example.org", "--timeout", "20"],
                    capture_output=True, text=True, timeout=60)
                self.assertEqual(swaks.returncode, 0, swaks.stdout + swaks.stderr)
                queued = re.search(r"250 2\.0\.0 Ok: queued as ([0-9A-F]+)", swaks.stdout)
                self.assertIsNotNone(queued, swaks.stdout)
                message_id = queued.group(1)
                outbox = os.path.join(work, "run", "outbox")
                wait_for(lambda: os.path.exists(os.path.join(outbox, message_id + ".eml")), 30,
                         message=f"{message_id}.eml in the outbox")
                self.assertTrue(os.path.exists(os.path.join(outbox, message_id + ".envelope.json")))
                with open(os.path.join(outbox, message_id + ".eml"), "rb") as file:
                    self.assertTrue(file.read().startswith(b"Received: from "))
                for event in ("connect", "accept", "deliver", "disconnect"):
                    wait_for(lambda: f"event={event}" in log(), 10, message=f"event={event}")
                status = subprocess.run([ctl_path(), "--config", config_path, "status"], cwd=work,
                                        capture_output=True, text=True, timeout=30)
                self.assertEqual(status.returncode, 0, status.stdout + status.stderr)
                self.assertIn("uptime", status.stdout)
            finally:
                if relay.poll() is None:
                    relay.send_signal(signal.SIGTERM)
                    try:
                        relay.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        relay.kill()
                        relay.wait()
            self.assertEqual(relay.returncode, 0, log())


if __name__ == "__main__":
    unittest.main()
