#include "policy_relay/server/received_header.hpp"

#include <cstdio>
#include <ctime>

namespace policy_relay::server {

std::string rfc5322_date(std::int64_t unix_seconds) {
  static constexpr const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t time = static_cast<std::time_t>(unix_seconds);
  std::tm utc{};
  ::gmtime_r(&time, &utc);
  char text[40];
  std::snprintf(text, sizeof text, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[utc.tm_wday],
                utc.tm_mday, months[utc.tm_mon], utc.tm_year + 1900, utc.tm_hour, utc.tm_min,
                utc.tm_sec);
  return text;
}

std::string received_header(const Envelope& envelope, const std::string& hostname, bool esmtp) {
  const char* with = envelope.smtputf8 ? "UTF8SMTP" : esmtp ? "ESMTP" : "SMTP";
  std::string header = "Received: from ";
  header += envelope.helo.empty() ? std::string("unknown") : envelope.helo;
  header += " ([" + envelope.client_address + "])\r\n\tby " + hostname + " (policy-relay) with ";
  header += with;
  header += " id " + envelope.id + "\r\n\t";
  if (envelope.recipients.size() == 1) {
    header += "for <" + envelope.recipients.front() + ">; ";
  }
  header += rfc5322_date(envelope.received_at) + "\r\n";
  return header;
}

}  // namespace policy_relay::server
