#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "policy_relay/envelope.hpp"
#include "policy_relay/spool/spool.hpp"
#include "policy_relay/upstream/upstream.hpp"
#include "policy_relay/util/rfc5322_date.hpp"

// Delivery status notifications (RFC 3464) for recipients that failed for good: a 5xx from the
// upstream, or spool.max_age reached (DESIGN.md "Delivery semantics"). Pure functions: the
// caller supplies the clock and the original header block; nothing here touches the network.
namespace policy_relay::upstream {

enum class DsnReason {
  rejected,  // the upstream refused the recipients (5xx): Status from the reply, 5.0.0 if none
  expired,   // spool.max_age passed: Status 4.4.7 "delivery time expired" (RFC 3463)
};

struct DsnRequest {
  std::string reporting_mta;  // our host name ([server] hostname): From, Reporting-MTA
  Envelope original;          // the envelope of the message that failed
  // The recipients to report, with the upstream's last reply for each (code 0 = none: the
  // Diagnostic-Code field is left out).
  std::vector<RecipientResult> failed;
  DsnReason reason = DsnReason::rejected;
  // The original message's header block, CRLF line ends (read_header_block()); "" = none.
  std::string original_headers;
  std::int64_t now = 0;  // unix seconds: Date and the Message-ID
};

struct Dsn {
  // Ready for Spool::store(): sender <> (RFC 5321 4.5.5: a DSN is never bounced), the original
  // sender as the only recipient, id empty (Spool::open assigns it).
  Envelope envelope;
  // The whole message: headers, blank line, multipart/report body; CRLF line ends throughout.
  std::string message;
};

// Builds the multipart/report; report-type=delivery-status message (RFC 3464, RFC 6522) with a
// human-readable part, the message/delivery-status part (one per-recipient block each) and a
// text/rfc822-headers part with the original headers. When an address or the original headers
// hold UTF-8 (RFC 6531 mail) the parts become message/global-delivery-status and
// message/global-headers (RFC 6533) and the DSN envelope asks for SMTPUTF8.
// Returns std::nullopt when the original sender is <> (never bounce a bounce, RFC 3464 2.3.7
// and RFC 5321 6.1) or when there is nothing to report.
std::optional<Dsn> build_dsn(const DsnRequest& request);

// Reads the header block of a stored message: the octets from body_offset up to (not including)
// the empty line that ends the headers, at most `limit` octets, cut after the last whole line.
// A message without a body yields all of its octets (within the limit).
std::error_code read_header_block(const spool::StoredMessage& message, std::string& headers,
                                  std::size_t limit = 64 * 1024);

using util::format_rfc5322_date;  // the DSN's Date and Arrival-Date

}  // namespace policy_relay::upstream
