// POLICY VI.3, VI.4: at most 500 recipients per message. RFC 5321 4.5.3.1.10: the recipient
// over the limit gets 452 4.5.3 and the ones accepted before stay accepted.
#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

class RecipientsPerMessage final : public Rule {
 public:
  std::string_view name() const override { return "max_recipients_per_message"; }
  std::string_view clause() const override { return "VI.3"; }
  unsigned stages() const override { return stage_rcpt; }

  Verdict check_rcpt(RuleContext& context, std::string_view) override {
    const std::size_t accepted = context.transaction.recipients.size();
    const std::uint32_t limit = context.sender.limits.max_recipients_per_message;
    if (accepted >= limit) {
      Verdict verdict =
          refuse(Decision::defer, 452, "4.5.3", context.catalog.too_many_recipients(limit));
      verdict.reference = context.sender.reference_for(key_max_recipients_per_message);
      return verdict;
    }
    if (accepted >= context.defaults.limits.max_recipients_per_message) {
      note_exception(context, name());
    }
    return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_recipients_per_message() {
  return std::make_unique<RecipientsPerMessage>();
}

}  // namespace policy_relay::policy::rules
