"""The relay towards the tenant (POLICY VII.3): STARTTLS with certificate and name checks, AUTH
PLAIN with a password file, XOAUTH2 with tokens from a local HTTPS token endpoint. Certificates
are made at test time; the capture upstream is aiosmtpd with TLS and AUTH required."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import PYTHON, CaptureUpstream, Relay, SENDER, simple_message
from tls_support import TestPki

import smtplib

HERE = os.path.dirname(os.path.abspath(__file__))
SCOPE = "https://outlook.office365.com/.default"


class UpstreamTlsTest(unittest.TestCase):
    def setUp(self):
        self.temp = tempfile.mkdtemp(prefix="policy-relay-e2e-up-")
        self.pki = TestPki(os.path.join(self.temp, "pki"))
        self.up_cert, self.up_key = self.pki.issue("upstream", ["DNS:localhost"])
        self.secret_dir = os.path.join(self.temp, "secrets")
        os.makedirs(self.secret_dir)
        self.token_process = None

    def tearDown(self):
        if self.token_process is not None:
            self.token_process.send_signal(signal.SIGTERM)
            self.token_process.wait(timeout=10)
            self.token_process.stdout.close()
        shutil.rmtree(self.temp, ignore_errors=True)

    def secret(self, name, value):
        path = os.path.join(self.secret_dir, name)
        with open(path, "w") as file:
            file.write(value + "\n")
        return path

    def capture(self, cert=None, key=None, extra=()):
        return CaptureUpstream(extra_arguments=["--tls-cert", cert or self.up_cert,
                                                "--tls-key", key or self.up_key] + list(extra))

    def relay(self, upstream, **keys):
        config = {"upstream": dict({"host": "localhost", "tls": "starttls",
                                    "ca_file": self.pki.ca_file}, **keys)}
        return Relay(upstream=upstream, config=config)

    def send(self, relay, subject):
        with smtplib.SMTP("127.0.0.1", relay.port, timeout=20) as client:
            self.assertEqual(client.sendmail(SENDER, ["rcpt@example.org"],
                                             simple_message(subject=subject)), {})

    def test_starttls_and_auth_plain_with_a_password_file(self):
        password = "upstream-password-1"
        with self.capture(extra=["--auth", f"relay@edomex.gob.mx:{password}"]) as upstream, \
                self.relay(upstream, auth="plain", username="relay@edomex.gob.mx",
                           password_file=self.secret("password", password)) as relay:
            self.send(relay, "over tls")
            [message] = upstream.wait_for_messages(1)
            self.assertIn(b"Subject: over tls", message.data)
            self.assertIn("AUTH PLAIN ok", upstream.stderr())
            relay.wait_queue_empty()
            self.assertNotIn(password, relay.log_text())

    def test_a_certificate_for_another_name_gets_no_mail_and_the_message_stays_queued(self):
        wrong_cert, wrong_key = self.pki.issue("other", ["DNS:other.example"])
        with self.capture(cert=wrong_cert, key=wrong_key) as upstream, self.relay(upstream) as relay:
            self.send(relay, "must not leak")
            retry = relay.wait_for_event("retry")[0]
            self.assertIn("certificate verification failed", relay.log_text())
            self.assertEqual(upstream.messages(), [])
            self.assertEqual(len(relay.queued_ids()), 1, retry)

    def test_an_upstream_without_starttls_gets_nothing(self):
        with CaptureUpstream() as upstream, self.relay(upstream) as relay:
            self.send(relay, "no downgrade")
            relay.wait_for_event("retry")
            self.assertIn("does not offer STARTTLS", relay.log_text())
            self.assertEqual(upstream.messages(), [])
            self.assertEqual(len(relay.queued_ids()), 1)

    # -- XOAUTH2 --------------------------------------------------------------------------------

    def start_token_endpoint(self, expires_in=3600, revoke_first=False):
        self.token_dir = os.path.join(self.temp, "tokens")
        os.makedirs(self.token_dir, exist_ok=True)
        cert, key = self.pki.issue("login", ["DNS:localhost"])
        arguments = [PYTHON, os.path.join(HERE, "token_endpoint.py"), "--cert", cert, "--key", key,
                     "--dir", self.token_dir, "--client-id", "client-1", "--secret", "s3cret-1",
                     "--scope", SCOPE, "--expires-in", str(expires_in)]
        if revoke_first:
            arguments.append("--revoke-first")
        self.token_process = subprocess.Popen(arguments, stdout=subprocess.PIPE)
        port = int(self.token_process.stdout.readline())
        return f"https://localhost:{port}/tenant/oauth2/v2.0/token"

    def token_requests(self):
        path = os.path.join(self.token_dir, "requests")
        return open(path).read().splitlines() if os.path.exists(path) else []

    def xoauth2_relay(self, upstream, token_url, idle_timeout="30s"):
        return Relay(upstream=upstream, config={
            "upstream": {"host": "localhost", "tls": "starttls", "ca_file": self.pki.ca_file,
                         "auth": "xoauth2", "username": "relay@edomex.gob.mx", "connections": 1,
                         "idle_timeout": idle_timeout},
            "upstream.oauth2": {"token_url": token_url, "client_id": "client-1", "scope": SCOPE,
                                "client_secret_file": self.secret("client-secret", "s3cret-1")}})

    def xoauth2_capture(self):
        return self.capture(extra=["--xoauth2-tokens", os.path.join(self.token_dir, "tokens")])

    def test_xoauth2_one_token_serves_many_messages(self):
        token_url = self.start_token_endpoint()
        with self.xoauth2_capture() as upstream, self.xoauth2_relay(upstream, token_url) as relay:
            for n in range(4):
                self.send(relay, f"oauth {n}")
            upstream.wait_for_messages(4)
            self.assertEqual(len(self.token_requests()), 1)
            self.assertNotIn("s3cret-1", relay.log_text())
            self.assertNotIn("tok-1", relay.log_text())

    def test_xoauth2_expired_token_is_refreshed(self):
        token_url = self.start_token_endpoint(expires_in=2)
        with self.xoauth2_capture() as upstream, \
                self.xoauth2_relay(upstream, token_url, idle_timeout="1s") as relay:
            self.send(relay, "first")
            upstream.wait_for_messages(1)
            self.assertEqual(len(self.token_requests()), 1)
            # Past the token's lifetime and the pooled connection's idle time (not a timing
            # assertion): the next message needs a new connection, hence a new token.
            time.sleep(2.5)
            self.send(relay, "second")
            upstream.wait_for_messages(2)
            self.assertEqual(len(self.token_requests()), 2)

    def test_xoauth2_535_refreshes_the_token_once_and_retries(self):
        token_url = self.start_token_endpoint(revoke_first=True)
        with self.xoauth2_capture() as upstream, self.xoauth2_relay(upstream, token_url) as relay:
            self.send(relay, "after refresh")
            [message] = upstream.wait_for_messages(1)
            self.assertEqual(len(self.token_requests()), 2)
            with open(os.path.join(self.token_dir, "tokens.auths")) as file:
                self.assertEqual(len(file.read().splitlines()), 2)
            self.assertEqual(relay.events("retry"), [])


if __name__ == "__main__":
    unittest.main()
