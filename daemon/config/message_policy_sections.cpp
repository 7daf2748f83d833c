// The sections behind the message rules: [advice] (POLICY VI.11, VI.12) and [mass_mail]
// (POLICY VI.8, VI.9); DESIGN.md "The operator's contract".
#include <algorithm>

#include "sections.hpp"

namespace policy_relay::config::detail {
namespace {

constexpr std::uint32_t kMaxThreshold = 100'000;

AdviceAction advice_action(Reader& reader, const toml::node& node, std::string_view key) {
  return static_cast<AdviceAction>(
      reader.choice(node, key, {"off", "log", "header", "notify", "reject"}));
}

const toml::array& array_of_strings(Reader& reader, const toml::node& node, std::string_view key,
                                    std::string_view example) {
  const toml::array* values = node.as_array();
  if (values == nullptr) {
    reader.fail(node, key, "expected an array such as " + std::string(example));
  }
  return *values;
}

}  // namespace

void read_advice(Reader& reader, const toml::table& table, AdviceConfig& advice) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("advice", name);
    if (name == "bcc_threshold") {
      advice.bcc_threshold = reader.count(node, key, kMaxThreshold);
    } else if (name == "bcc_action") {
      advice.bcc_action = advice_action(reader, node, key);
    } else if (name == "attachment_threshold") {
      advice.attachment_threshold = reader.size(node, key);
    } else if (name == "attachment_action") {
      advice.attachment_action = advice_action(reader, node, key);
    } else if (name == "notify_from") {
      advice.notify_from = email_address(reader, node, key);
    } else {
      reader.unknown(node, key);
    }
  }
}

void read_mass_mail(Reader& reader, const toml::table& table, MassMailConfig& mass_mail) {
  for (auto&& [name, node] : table) {
    const std::string key = qualified("mass_mail", name);
    if (name == "public_domains") {
      const toml::array& domains = array_of_strings(reader, node, key, "[\"gmail.com\"]");
      mass_mail.public_domains.clear();
      for (const toml::node& element : domains) {
        std::string domain = reader.host_name(element, key);
        std::transform(domain.begin(), domain.end(), domain.begin(), [](char c) {
          return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
        });
        mass_mail.public_domains.push_back(std::move(domain));
      }
    } else if (name == "max_public_recipients") {
      mass_mail.max_public_recipients = reader.count(node, key, kMaxThreshold);
    } else if (name == "protected_lists") {
      const toml::array& lists = array_of_strings(reader, node, key, "[\"todos@edomex.gob.mx\"]");
      mass_mail.protected_lists.clear();
      for (const toml::node& element : lists) {
        mass_mail.protected_lists.push_back(email_address(reader, element, key));
      }
    } else {
      reader.unknown(node, key);
    }
  }
}

}  // namespace policy_relay::config::detail
