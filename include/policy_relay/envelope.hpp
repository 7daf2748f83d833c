#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace policy_relay {

// The SMTP envelope of one accepted transaction, as the spool stores it and the scheduler and
// upstream use it. Paths are stored without angle brackets; "" as sender is the null
// reverse-path <> (RFC 5321 4.5.5). No field ever contains CR, LF or NUL.
struct Envelope {
  std::string id;  // spool id, assigned by Spool::open
  std::string sender;
  std::vector<std::string> recipients;
  std::string body_type;         // "" (none given), "7BIT" or "8BITMIME" (RFC 6152)
  bool smtputf8 = false;         // RFC 6531
  std::string client_address;    // the submitting client's IP address
  std::string helo;              // its EHLO/HELO argument
  std::string auth_user;         // "" when the client did not authenticate
  std::int64_t received_at = 0;  // unix seconds when the transaction was accepted
  // Header fields the relay adds on delivery, above the message ("Name: value", no line end):
  // X-Policy-Relay-Advice (POLICY VI.11, VI.12). Set with MessageWriter::set_added_headers.
  std::vector<std::string> added_headers;

  // added_headers as they go on the wire, above the stored message: "Name: value" CRLF each.
  std::string added_header_block() const {
    std::string block;
    for (const auto& header : added_headers) {
      block.append(header).append("\r\n");
    }
    return block;
  }
};

}  // namespace policy_relay
