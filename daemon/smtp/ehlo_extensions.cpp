#include <algorithm>
#include <charconv>

#include "policy_relay/smtp/client_protocol.hpp"

namespace policy_relay::smtp {

namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  });
  return out;
}

}  // namespace

// RFC 5321 4.1.1.1: each line after the first is "keyword [params]".
ClientProtocol::Extensions parse_ehlo_extensions(std::string_view text) {
  ClientProtocol::Extensions ext;
  ext.esmtp = true;
  std::size_t start = text.find('\n');
  while (start != std::string_view::npos) {
    const std::size_t end = text.find('\n', start + 1);
    std::string_view line =
        text.substr(start + 1, end == std::string_view::npos ? end : end - start - 1);
    start = end;
    const std::size_t space = line.find_first_of(" =");
    const std::string keyword = upper(line.substr(0, space));
    const std::string_view params =
        space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    if (keyword == "PIPELINING") {
      ext.pipelining = true;
    } else if (keyword == "SIZE") {
      ext.size = true;
      std::uint64_t limit = 0;
      if (std::from_chars(params.data(), params.data() + params.size(), limit).ec == std::errc()) {
        ext.size_limit = limit;
      }
    } else if (keyword == "8BITMIME") {
      ext.eightbitmime = true;
    } else if (keyword == "SMTPUTF8") {
      ext.smtputf8 = true;
    } else if (keyword == "ENHANCEDSTATUSCODES") {
      ext.enhanced_status_codes = true;
    } else if (keyword == "STARTTLS") {
      ext.starttls = true;
    } else if (keyword == "AUTH") {
      std::size_t pos = 0;
      while (pos < params.size()) {
        const std::size_t next = std::min(params.find(' ', pos), params.size());
        if (next > pos) {
          const std::string mechanism = upper(params.substr(pos, next - pos));
          if (std::find(ext.auth_mechanisms.begin(), ext.auth_mechanisms.end(), mechanism) ==
              ext.auth_mechanisms.end()) {
            ext.auth_mechanisms.push_back(mechanism);
          }
        }
        pos = next + 1;
      }
    }
  }
  return ext;
}

}  // namespace policy_relay::smtp
