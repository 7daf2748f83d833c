// POLICY VI.8: lists that reach all GEM staff need the authorisation of the DGSEI head. RCPT to
// an address of mass_mail.protected_lists gets 550 5.7.1 unless the sender's exception has
// allow_protected_lists.
#include <algorithm>

#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

class ProtectedLists final : public Rule {
 public:
  std::string_view name() const override { return "protected_lists"; }
  std::string_view clause() const override { return "VI.8"; }
  unsigned stages() const override { return stage_rcpt; }
  bool enabled(const config::Config& config) const override {
    return !config.mass_mail.protected_lists.empty();
  }

  Verdict check_rcpt(RuleContext& context, std::string_view recipient) override {
    const std::vector<std::string>& lists = context.config.mass_mail.protected_lists;
    if (lists.empty()) {
      return Verdict::accept();
    }
    const std::string address = ascii_lower(recipient);
    if (std::find(lists.begin(), lists.end(), address) == lists.end()) {
      return Verdict::accept();
    }
    const config::SenderException* exception = context.sender.exception;
    if (exception == nullptr || !exception->allow_protected_lists) {
      return refuse(Decision::reject, 550, "5.7.1", context.catalog.protected_list());
    }
    note_exception(context, name());
    return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_protected_lists() {
  return std::make_unique<ProtectedLists>();
}

}  // namespace policy_relay::policy::rules
