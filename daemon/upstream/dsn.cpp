#include "policy_relay/upstream/dsn.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <string_view>

namespace policy_relay::upstream {

namespace {

constexpr std::size_t kFoldColumn = 76;
constexpr std::size_t kMaxDiagnostic = 2000;  // octets of one reply quoted in the report

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

bool needs_utf8(const DsnRequest& request) {
  if (!is_ascii(request.original.sender) || !is_ascii(request.original_headers)) {
    return true;
  }
  return std::any_of(request.failed.begin(), request.failed.end(),
                     [](const RecipientResult& r) { return !is_ascii(r.recipient); });
}

// Upstream reply text and addresses are not ours: no control octet may reach a header line.
std::string sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto octet = static_cast<unsigned char>(c);
    out += (octet < 0x20 || octet == 0x7f) ? ' ' : c;
  }
  return out;
}

std::string reply_line(const smtp::Reply& reply) {
  std::string line = std::to_string(reply.code);
  if (!reply.enhanced.empty()) {
    line += ' ' + sanitize(reply.enhanced);
  }
  std::string text = reply.text;
  std::replace(text.begin(), text.end(), '\n', ' ');
  if (!text.empty()) {
    line += ' ' + sanitize(text);
  }
  if (line.size() > kMaxDiagnostic) {
    line.resize(kMaxDiagnostic);
    line += "...";
  }
  return line;
}

// Folds "Name: value" at spaces so that lines stay near 76 columns (RFC 5322 2.2.3); a word
// longer than that stays whole (reply lines are at most 512 octets, far below 998).
std::string folded_field(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ": ";
  std::size_t column = out.size();
  std::size_t pos = 0;
  bool first = true;
  while (pos < value.size()) {
    const std::size_t space = std::min(value.find(' ', pos), value.size());
    const std::string_view word = value.substr(pos, space - pos);
    if (!first && column + 1 + word.size() > kFoldColumn) {
      out += "\r\n ";
      column = 1;
    } else if (!first) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    first = false;
    pos = space + 1;
  }
  out += "\r\n";
  return out;
}

// RFC 3463 status for the per-recipient block: the reply's enhanced code when it is permanent,
// else the class of the basic code with "0.0" (expiry always says 4.4.7).
std::string status_for(const RecipientResult& result, DsnReason reason) {
  if (reason == DsnReason::expired) {
    return "4.4.7";
  }
  const std::string& enhanced = result.reply.enhanced;
  if (!enhanced.empty() && enhanced[0] == '5') {
    return enhanced;
  }
  return "5.0.0";
}

// The Message-ID of the original, for In-Reply-To/References (RFC 5322 3.6.4), or "".
std::string original_message_id(std::string_view headers) {
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t end = headers.find("\r\n", pos);
    if (end == std::string_view::npos) {
      end = headers.size();
    }
    const std::string_view line = headers.substr(pos, end - pos);
    pos = end + 2;
    constexpr std::string_view kName = "message-id:";
    if (line.size() <= kName.size()) {
      continue;
    }
    bool match = true;
    for (std::size_t i = 0; i < kName.size() && match; ++i) {
      match = static_cast<char>(std::tolower(static_cast<unsigned char>(line[i]))) == kName[i];
    }
    if (!match) {
      continue;
    }
    std::string_view value = line.substr(kName.size());
    const std::size_t open = value.find('<');
    const std::size_t close = value.find('>', open == std::string_view::npos ? 0 : open);
    if (open == std::string_view::npos || close == std::string_view::npos) {
      return "";
    }
    value = value.substr(open, close - open + 1);
    return value.size() <= 250 && is_ascii(value) ? sanitize(value) : "";
  }
  return "";
}

std::string human_part(const DsnRequest& request, const std::string& host) {
  std::string text = "This is the mail system at host " + host + ".\r\n\r\n";
  if (request.reason == DsnReason::expired) {
    text +=
        "Your message could not be delivered to one or more recipients before the\r\n"
        "delivery time expired. The mail system has stopped trying.\r\n";
  } else {
    text +=
        "Your message could not be delivered to one or more recipients: the\r\n"
        "receiving mail system refused them. It will not be retried.\r\n";
  }
  text += "The headers of your message are attached below.\r\n\r\n";
  if (!request.original.id.empty()) {
    text += "Message: " + sanitize(request.original.id) + "\r\n";
  }
  text += "Sent:    " + format_rfc5322_date(request.original.received_at) + "\r\n\r\n";
  for (const RecipientResult& result : request.failed) {
    std::string line = "<" + sanitize(result.recipient) + ">: ";
    if (request.reason == DsnReason::expired) {
      line += "delivery time expired";
      if (result.reply.code != 0) {
        line += "; last error: " + reply_line(result.reply);
      }
    } else {
      line += "the upstream said: " + reply_line(result.reply);
    }
    text += folded_field("", line).substr(2);  // same folding, without a field name
    text += "\r\n";
  }
  return text;
}

std::string status_part(const DsnRequest& request, const std::string& host, bool utf8) {
  // RFC 3464 2.2: per-message fields, then one block of per-recipient fields each.
  std::string text = "Reporting-MTA: dns; " + host + "\r\n";
  if (!request.original.id.empty()) {
    text += "X-Policy-Relay-Queue-ID: " + sanitize(request.original.id) + "\r\n";
  }
  text += "Arrival-Date: " + format_rfc5322_date(request.original.received_at) + "\r\n";
  const std::string address_type = utf8 ? "utf-8; " : "rfc822; ";  // RFC 6533 3
  for (const RecipientResult& result : request.failed) {
    text += "\r\n";
    text += "Final-Recipient: " + address_type + sanitize(result.recipient) + "\r\n";
    text += "Action: failed\r\n";
    text += "Status: " + status_for(result, request.reason) + "\r\n";
    if (result.reply.code != 0) {
      text += folded_field("Diagnostic-Code", "smtp; " + reply_line(result.reply));
    }
  }
  return text;
}

std::string choose_boundary(const DsnRequest& request, std::string_view parts) {
  std::string boundary = "=_policy-relay_" + std::to_string(request.now) + "_";
  for (const char c : request.original.id) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_') {
      boundary += c;
    }
  }
  boundary.resize(std::min<std::size_t>(boundary.size(), 60));
  // RFC 2046 5.1.1: the boundary must not occur in the encapsulated parts.
  while (parts.find(boundary) != std::string_view::npos) {
    boundary += "_";
  }
  return boundary;
}

}  // namespace

std::optional<Dsn> build_dsn(const DsnRequest& request) {
  if (request.original.sender.empty() || request.failed.empty()) {
    return std::nullopt;
  }
  const std::string host =
      request.reporting_mta.empty() ? std::string("localhost") : sanitize(request.reporting_mta);
  const bool utf8 = needs_utf8(request);
  const std::string human = human_part(request, host);
  const std::string status = status_part(request, host, utf8);
  const std::string boundary = choose_boundary(request, human + status + request.original_headers);
  const std::string charset = utf8 ? "utf-8" : "us-ascii";

  Dsn dsn;
  dsn.envelope.sender = "";
  dsn.envelope.recipients = {request.original.sender};
  dsn.envelope.body_type = utf8 ? "8BITMIME" : "7BIT";
  dsn.envelope.smtputf8 = utf8;
  dsn.envelope.helo = host;
  dsn.envelope.client_address = "127.0.0.1";
  dsn.envelope.received_at = request.now;

  std::string& m = dsn.message;
  m += "From: Mail Delivery System <MAILER-DAEMON@" + host + ">\r\n";
  m += "To: <" + sanitize(request.original.sender) + ">\r\n";
  m += request.reason == DsnReason::expired
           ? "Subject: Undelivered Mail Returned to Sender (delivery time expired)\r\n"
           : "Subject: Undelivered Mail Returned to Sender\r\n";
  m += "Date: " + format_rfc5322_date(request.now) + "\r\n";
  m += "Message-ID: <" + std::to_string(request.now) + "." + sanitize(request.original.id) +
       ".dsn@" + host + ">\r\n";
  if (const std::string id = original_message_id(request.original_headers); !id.empty()) {
    m += "In-Reply-To: " + id + "\r\nReferences: " + id + "\r\n";
  }
  m += "Auto-Submitted: auto-replied\r\n";  // RFC 3834 5
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
  m += "\tboundary=\"" + boundary + "\"\r\n";
  m += utf8 ? "Content-Transfer-Encoding: 8bit\r\n" : "Content-Transfer-Encoding: 7bit\r\n";
  m += "\r\nThis is a MIME-encapsulated message.\r\n\r\n";

  m += "--" + boundary + "\r\n";
  m += "Content-Description: Notification\r\n";
  m += "Content-Type: text/plain; charset=" + charset + "\r\n\r\n";
  m += human;
  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Description: Delivery report\r\n";
  m += utf8 ? "Content-Type: message/global-delivery-status\r\n\r\n"
            : "Content-Type: message/delivery-status\r\n\r\n";
  m += status;
  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Description: Undelivered Message Headers\r\n";
  m += utf8 ? "Content-Type: message/global-headers\r\n\r\n"
            : "Content-Type: text/rfc822-headers\r\n\r\n";
  m += request.original_headers;
  if (!request.original_headers.empty() && !request.original_headers.ends_with("\r\n")) {
    m += "\r\n";
  }
  m += "\r\n--" + boundary + "--\r\n";
  return dsn;
}

}  // namespace policy_relay::upstream
