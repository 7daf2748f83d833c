// The plain-value side of the message analysis (the scanner that fills it is daemon/mime/).
#include "policy_relay/mime/message_analysis.hpp"

#include <algorithm>
#include <unordered_set>

namespace policy_relay::mime {

namespace {

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    const auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    return lower(x) == lower(y);
  });
}

}  // namespace

std::size_t MessageAnalysis::visible_recipient_count() const {
  // Nearly every message lists a few addresses: compared pairwise, without a set to build.
  constexpr std::size_t kPairwise = 32;
  if (to.size() + cc.size() <= kPairwise) {
    std::size_t distinct = 0;
    std::size_t index = 0;
    for (const auto* list : {&to, &cc}) {
      for (const Address& entry : *list) {
        bool seen = false;
        for (std::size_t earlier = 0; earlier < index && !seen; ++earlier) {
          const Address& other = earlier < to.size() ? to[earlier] : cc[earlier - to.size()];
          seen = equal_ignoring_ascii_case(entry.address, other.address);
        }
        distinct += seen ? 0 : 1;
        ++index;
      }
    }
    return distinct;
  }
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
