"""server.proxy_protocol on the wire (issue 7 item 2): the client a PROXY v1/v2 header names is
the one the logs and per-IP limits use; headers from outside proxy_networks, malformed or late
ones close the connection with a log line and the relay goes on serving."""

import socket
import struct
import time
import unittest

from harness import CaptureUpstream, Relay, wait_for

SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_ipv4(source, source_port, destination="127.0.0.1", destination_port=25):
    body = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack(
        "!HH", source_port, destination_port)
    return SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def v2_ipv6(source, source_port):
    body = (socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, "::1") +
            struct.pack("!HH", source_port, 25))
    return SIGNATURE + bytes([0x21, 0x21]) + struct.pack("!H", len(body)) + body


class Connection:
    def __init__(self, port, header):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=15)
        if header:
            self.socket.sendall(header)
        self.buffer = b""

    def line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.socket.recv(4096)
            if not chunk:
                return self.buffer
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def reply(self):
        """The last line of the next (possibly multi-line) reply."""
        while True:
            line = self.line()
            if line[3:4] != b"-":
                return line

    def command(self, text):
        self.socket.sendall(text.encode() + b"\r\n")
        return self.reply()

    def closed(self):
        """True when the relay closed the connection without sending anything."""
        try:
            return self.socket.recv(4096) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.socket.close()


class ProxyProtocolTest(unittest.TestCase):
    def relay(self, **server):
        upstream = self.enterContext(CaptureUpstream())
        settings = {"proxy_protocol": True, "proxy_networks": ["127.0.0.0/8"],
                    "proxy_timeout": "1s"}
        settings.update(server)
        return self.enterContext(Relay(upstream=upstream, config={"server": settings})), upstream

    def test_v1_and_v2_headers_name_the_client_in_the_log_and_the_delivered_message(self):
        # Trusted networks see the reported client: these may submit without AUTH.
        relay, upstream = self.relay(trusted_networks=["203.0.113.0/24", "198.51.100.0/24",
                                                       "2001:db8::/32"])
        headers = [b"PROXY TCP4 203.0.113.7 127.0.0.1 40001 25\r\n",
                   b"PROXY TCP6 2001:db8::7 ::1 40002 25\r\n",
                   v2_ipv4("198.51.100.9", 40003),
                   v2_ipv6("2001:db8::9", 40004)]
        for header in headers:
            connection = Connection(relay.port, header)
            self.assertTrue(connection.reply().startswith(b"220 "))
            self.assertTrue(connection.command("EHLO client.test").startswith(b"250 "))
            self.assertTrue(connection.command("MAIL FROM:<a@edomex.gob.mx>").startswith(b"250"))
            self.assertTrue(connection.command("RCPT TO:<b@example.org>").startswith(b"250"))
            self.assertTrue(connection.command("DATA").startswith(b"354"))
            self.assertTrue(connection.command("Subject: x\r\n\r\nbody\r\n.").startswith(b"250"))
            connection.command("QUIT")
            connection.close()
        clients = ["203.0.113.7:40001", "[2001:db8::7]:40002", "198.51.100.9:40003",
                   "[2001:db8::9]:40004"]
        for client in clients:
            event = relay.wait_for_event("connect", client=client)[0]
            self.assertTrue(event["via"].startswith("127.0.0.1:"), event)
        # A reported client outside trusted_networks is not trusted, though the proxy is.
        stranger = Connection(relay.port, v2_ipv4("192.0.2.99", 40005))
        self.assertTrue(stranger.reply().startswith(b"220 "))
        stranger.command("EHLO client.test")
        self.assertTrue(stranger.command("MAIL FROM:<a@edomex.gob.mx>").startswith(b"530 5.7.0"))
        stranger.close()
        delivered = upstream.wait_for_messages(4)
        received = b"".join(m.data.split(b"\r\n\r\n")[0] for m in delivered)
        for address in [b"203.0.113.7", b"2001:db8::7", b"198.51.100.9", b"2001:db8::9"]:
            self.assertIn(address, received)

    def test_per_ip_limits_count_the_reported_client_not_the_proxy(self):
        relay, _ = self.relay(max_connections_per_ip=1)
        first = Connection(relay.port, b"PROXY TCP4 203.0.113.1 127.0.0.1 1000 25\r\n")
        self.assertTrue(first.reply().startswith(b"220 "))
        other = Connection(relay.port, b"PROXY TCP4 203.0.113.2 127.0.0.1 1000 25\r\n")
        self.assertTrue(other.reply().startswith(b"220 "))  # another client behind the proxy
        same = Connection(relay.port, b"PROXY TCP4 203.0.113.1 127.0.0.1 1001 25\r\n")
        self.assertTrue(same.reply().startswith(b"421 4.7.0"))
        relay.wait_for_event("reject", rule="max_connections_per_ip", client="203.0.113.1:1001")
        for connection in (first, other, same):
            connection.close()

    def test_bad_late_or_foreign_headers_close_the_connection_and_the_relay_goes_on(self):
        relay, _ = self.relay()
        cases = [b"EHLO client.test\r\n",                       # no header at all
                 b"PROXY TCP4 203.0.113.7 127.0.0.1 99999 25\r\n",  # bad port
                 b"PROXY UNKNOWN " + b"x" * 200 + b"\r\n",         # oversized v1
                 SIGNATURE + bytes([0x21, 0x11, 0xFF, 0xFF])]      # v2 length over the bound
        for header in cases:
            connection = Connection(relay.port, header)
            self.assertTrue(connection.closed(), header)
            connection.close()
        slow = Connection(relay.port, b"PROXY TCP4 203.0.")  # never finished: proxy_timeout 1s
        self.assertTrue(slow.closed())
        slow.close()
        errors = relay.wait_for_event("proxy_error", count=5)
        self.assertTrue(any("proxy_timeout" in e.get("error", "") for e in errors), errors)
        # LOCAL (a health check) and a proper header still work afterwards.
        local = Connection(relay.port, SIGNATURE + bytes([0x20, 0x00, 0x00, 0x00]))
        self.assertTrue(local.reply().startswith(b"220 "))
        local.close()
        good = Connection(relay.port, v2_ipv4("192.0.2.50", 5000))
        self.assertTrue(good.reply().startswith(b"220 "))
        good.close()
        self.assertTrue(relay.running())

    def test_connections_from_outside_proxy_networks_are_closed(self):
        relay, _ = self.relay(proxy_networks=["10.0.0.0/8"])
        connection = Connection(relay.port, b"PROXY TCP4 203.0.113.7 127.0.0.1 1 25\r\n")
        self.assertTrue(connection.closed())
        connection.close()
        event = relay.wait_for_event("reject", rule="proxy_networks")[0]
        self.assertEqual(event["level"], "warn")


if __name__ == "__main__":
    unittest.main()
