"""RFC 5321 on the wire, byte by byte, through raw sockets: pipelining, line limits, size limits,
dot-stuffing and SMTP smuggling (bare CR / LF around the end-of-data dot)."""

import os
import smtplib
import socket
import time
import unittest

from harness import (SENDER, CaptureUpstream, RawClient, Relay, drain_replies, queued_id,
                     dot_stuff, send_canary, simple_message, split_received, wait_for)

MAX_MESSAGE_SIZE = 100 * 1024
MAX_ERRORS = 5


class ProtocolTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.upstream = CaptureUpstream()
        cls.relay = Relay(upstream=cls.upstream, config={
            "server": {"max_errors": MAX_ERRORS},
            "limits": {"max_message_size": "100KiB"},
        })

    @classmethod
    def tearDownClass(cls):
        cls.relay.__exit__(None, None, None)
        cls.upstream.__exit__(None, None, None)

    def client(self):
        client = RawClient(self.relay.port)
        self.addCleanup(client.close)
        self.assertEqual(client.greeting[0], 220, client.greeting)
        return client

    def delivered_to(self, recipient):
        return [m for m in self.upstream.messages() if recipient in m.rcpt_tos]

    # -- pipelining ---------------------------------------------------------------------------

    def test_pipelined_commands_are_answered_in_order(self):
        client = self.client()
        client.send(b"EHLO client.test\r\nMAIL FROM:<" + SENDER.encode() + b">\r\n"
                    b"RCPT TO:<pipe1@example.org>\r\nRCPT TO:<nobody>\r\n"
                    b"RCPT TO:<pipe2@example.org>\r\nDATA\r\n")
        code, ehlo = client.reply()
        self.assertEqual(code, 250)
        self.assertIn("PIPELINING", ehlo)
        self.assertIn("8BITMIME", ehlo)
        self.assertIn("SMTPUTF8", ehlo)
        self.assertIn(f"SIZE {MAX_MESSAGE_SIZE}", ehlo)
        self.assertTrue(client.reply_line().startswith("250"))  # MAIL
        self.assertTrue(client.reply_line().startswith("250"))  # RCPT pipe1
        self.assertRegex(client.reply_line(), r"^5\d\d 5\.1\.\d ")  # RCPT without a domain
        self.assertTrue(client.reply_line().startswith("250"))  # RCPT pipe2
        self.assertTrue(client.reply_line().startswith("354"))
        message = simple_message(subject="pipelined")
        client.send(message + b".\r\nNOOP\r\nQUIT\r\n")
        final = client.reply_line()
        self.assertRegex(final, r"^250 2\.0\.0 Ok: queued as \S+$")
        self.assertTrue(client.reply_line().startswith("250"))  # NOOP
        self.assertTrue(client.reply_line().startswith("221"))
        self.assertTrue(client.wait_closed())
        delivered = self.upstream.wait_for_messages(1, where=lambda m: "pipe1@example.org" in m.rcpt_tos)
        self.assertEqual(sorted(r for m in delivered for r in m.rcpt_tos),
                         ["pipe1@example.org", "pipe2@example.org"])
        self.assertEqual(split_received(delivered[0].data)[1], message)

    # -- smuggling ----------------------------------------------------------------------------

    SMUGGLING_SEPARATORS = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\n", b"\r\n.\r", b"\r.\r\n", b"\n..\n"]

    def test_smuggled_end_of_data_never_splits_a_message(self):
        for index, separator in enumerate(self.SMUGGLING_SEPARATORS):
            with self.subTest(separator=separator):
                self._check_smuggling(index, separator)
        send_canary(self.relay, self.upstream, "after smuggling")
        for index in range(len(self.SMUGGLING_SEPARATORS)):
            victim = f"victim{index}@example.org"
            self.assertEqual(self.delivered_to(victim), [], f"the smuggled message to {victim} was delivered")
        smuggled = [m for m in self.upstream.messages() if m.mail_from == "evil@edomex.gob.mx"]
        self.assertEqual(smuggled, [])
        for index in range(len(self.SMUGGLING_SEPARATORS)):
            carriers = self.delivered_to(f"carrier{index}@example.org")
            self.assertLessEqual(len(carriers), 1, f"separator {index}: the upstream got {carriers}")

    def _check_smuggling(self, index, separator):
        client = self.client()
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
        self.assertTrue(client.command(f"RCPT TO:<carrier{index}@example.org>").startswith("250"))
        self.assertTrue(client.command("DATA").startswith("354"))
        smuggled = (b"MAIL FROM:<evil@edomex.gob.mx>\r\nRCPT TO:<victim" + str(index).encode()
                    + b"@example.org>\r\nDATA\r\nFrom: <evil@edomex.gob.mx>\r\nSubject: smuggled\r\n\r\nevil\r\n")
        client.send(simple_message(subject=f"carrier {index}") + b"innocent" + separator + smuggled
                    + b".\r\nQUIT\r\n")
        replies = drain_replies(client)
        queued = [r for r in replies if queued_id(r)]
        self.assertLessEqual(len(queued), 1, f"two transactions were accepted: {replies}")
        self.assertFalse([r for r in replies if r.startswith("354")], f"the smuggled DATA began: {replies}")
        # DESIGN.md: a bare CR or LF in DATA is refused (554 5.6.0, or 521 5.5.2 and close).
        self.assertTrue(replies and (replies[0].startswith("554 5.6.0") or replies[0].startswith("521 5.5.2")),
                        f"separator {separator!r}: {replies}")

    def test_bare_lf_in_a_command_is_refused_not_taken_as_a_line_end(self):
        client = self.client()
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        client.send(f"MAIL FROM:<{SENDER}>\nRCPT TO:<barelf@example.org>\r\n")
        first = client.reply_line()
        self.assertRegex(first or "", r"^5\d\d ", "a command with a bare LF was accepted")
        if not client.wait_closed(timeout=0.5):
            # The session goes on, and no transaction was begun by the half line.
            self.assertRegex(client.command("RCPT TO:<barelf@example.org>"), r"^503 5\.5\.1 ")
            self.assertTrue(client.command("NOOP").startswith("250"))

    # -- line and size limits -----------------------------------------------------------------

    def test_command_line_of_512_octets_is_accepted_and_longer_is_500_5_5_2(self):
        client = self.client()
        self.assertTrue(client.command("NOOP " + "x" * (512 - 7)).startswith("250"))  # 512 with CRLF
        self.assertRegex(client.command("NOOP " + "x" * 600), r"^500 5\.5\.2 ")
        self.assertRegex(client.command("NOOP " + "y" * 5000), r"^500 5\.5\.2 ")
        self.assertTrue(client.command("NOOP").startswith("250"), "the session did not recover")

    def test_text_line_over_1000_octets_is_refused_and_not_delivered(self):
        client = self.client()
        exact = b"e" * 998  # 1000 octets with CRLF: the limit itself is fine
        final = client.transaction(SENDER, ["longline-ok@example.org"],
                                   simple_message(subject="line 1000", body=exact + b"\r\n"))
        self.assertRegex(final, r"^250 2\.0\.0 Ok: queued as ")
        final = client.transaction(SENDER, ["longline@example.org"],
                                   simple_message(subject="line 1001", body=b"l" * 999 + b"\r\nnext\r\n"))
        self.assertRegex(final, r"^500 5\.5\.2 ")
        self.assertTrue(client.command("NOOP").startswith("250"))
        send_canary(self.relay, self.upstream, "after long line")
        self.assertEqual(self.delivered_to("longline@example.org"), [])
        delivered = self.delivered_to("longline-ok@example.org")
        self.assertEqual(len(delivered), 1)
        self.assertIn(b"\r\n" + exact + b"\r\n", delivered[0].data)

    def test_too_many_errors_get_421_and_close(self):
        client = self.client()
        replies = []
        for _ in range(MAX_ERRORS + 3):
            try:
                reply = client.command("XYZZY")
            except (BrokenPipeError, ConnectionResetError):
                break
            if reply is None:
                break
            replies.append(reply)
            if reply.startswith("421"):
                break
        self.assertTrue(all(r.startswith("500 5.5.1") for r in replies[:MAX_ERRORS - 1]), replies)
        self.assertTrue(replies[-1].startswith("421 4.7.0"), replies)
        self.assertIn(len(replies), (MAX_ERRORS, MAX_ERRORS + 1), replies)
        self.assertTrue(client.wait_closed(), "the session stayed open after 421")

    def test_size_parameter_over_the_limit_is_552_5_3_4(self):
        client = self.client()
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        reply = client.command(f"MAIL FROM:<{SENDER}> SIZE={MAX_MESSAGE_SIZE + 1}")
        self.assertRegex(reply, r"^552 5\.3\.4 ")
        self.assertIn(str(MAX_MESSAGE_SIZE), reply, "the refusal should state the limit in bytes")
        self.assertTrue(client.command(f"MAIL FROM:<{SENDER}> SIZE={MAX_MESSAGE_SIZE}").startswith("250"))

    def test_message_over_max_message_size_is_552_5_3_4_and_not_delivered(self):
        body = (b"z" * 76 + b"\r\n") * (MAX_MESSAGE_SIZE // 78 + 100)
        with smtplib.SMTP("127.0.0.1", self.relay.port, timeout=20) as client:
            client.ehlo("client.test")
            self.assertEqual(client.mail(SENDER)[0], 250)  # no SIZE= declared
            self.assertEqual(client.rcpt("toobig@example.org")[0], 250)
            code, text = client.data(simple_message(subject="too big", body=body))
            self.assertEqual((code, text[:5]), (552, b"5.3.4"), text)
            self.assertEqual(client.noop()[0], 250, "the session should go on after 552")
        send_canary(self.relay, self.upstream, "after too big")
        self.assertEqual(self.delivered_to("toobig@example.org"), [])

    # -- transparency -------------------------------------------------------------------------

    def test_dot_stuffed_lines_arrive_intact(self):
        body = b".\r\n..\r\n...three\r\n. space\r\nend.\r\n.\r\n\r\n.last\r\n"
        message = simple_message(subject="dots", body=body)
        client = self.client()
        final = client.transaction(SENDER, ["dots@example.org"], message)
        self.assertRegex(final, r"^250 2\.0\.0 Ok: queued as ")
        delivered = self.upstream.wait_for_messages(1, where=lambda m: "dots@example.org" in m.rcpt_tos)
        self.assertEqual(split_received(delivered[0].data)[1], message)


    def test_end_of_data_split_across_many_reads_is_still_found(self):
        client = self.client()
        client.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
        self.assertTrue(client.command("RCPT TO:<split@example.org>").startswith("250"))
        self.assertTrue(client.command("DATA").startswith("354"))
        message = simple_message(subject="split", body=b"a\r\n.hidden dot\r\nz\r\n")
        wire = dot_stuff(message) + b".\r\n"
        client.send(wire[:-40])
        for octet in wire[-40:]:  # one octet per segment across the "CRLF . CRLF"
            client.send(bytes([octet]))
            time.sleep(0.005)
        self.assertRegex(client.reply_line(), r"^250 2\.0\.0 Ok: queued as ")
        delivered = self.upstream.wait_for_messages(1, where=lambda m: "split@example.org" in m.rcpt_tos)
        self.assertEqual(split_received(delivered[0].data)[1], message)

    def test_message_of_exactly_max_message_size_is_accepted_and_one_octet_more_is_refused(self):
        def message_of(size, subject):
            head = simple_message(subject=subject, body=b"")
            filler = size - len(head)
            lines, rest = divmod(filler, 78)
            body = b"s" * 76 + b"\r\n"
            message = head + body * lines
            if rest:
                message = head + body * (lines - 1) + b"s" * (76 + rest) + b"\r\n"
            self.assertEqual(len(message), size)
            return message

        client = self.client()
        exact = message_of(MAX_MESSAGE_SIZE, "exact size")
        final = client.transaction(SENDER, ["exact@example.org"], exact)
        self.assertRegex(final, r"^250 2\.0\.0 Ok: queued as ", "a message of exactly max_message_size")
        final = client.transaction(SENDER, ["oneover@example.org"], message_of(MAX_MESSAGE_SIZE + 1, "one over"))
        self.assertRegex(final, r"^552 5\.3\.4 ", "one octet over max_message_size")
        send_canary(self.relay, self.upstream, "after exact size")
        self.assertEqual(self.delivered_to("oneover@example.org"), [])
        delivered = self.delivered_to("exact@example.org")
        self.assertEqual(len(delivered), 1)
        self.assertEqual(split_received(delivered[0].data)[1], exact)

    def test_bare_postmaster_is_accepted_and_routed_to_the_relays_postmaster(self):
        # RFC 5321 4.1.1.3: <Postmaster> without a domain must be accepted; the relay names itself.
        client = self.client()
        final = client.transaction(SENDER, ["Postmaster"], simple_message(subject="to postmaster"))
        self.assertRegex(final, r"^250 2\.0\.0 Ok: queued as ")
        hostname = self.relay.config["server"]["hostname"]
        expected = f"Postmaster@{hostname}"
        delivered = self.upstream.wait_for_messages(1, where=lambda m: expected in m.rcpt_tos)
        self.assertEqual(delivered[0].rcpt_tos, [expected])

    def test_rset_discards_the_transaction(self):
        client = self.client()
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
        self.assertTrue(client.command("RCPT TO:<discarded@example.org>").startswith("250"))
        self.assertTrue(client.command("RSET").startswith("250"))
        self.assertRegex(client.command("DATA"), r"^503 5\.5\.1 ")
        final = client.transaction(SENDER, ["kept@example.org"], simple_message(subject="after rset"))
        self.assertRegex(final, r"^250 2\.0\.0 Ok: queued as ")
        delivered = self.upstream.wait_for_messages(1, where=lambda m: "kept@example.org" in m.rcpt_tos)
        self.assertEqual(delivered[0].rcpt_tos, ["kept@example.org"])

    def test_client_that_disconnects_inside_data_leaves_nothing_behind(self):
        client = self.client()
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
        self.assertTrue(client.command("RCPT TO:<halfway@example.org>").startswith("250"))
        self.assertTrue(client.command("DATA").startswith("354"))
        client.send(simple_message(subject="half", body=b"x" * 70000 + b"\r\n"))
        sessions_before = len(self.relay.events("disconnect"))
        client.close()
        wait_for(lambda: len(self.relay.events("disconnect")) > sessions_before, 10, message="the session ended")
        incoming = os.path.join(self.relay.spool_directory, "incoming")
        wait_for(lambda: not os.listdir(incoming), 10, message=f"an empty {incoming}")
        send_canary(self.relay, self.upstream, "after disconnect")
        self.assertEqual(self.delivered_to("halfway@example.org"), [])

    def test_client_bytes_never_reach_the_log_raw(self):
        client = self.client()
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        client.send(b"NOOP \x01\x1b[31m\x7f\xff\r\n")
        client.reply_line()
        quoted = '"a b=c\\"d"@edomex.gob.mx'
        self.assertTrue(client.command(f"MAIL FROM:<{quoted}>").startswith("250"))
        self.assertRegex(client.command("RCPT TO:<bad\x1b[0m@example.org>"), r"^5\d\d ")
        self.assertTrue(client.command("RCPT TO:<quoted@example.org>").startswith("250"))
        self.assertTrue(client.command("DATA").startswith("354"))
        client.send(simple_message(subject="quoted sender", sender=quoted) + b".\r\n")
        final = client.reply_line()
        self.assertRegex(final, r"^250 2\.0\.0 Ok: queued as ")
        delivered = self.upstream.wait_for_messages(1, where=lambda m: "quoted@example.org" in m.rcpt_tos)
        self.assertEqual(delivered[0].mail_from, quoted)
        accept = self.relay.wait_for_event("accept", id=queued_id(final))[0]
        self.assertEqual(accept.get("from"), quoted, accept)
        with open(self.relay.log_path, "rb") as file:
            raw = file.read()
        for forbidden in (b"\x01", b"\x1b", b"\x7f", b"\r", b"\xff"):
            self.assertNotIn(forbidden, raw, f"raw {forbidden!r} in the log")
        for line in raw.decode("utf-8").splitlines():
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=\w+ event=\w+", line)


    def test_20000_pipelined_commands_are_all_answered(self):
        client = self.client()
        client.send(b"NOOP\r\n" * 20000)  # the relay must apply back-pressure, not stall or drop
        codes = [client.reply_line()[:3] for _ in range(20000)]
        self.assertEqual(set(codes), {"250"})
        self.assertTrue(client.command("QUIT").startswith("221"))

    def test_message_followed_by_a_half_close_is_still_acknowledged_and_delivered(self):
        client = self.client()
        self.assertTrue(client.command("EHLO client.test").startswith("250"))
        self.assertTrue(client.command(f"MAIL FROM:<{SENDER}>").startswith("250"))
        self.assertTrue(client.command("RCPT TO:<halfclose@example.org>").startswith("250"))
        self.assertTrue(client.command("DATA").startswith("354"))
        message = simple_message(subject="half close")
        client.send(message + b".\r\n")
        client.socket.shutdown(socket.SHUT_WR)
        replies = drain_replies(client)
        self.assertEqual(len(replies), 1, replies)
        self.assertRegex(replies[0], r"^250 2\.0\.0 Ok: queued as ")
        self.assertTrue(client.wait_closed())
        delivered = self.upstream.wait_for_messages(1, where=lambda m: "halfclose@example.org" in m.rcpt_tos)
        self.assertEqual(split_received(delivered[0].data)[1], message)


if __name__ == "__main__":
    unittest.main()
