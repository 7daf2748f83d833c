#include "policy_relay/server/received_header.hpp"

#include "policy_relay/util/rfc5322_date.hpp"

namespace policy_relay::server {

std::string received_header(const Envelope& envelope, const std::string& hostname,
                            ReceivedVia via) {
  std::string with = envelope.smtputf8 ? "UTF8SMTP" : via.esmtp ? "ESMTP" : "SMTP";
  if (with != "SMTP") {  // RFC 3848 registers the suffixes for ESMTP and UTF8SMTP only
    with += via.tls ? "S" : "";
    with += via.authenticated ? "A" : "";
  }
  std::string header = "Received: from ";
  header += envelope.helo.empty() ? std::string("unknown") : envelope.helo;
  header += " ([" + envelope.client_address + "])\r\n\tby " + hostname + " (policy-relay) with ";
  header += with;
  header += " id " + envelope.id + "\r\n\t";
  if (envelope.recipients.size() == 1) {
    header += "for <" + envelope.recipients.front() + ">; ";
  }
  header += util::format_rfc5322_date(envelope.received_at) + "\r\n";
  return header;
}

}  // namespace policy_relay::server
