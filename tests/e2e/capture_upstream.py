#!/usr/bin/python3
"""A real SMTP server that stands in for the relay's upstream in end-to-end tests.

Run as its own process so that a test can stop, kill and restart it:

    /usr/bin/python3 capture_upstream.py --dir DIR [--port N]
        [--rcpt 'PATTERN=REPLY' ...] [--data 'PATTERN=REPLY' ...] [--data-times N]

It speaks SMTP through aiosmtpd (decode_data=False, SMTPUTF8 enabled, so EHLO advertises
SIZE, 8BITMIME, SMTPUTF8 and PIPELINING as aiosmtpd does) on 127.0.0.1, and prints the bound
port on stdout, alone on one line, once it accepts connections.

Every accepted transaction becomes two files in DIR, both renamed into place:
    SEQ.eml   the message octets exactly as received (after dot-unstuffing, CRLF kept)
    SEQ.json  {"seq", "mail_from" ("" for <>), "rcpt_tos", "mail_options", "rcpt_options", "helo",
               "peer", "size", "received_at", "pid"}; written after SEQ.eml, so a reader that
               sees SEQ.json can rely on SEQ.eml.
SEQ sorts in arrival order, also across restarts of the server on the same DIR.

Rules (shell-style patterns matched against the lower-cased recipient address):
    --rcpt '*@gone.example=550 5.1.1 No such user'   answer RCPT with this reply
    --data '*@slow.example=451 4.3.0 Try again'      answer DATA with this reply when any
                                                     accepted recipient matches
    --rcpt-times N   each --rcpt rule fires for the first N matching recipients only
    --data-times N   each --data rule fires for the first N matching transactions only
                     (0, the default, means always, for both)
    --stall SECONDS  the first --stall-times DATA commands (default 1) wait this long before
                     answering "451 4.4.2 Stalled" (not stored): an upstream that hangs
TLS and AUTH (an upstream like Microsoft 365's submission endpoint):
    --tls-cert PEM --tls-key PEM   offer STARTTLS and require it before MAIL
    --auth USER:PASSWORD           require AUTH (PLAIN or LOGIN, only over TLS)
    --xoauth2-tokens FILE          also offer XOAUTH2: a token is valid while it is a line of
                                   FILE (the test's token endpoint writes it); each AUTH is
                                   counted in FILE.auths
Refused transactions are not stored; each refusal is printed to stderr.
"""

import argparse
import asyncio
import fnmatch
import json
import os
import signal
import sys
import time

import base64
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_rule(text):
    pattern, separator, reply = text.partition("=")
    if not separator or not reply[:3].isdigit():
        raise argparse.ArgumentTypeError(f"rule {text!r} is not PATTERN=CODE TEXT")
    return pattern.lower(), reply


class CaptureHandler:
    def __init__(self, directory, rcpt_rules, data_rules, rcpt_times, data_times, stall,
                 stall_times):
        self.directory = directory
        self.stall = stall
        self.stall_times = stall_times
        self.rcpt_rules = rcpt_rules
        self.data_rules = data_rules
        self.rcpt_times = rcpt_times
        self.data_times = data_times
        self.rcpt_fired = [0] * len(rcpt_rules)
        self.data_fired = [0] * len(data_rules)
        self.sequence = 0
        self.xoauth2_tokens = None

    @staticmethod
    def _matches(pattern, address):
        return fnmatch.fnmatchcase(address.lower(), pattern)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        for index, (pattern, reply) in enumerate(self.rcpt_rules):
            if self.rcpt_times and self.rcpt_fired[index] >= self.rcpt_times:
                continue
            if self._matches(pattern, address):
                self.rcpt_fired[index] += 1
                print(f"capture: RCPT {address} -> {reply}", file=sys.stderr, flush=True)
                return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    def _data_refusal(self, envelope):
        for index, (pattern, reply) in enumerate(self.data_rules):
            if self.data_times and self.data_fired[index] >= self.data_times:
                continue
            if any(self._matches(pattern, rcpt) for rcpt in envelope.rcpt_tos):
                self.data_fired[index] += 1
                return reply
        return None

    async def handle_DATA(self, server, session, envelope):
        if self.stall and self.stall_times > 0:
            self.stall_times -= 1
            print(f"capture: DATA {envelope.rcpt_tos} stalls {self.stall}s", file=sys.stderr, flush=True)
            await asyncio.sleep(self.stall)
            return "451 4.4.2 Stalled"
        refusal = self._data_refusal(envelope)
        if refusal is not None:
            print(f"capture: DATA {envelope.rcpt_tos} -> {refusal}", file=sys.stderr, flush=True)
            return refusal
        self.sequence += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self.sequence:06d}"
        content = envelope.original_content or b""
        record = {
            "seq": name,
            "mail_from": "" if envelope.mail_from == "<>" else envelope.mail_from,  # aiosmtpd keeps <>
            "rcpt_tos": list(envelope.rcpt_tos),
            "mail_options": list(envelope.mail_options),
            "rcpt_options": list(envelope.rcpt_options),
            "helo": session.host_name,
            "peer": list(session.peer) if session.peer else None,
            "size": len(content),
            "received_at": time.time(),
            "pid": os.getpid(),
        }
        self._write_atomically(name + ".eml", content)
        self._write_atomically(name + ".json", json.dumps(record, ensure_ascii=False).encode())
        return f"250 2.0.0 Ok: captured as {name}"

    async def auth_XOAUTH2(self, server, args):
        """Microsoft's SASL XOAUTH2: base64("user=U^Aauth=Bearer T^A^A")."""
        tokens_file = self.xoauth2_tokens
        if tokens_file is None or len(args) != 2:
            return AuthResult(success=False, handled=False)
        with open(tokens_file + ".auths", "a") as file:
            file.write("x\n")
        try:
            fields = base64.b64decode(args[1]).decode().split("\x01")
            user = fields[0].removeprefix("user=")
            token = fields[1].removeprefix("auth=Bearer ")
        except (ValueError, IndexError):
            return AuthResult(success=False, handled=False)
        try:
            with open(tokens_file) as file:
                valid = set(file.read().split())
        except OSError:
            valid = set()
        if token in valid and user:
            return AuthResult(success=True, auth_data=user)
        await server.push("334 eyJzdGF0dXMiOiI0MDEifQ==")  # Microsoft sends its error as JSON
        await server._reader.readline()
        await server.push("535 5.7.3 Authentication unsuccessful")
        return AuthResult(success=False, handled=True)

    def _write_atomically(self, name, data):
        final_path = os.path.join(self.directory, name)
        temporary_path = final_path + ".tmp"
        # No fsync: the capture outlives the relay's crashes, not the machine's; rename keeps
        # readers from seeing half a file.
        with open(temporary_path, "wb") as file:
            file.write(data)
        os.rename(temporary_path, final_path)


async def serve(arguments):
    handler = CaptureHandler(arguments.dir, arguments.rcpt, arguments.data, arguments.rcpt_times,
                             arguments.data_times, arguments.stall, arguments.stall_times)
    loop = asyncio.get_running_loop()

    handler.xoauth2_tokens = arguments.xoauth2_tokens
    tls_context = None
    if arguments.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(arguments.tls_cert, arguments.tls_key)
    credentials = None
    if arguments.auth:
        user, _, password = arguments.auth.partition(":")
        credentials = (user.encode(), password.encode())

    def authenticator(server, session, envelope, mechanism, data):
        if isinstance(data, LoginPassword) and credentials is not None:
            ok = (data.login, data.password) == credentials
            print(f"capture: AUTH {mechanism} {'ok' if ok else 'refused'}", file=sys.stderr, flush=True)
            return AuthResult(success=ok)
        return AuthResult(success=False, handled=False)

    def make_protocol():
        extra = {}
        if tls_context is not None:
            extra.update(tls_context=tls_context, require_starttls=True)
        if credentials is not None or arguments.xoauth2_tokens:
            extra.update(authenticator=authenticator, auth_required=True, auth_require_tls=True)
        return SMTP(handler, hostname="capture.test", decode_data=False, enable_SMTPUTF8=True,
                    data_size_limit=arguments.max_size, **extra)

    server = await loop.create_server(make_protocol, host="127.0.0.1", port=arguments.port,
                                      reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, help="where transactions are stored")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--rcpt", type=parse_rule, action="append", default=[])
    parser.add_argument("--data", type=parse_rule, action="append", default=[])
    parser.add_argument("--rcpt-times", type=int, default=0)
    parser.add_argument("--data-times", type=int, default=0)
    parser.add_argument("--stall", type=float, default=0.0)
    parser.add_argument("--stall-times", type=int, default=1)
    parser.add_argument("--max-size", type=int, default=64 * 1024 * 1024)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--auth")
    parser.add_argument("--xoauth2-tokens")
    arguments = parser.parse_args()
    os.makedirs(arguments.dir, exist_ok=True)
    asyncio.run(serve(arguments))


if __name__ == "__main__":
    main()
