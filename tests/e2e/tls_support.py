"""TLS and AUTH helpers for the end-to-end tests: a throw-away CA and certificates made with the
openssl CLI at test time, users files written by the real `policy-relayctl passwd`, and an SMTP
client socket that can switch to TLS.

    pki = TestPki(directory)                       # CA + relay certificate (localhost, 127.0.0.1)
    cert, key = pki.issue("upstream", ["DNS:localhost", "IP:127.0.0.1"])
    write_user(users_path, "juan@edomex.gob.mx", "password1", aliases=["ventas@edomex.gob.mx"])
"""

import os
import socket
import ssl
import subprocess

from harness import RawClient

OPENSSL = "openssl"


def relayctl_path():
    path = os.environ.get("POLICY_RELAYCTL", "")
    if not path or not os.access(path, os.X_OK):
        raise RuntimeError(f"POLICY_RELAYCTL={path!r} is not an executable policy-relayctl")
    return path


def _run(arguments, **kwargs):
    result = subprocess.run(arguments, capture_output=True, timeout=60, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{arguments[0]} failed: {result.stderr.decode(errors='replace')}")
    return result


class TestPki:
    """A CA and the certificates it issues, as PEM files in `directory` (EC P-256, 2 days)."""

    def __init__(self, directory):
        self.directory = directory
        os.makedirs(directory, exist_ok=True)
        self.ca_key = os.path.join(directory, "ca.key")
        self.ca_file = os.path.join(directory, "ca.pem")
        _run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
              "-nodes", "-keyout", self.ca_key, "-out", self.ca_file, "-days", "2",
              "-subj", "/CN=policy-relay test CA",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self.relay_cert, self.relay_key = self.issue("relay", ["DNS:localhost", "DNS:relay.test",
                                                              "IP:127.0.0.1"])

    def issue(self, name, names):
        key = os.path.join(self.directory, f"{name}.key")
        csr = os.path.join(self.directory, f"{name}.csr")
        cert = os.path.join(self.directory, f"{name}.pem")
        extensions = os.path.join(self.directory, f"{name}.ext")
        with open(extensions, "w") as file:
            file.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                       f"subjectAltName={','.join(names)}\n")
        _run([OPENSSL, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", key, "-out", csr, "-subj", f"/CN={name}"])
        _run([OPENSSL, "x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", self.ca_key,
              "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", extensions])
        return cert, key

    def client_context(self):
        context = ssl.create_default_context(cafile=self.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        return context


def write_user(users_file, user, password, aliases=None):
    """`policy-relayctl passwd --file USERS [--aliases ...] USER` with the password on stdin."""
    arguments = [relayctl_path(), "passwd", "--file", users_file]
    if aliases is not None:
        arguments += ["--aliases", ",".join(aliases)]
    arguments.append(user)
    return _run(arguments, input=(password + "\n").encode())


def tls_config(pki, users_file, **auth):
    """The [tls] and [auth] sections for a relay with this PKI and users file."""
    return {"tls": {"certificate": pki.relay_cert, "private_key": pki.relay_key},
            "auth": dict({"users_file": users_file}, **auth)}


class TlsRawClient(RawClient):
    """RawClient that can switch its socket to TLS (after a 220 to STARTTLS, or at once)."""

    def start_tls(self, context, server_hostname="localhost"):
        assert self.buffer == b"", f"plaintext left before the handshake: {self.buffer!r}"
        self.socket = context.wrap_socket(self.socket, server_hostname=server_hostname)

    @classmethod
    def implicit(cls, port, context, source="127.0.0.1", timeout=10.0):
        client = cls.__new__(cls)
        client.timeout = timeout
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                       source_address=(source, 0))
        client.socket = context.wrap_socket(raw, server_hostname="localhost")
        client.buffer = b""
        client.eof = False
        client.greeting = client.reply()
        return client
