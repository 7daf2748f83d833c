"""Client side TLS and AUTH on the wire (POLICY VII.1; RFC 3207, RFC 8314, RFC 4954): swaks with
--tls and --tlsc, openssl s_client -starttls smtp, Python smtplib and raw sockets against the real
daemon, with certificates made at test time, asserting on replies, the log and what the capture
upstream received."""

import base64
import os
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from harness import CaptureUpstream, Relay, queued_id, simple_message
from tls_support import TestPki, TlsRawClient, tls_config, write_user

JUAN = "juan@edomex.gob.mx"
JUAN_PASSWORD = "juan-secret-1"
ALIAS = "ventas@edomex.gob.mx"
UNTRUSTED = "127.0.0.2"  # trusted_networks is 127.0.0.1/32 only


def plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


class TlsAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.temp = tempfile.mkdtemp(prefix="policy-relay-e2e-tls-")
        cls.pki = TestPki(os.path.join(cls.temp, "pki"))
        cls.users = os.path.join(cls.temp, "users")
        write_user(cls.users, JUAN, JUAN_PASSWORD, aliases=[ALIAS])
        write_user(cls.users, "maria@edomex.gob.mx", "maria-secret-1")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.temp, ignore_errors=True)

    def relay(self, upstream, listen_tls=False, auth=None, limits=None, **server):
        config = tls_config(self.pki, self.users, **(auth or {}))
        config["server"] = dict({"trusted_networks": ["127.0.0.1/32"]}, **server)
        if listen_tls:
            config["server"]["listen_tls"] = ["127.0.0.1:0"]
        if limits:
            config["limits"] = limits
        return Relay(upstream=upstream, config=config)

    def smtp_login(self, relay, user=JUAN, password=JUAN_PASSWORD):
        client = smtplib.SMTP("127.0.0.1", relay.port, timeout=20, source_address=(UNTRUSTED, 0))
        client.ehlo("client.test")
        client.starttls(context=self.pki.client_context())
        client.ehlo("client.test")
        client.login(user, password)
        return client

    def assert_password_never_logged(self, relay, *passwords):
        text = relay.log_text()
        for password in passwords:
            self.assertNotIn(password, text)
            self.assertNotIn(plain(JUAN, password), text)

    # -- swaks ----------------------------------------------------------------------------------

    def swaks(self, relay, port, *options, sender=JUAN, password=JUAN_PASSWORD):
        arguments = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--local-interface",
                     UNTRUSTED, "--from", sender, "--to", "rcpt@example.org", "--helo", "client.test",
                     "--auth", "PLAIN", "--auth-user", JUAN, "--auth-password", password,
                     "--tls-ca-path", self.pki.ca_file, "--tls-verify",
                     "--header", f"Subject: swaks {' '.join(options)}", "--timeout", "20"]
        return subprocess.run(arguments + list(options), capture_output=True, timeout=60, text=True)

    def test_swaks_starttls_auth_right_delivers_and_wrong_gets_535(self):
        with CaptureUpstream() as upstream, self.relay(upstream, auth={"failure_delay": "100ms"}) as relay:
            good = self.swaks(relay, relay.port, "--tls")
            self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
            self.assertIn("<~  235 2.7.0", good.stdout)
            self.assertIn("250 2.0.0 Ok: queued as", good.stdout)
            [message] = upstream.wait_for_messages(1)
            self.assertEqual(message.mail_from, JUAN)
            self.assertIn(b"Subject: swaks --tls", message.data)
            # RFC 3848: the trace header says the submission was over TLS and authenticated.
            self.assertRegex(message.data.split(b"\r\n\r\n", 1)[0],
                             rb"Received: from [^\r]*\r\n\tby [^\r]* with ESMTPSA id ")
            relay.wait_for_event("auth", user=JUAN, result="ok")

            bad = self.swaks(relay, relay.port, "--tls", password="wrong-password")
            self.assertNotEqual(bad.returncode, 0)
            self.assertIn("<~* 535 5.7.8 Authentication credentials invalid", bad.stdout)
            relay.wait_for_event("auth", user=JUAN, result="fail")
            self.assert_password_never_logged(relay, JUAN_PASSWORD, "wrong-password")

    def test_swaks_implicit_tls_on_listen_tls(self):
        with CaptureUpstream() as upstream, self.relay(upstream, listen_tls=True) as relay:
            [listening] = relay.events("listening", tls="implicit")
            port = int(listening["address"].rsplit(":", 1)[1])
            result = self.swaks(relay, port, "--tlsc")
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn("235 2.7.0", result.stdout)
            upstream.wait_for_messages(1)
            relay.wait_for_event("tls", mode="implicit")

    # -- openssl s_client -----------------------------------------------------------------------

    def test_openssl_s_client_starttls_auth_and_send(self):
        with CaptureUpstream() as upstream, self.relay(upstream) as relay:
            script = (f"EHLO client.test\nAUTH PLAIN {plain(JUAN, JUAN_PASSWORD)}\n"
                      f"MAIL FROM:<{JUAN}>\nRCPT TO:<rcpt@example.org>\nDATA\n"
                      "Subject: s_client\n\nvia openssl s_client\n.\nQUIT\n")
            result = subprocess.run(
                ["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{relay.port}",
                 "-CAfile", self.pki.ca_file, "-verify_return_error", "-verify_hostname", "localhost",
                 "-crlf", "-quiet", "-nocommands"],
                input=script, capture_output=True, text=True, timeout=60)
            self.assertIn("235 2.7.0", result.stdout, result.stdout + result.stderr)
            self.assertIn("250 2.0.0 Ok: queued as", result.stdout)
            [message] = upstream.wait_for_messages(1)
            self.assertIn(b"via openssl s_client", message.data)

    # -- raw sockets ----------------------------------------------------------------------------

    def test_auth_before_tls_is_neither_advertised_nor_accepted(self):
        with CaptureUpstream() as upstream, self.relay(upstream) as relay:
            with TlsRawClient(relay.port, source=UNTRUSTED) as client:
                client.send("EHLO client.test\r\n")
                code, lines = client.reply()
                self.assertEqual(code, 250)
                self.assertIn("STARTTLS", lines)
                self.assertFalse([line for line in lines if line.startswith("AUTH")], lines)
                self.assertEqual(client.command(f"AUTH PLAIN {plain(JUAN, JUAN_PASSWORD)}"),
                                 "530 5.7.0 Must issue a STARTTLS command first")
                self.assertEqual(client.command(f"MAIL FROM:<{JUAN}>"),
                                 "530 5.7.0 Authentication required")
                self.assertEqual(client.command("STARTTLS"), "220 2.0.0 Ready to start TLS")
                client.start_tls(self.pki.client_context())
                client.send("EHLO client.test\r\n")
                code, lines = client.reply()
                self.assertIn("AUTH PLAIN LOGIN", lines)
                self.assertNotIn("STARTTLS", lines)
            self.assertEqual(relay.events("auth"), [])

    def test_commands_pipelined_after_starttls_are_not_executed(self):
        with CaptureUpstream() as upstream, self.relay(upstream) as relay:
            with TlsRawClient(relay.port, source="127.0.0.1") as client:  # trusted: MAIL would pass
                client.command("EHLO client.test")
                client.send("STARTTLS\r\nMAIL FROM:<injected@edomex.gob.mx>\r\n")
                self.assertEqual(client.reply_line(), "220 2.0.0 Ready to start TLS")
                client.start_tls(self.pki.client_context())
                client.send("EHLO client.test\r\n")
                code, lines = client.reply()
                self.assertEqual(code, 250)
                self.assertEqual(lines[0], "relay.test")  # the EHLO's answer, not the MAIL's
                # No transaction was opened by the injected MAIL.
                self.assertEqual(client.command("RCPT TO:<rcpt@example.org>"),
                                 "503 5.5.1 Error: need MAIL command")
            self.assertNotIn("injected@", relay.log_text())

    # -- lockout --------------------------------------------------------------------------------

    def test_repeated_failures_lock_the_address_out_with_421(self):
        auth = {"max_failures": 3, "failure_delay": "100ms", "lockout": "1h"}
        with CaptureUpstream() as upstream, self.relay(upstream, auth=auth) as relay:
            replies = []
            for attempt in range(3):
                with TlsRawClient(relay.port, source=UNTRUSTED) as client:
                    client.command("EHLO client.test")
                    client.command("STARTTLS")
                    client.start_tls(self.pki.client_context())
                    client.command("EHLO client.test")
                    replies.append(client.command(f"AUTH PLAIN {plain(JUAN, f'guess-{attempt}')}"))
            self.assertEqual(replies[:2], ["535 5.7.8 Authentication credentials invalid"] * 2)
            self.assertTrue(replies[2].startswith("421 4.7.0 "), replies)
            self.assertIn("Too many failed logins", replies[2])
            # Locked: even the right password is refused now, and the connection closed.
            with TlsRawClient(relay.port, source=UNTRUSTED) as client:
                client.command("EHLO client.test")
                client.command("STARTTLS")
                client.start_tls(self.pki.client_context())
                client.command("EHLO client.test")
                self.assertTrue(client.command(f"AUTH PLAIN {plain(JUAN, JUAN_PASSWORD)}")
                                .startswith("421 4.7.0"))
                self.assertTrue(client.wait_closed())
            [lockout] = relay.events("auth_lockout")
            self.assertEqual(lockout["client"], UNTRUSTED)
            self.assertEqual(len(relay.events("auth", result="fail")), 3)
            relay.wait_for_event("auth", result="locked")
            self.assert_password_never_logged(relay, JUAN_PASSWORD, "guess-0", "guess-1", "guess-2")
            self.assertEqual(upstream.messages(), [])

    # -- identity -------------------------------------------------------------------------------

    def test_spoofed_sender_is_refused_and_an_alias_accepted(self):
        with CaptureUpstream() as upstream, self.relay(upstream) as relay:
            client = self.smtp_login(relay)
            code, text = client.mail("maria@edomex.gob.mx")
            self.assertEqual(code, 550)
            self.assertIn(b"5.7.1", text)
            self.assertIn(b"juan@edomex.gob.mx may not send as this address", text)
            client.rset()
            refused = client.sendmail(ALIAS, ["rcpt@example.org"], simple_message(sender=ALIAS))
            self.assertEqual(refused, {})
            client.quit()
            [message] = upstream.wait_for_messages(1)
            self.assertEqual(message.mail_from, ALIAS)
            [reject] = relay.events("reject", rule="sender_identity")
            self.assertEqual(reject["clause"], "VII.1")

    def test_limits_count_against_the_auth_user_whatever_the_sender(self):
        limits = {"messages_per_minute": 1, "rate_action": "defer"}
        with CaptureUpstream() as upstream, self.relay(upstream, limits=limits) as relay:
            client = self.smtp_login(relay)
            client.sendmail(ALIAS, ["rcpt@example.org"], simple_message(sender=ALIAS))
            code, text = client.mail(JUAN)  # another of juan's addresses: the same identity
            self.assertEqual(code, 451, text)
            self.assertIn(b"4.7.1", text)
            client.quit()
            upstream.wait_for_messages(1)

    # -- trusted networks -----------------------------------------------------------------------

    def test_trusted_network_submits_without_auth_and_others_must_auth(self):
        with CaptureUpstream() as upstream, self.relay(upstream) as relay:
            with TlsRawClient(relay.port, source="127.0.0.1") as trusted:
                reply = trusted.transaction("scanner@edomex.gob.mx", ["rcpt@example.org"],
                                            simple_message(sender="scanner@edomex.gob.mx"))
                self.assertIsNotNone(queued_id(reply), reply)
            with TlsRawClient(relay.port, source=UNTRUSTED) as untrusted:
                untrusted.command("EHLO client.test")
                self.assertEqual(untrusted.command("MAIL FROM:<scanner@edomex.gob.mx>"),
                                 "530 5.7.0 Authentication required")
            [message] = upstream.wait_for_messages(1)
            self.assertEqual(message.mail_from, "scanner@edomex.gob.mx")
            self.assertIn(b" with ESMTP id ", message.data)  # plaintext, no AUTH (RFC 3848)
            [reject] = relay.events("reject", rule="auth_required")
            self.assertEqual(reject["client"], UNTRUSTED)


if __name__ == "__main__":
    unittest.main()
