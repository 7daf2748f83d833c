// POLICY I.1: addresses are <name>@edomex.gob.mx and the name has at most 20 characters.
#include <algorithm>
#include <cstdint>

#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    return lower(x) == lower(y);
  });
}

// Characters, not octets: a UTF-8 local part (RFC 6531) counts each code point once.
std::size_t character_count(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

class SenderAddress final : public Rule {
 public:
  std::string_view name() const override { return "sender_address"; }
  std::string_view clause() const override { return "I.1"; }
  unsigned stages() const override { return stage_mail; }

  Verdict check_mail(RuleContext& context) override {
    const Transaction& transaction = context.transaction;
    const config::SendersConfig& senders = context.config.senders;
    // DSNs come from the relay itself; a client never needs the null sender here.
    if (transaction.sender.empty()) {
      return refuse(Decision::reject, 550, "5.7.1", context.catalog.null_sender());
    }
    const bool allowed_domain =
        std::any_of(senders.domains.begin(), senders.domains.end(), [&](const std::string& domain) {
          return equal_ignoring_ascii_case(domain, transaction.sender_domain);
        });
    if (!allowed_domain) {
      return refuse(Decision::reject, 550, "5.7.1",
                    context.catalog.sender_domain_not_allowed(senders.domains));
    }
    if (character_count(transaction.sender_local_part) > senders.max_local_part_length) {
      return refuse(Decision::reject, 550, "5.7.1",
                    context.catalog.local_part_too_long(senders.max_local_part_length));
    }
    return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_sender_address() {
  return std::make_unique<SenderAddress>();
}

}  // namespace policy_relay::policy::rules
