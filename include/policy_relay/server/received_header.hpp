#pragma once

#include <cstdint>
#include <string>

#include "policy_relay/envelope.hpp"

namespace policy_relay::server {

// The trace header the relay prepends to every accepted message (RFC 5321 4.4), e.g.
//   Received: from client.example ([192.0.2.1])\r\n
//   \tby relay.edomex.gob.mx (policy-relay) with ESMTP id 6A1B2C3D4E5F6\r\n
//   \tfor <b@example.org>; Sun, 29 Nov 2026 04:40:35 +0000\r\n
// "with" is SMTP, ESMTP or UTF8SMTP (RFC 5321, RFC 6531 3.7.3), with the RFC 3848 suffixes:
// S when the session ran over TLS, A when the client authenticated (ESMTPS, ESMTPSA,
// UTF8SMTPSA, ...). "for" only with one recipient (naming more would disclose Bcc
// recipients). No DNS lookup is made for the client.
struct ReceivedVia {
  bool esmtp = false;          // the client said EHLO
  bool tls = false;            // STARTTLS or implicit TLS (RFC 8314)
  bool authenticated = false;  // SMTP AUTH succeeded (RFC 4954)
};
std::string received_header(const Envelope& envelope, const std::string& hostname, ReceivedVia via);

}  // namespace policy_relay::server
