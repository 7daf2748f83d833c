#!/usr/bin/python3
"""A test-only OAuth 2.0 token endpoint (client-credentials flow, RFC 6749 4.4) over HTTPS.

    /usr/bin/python3 token_endpoint.py --cert PEM --key PEM --dir DIR --client-id ID
        --secret SECRET --scope SCOPE [--expires-in N] [--revoke-first]

Prints its port once it listens. Checks grant_type, client_id, client_secret and scope (else 400
or 401 with an RFC 6749 5.2 error); issues "tok-N" tokens valid for --expires-in seconds. Every
request is appended to DIR/requests; every token the upstream should accept to DIR/tokens
(--revoke-first: the first token is issued but never accepted, as if revoked)."""

import argparse
import http.server
import json
import os
import ssl
import sys
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    for name in ("--cert", "--key", "--dir", "--client-id", "--secret", "--scope"):
        parser.add_argument(name, required=True)
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--revoke-first", action="store_true")
    arguments = parser.parse_args()
    state = {"issued": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            with open(os.path.join(arguments.dir, "requests"), "a") as file:
                file.write(json.dumps({"path": self.path, "client_id": form.get("client_id")}) + "\n")
            if form.get("grant_type") != ["client_credentials"]:
                return self.reply(400, {"error": "unsupported_grant_type"})
            if (form.get("client_id") != [arguments.client_id]
                    or form.get("client_secret") != [arguments.secret]):
                return self.reply(401, {"error": "invalid_client"})
            if form.get("scope") != [arguments.scope]:
                return self.reply(400, {"error": "invalid_scope"})
            state["issued"] += 1
            token = f"tok-{state['issued']}"
            if not (arguments.revoke_first and state["issued"] == 1):
                with open(os.path.join(arguments.dir, "tokens"), "a") as file:
                    file.write(token + "\n")
            self.reply(200, {"token_type": "Bearer", "expires_in": arguments.expires_in,
                             "access_token": token})

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(arguments.cert, arguments.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
