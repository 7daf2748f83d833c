// The plain-value side of the message analysis (the scanner that fills it is daemon/mime/).
#include "policy_relay/mime/message_analysis.hpp"

#include <algorithm>
#include <unordered_set>

namespace policy_relay::mime {

std::size_t MessageAnalysis::visible_recipient_count() const {
  std::unordered_set<std::string> distinct;
  for (const auto* list : {&to, &cc}) {
    for (const Address& entry : *list) {
      std::string key = entry.address;
      std::transform(key.begin(), key.end(), key.begin(), [](char c) {
        return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
      });
      distinct.insert(std::move(key));
    }
  }
  return distinct.size();
}

std::string MessageAnalysis::malformation_names() const {
  static constexpr std::pair<Malformation, const char*> kNames[] = {
      {malformed_header_line, "header_line"},
      {malformed_header_too_long, "header_too_long"},
      {malformed_missing_boundary, "missing_boundary"},
      {malformed_unclosed_multipart, "unclosed_multipart"},
      {malformed_truncated_headers, "truncated_headers"},
      {malformed_too_deep, "too_deep"},
      {malformed_too_many_parts, "too_many_parts"},
      {malformed_bad_encoding, "bad_encoding"},
  };
  std::string names;
  for (const auto& [bit, name] : kNames) {
    if ((malformed & bit) != 0) {
      names += names.empty() ? "" : ",";
      names += name;
    }
  }
  return names;
}

}  // namespace policy_relay::mime
