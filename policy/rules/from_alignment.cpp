// POLICY VII.1: each user answers for their own account, so the header From of a message must
// be the sender identity (the AUTH user, else the envelope sender) or one of its aliases.
// senders.from_mismatch_action: reject (550 5.7.1 at the end of DATA), log, off.
// The aliases: an authenticated user's sender addresses (auth.users_file: its name and
// aliases, transaction.auth_senders), and for any identity those of the AliasDirectory.
#include <algorithm>

#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

class FromAlignment final : public Rule {
 public:
  std::string_view name() const override { return "from_alignment"; }
  std::string_view clause() const override { return "VII.1"; }
  unsigned stages() const override { return stage_message; }
  bool enabled(const config::Config& config) const override {
    return config.senders.from_mismatch_action != config::FromMismatchAction::off;
  }

  Verdict check_message(RuleContext& context, const mime::MessageAnalysis& analysis) override {
    const config::FromMismatchAction action = context.config.senders.from_mismatch_action;
    if (action == config::FromMismatchAction::off) {
      return Verdict::accept();
    }
    // Every From mailbox must align (RFC 5322 3.6.2 allows several); no From aligns with nobody.
    std::string mismatch = analysis.from.empty() ? std::string("(none)") : std::string();
    for (const mime::Address& from : analysis.from) {
      const std::string address = ascii_lower(from.address);
      const std::string_view identity = context.transaction.identity;
      const auto& owned = context.transaction.auth_senders;
      const bool aligned =
          address == identity || std::find(owned.begin(), owned.end(), address) != owned.end() ||
          (context.aliases != nullptr && context.aliases->is_alias_of(identity, address));
      if (!aligned) {
        mismatch = address;
        break;
      }
    }
    if (mismatch.empty()) {
      return Verdict::accept();
    }
    if (action == config::FromMismatchAction::reject) {
      return refuse(Decision::reject, 550, "5.7.1", context.catalog.from_mismatch());
    }
    Advice note;
    note.rule = name();
    note.clause = clause();
    note.action = config::AdviceAction::log;
    note.fields = {{"header_from", mismatch}, {"identity", context.transaction.identity}};
    context.state.advice.push_back(std::move(note));
    return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_from_alignment() {
  return std::make_unique<FromAlignment>();
}

}  // namespace policy_relay::policy::rules
