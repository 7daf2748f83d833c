// POLICY VI.1: at most 25 MB per message, attachments included. RFC 1870 6.2: a SIZE= over
// the limit is refused at MAIL with 552 5.3.4; a longer DATA is refused at its end.
#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

constexpr std::string_view kName = "max_message_size";
constexpr std::string_view kClause = "VI.1";

class MessageSize final : public Rule {
 public:
  std::string_view name() const override { return kName; }
  std::string_view clause() const override { return kClause; }
  unsigned stages() const override { return stage_mail | stage_data_end; }

  Verdict check_mail(RuleContext& context) override {
    return decide(context, context.transaction.declared_size);
  }

  Verdict check_data_end(RuleContext& context) override {
    return decide(context, context.transaction.message_size);
  }

 private:
  static Verdict decide(RuleContext& context, std::uint64_t size) {
    if (size > context.sender.limits.max_message_size) {
      return message_too_big(context);
    }
    if (size > context.defaults.limits.max_message_size) {
      note_exception(context, kName);
    }
    return Verdict::accept();
  }
};

}  // namespace

Verdict message_too_big(const RuleContext& context) {
  Verdict verdict;
  verdict.decision = Decision::reject;
  verdict.code = 552;
  verdict.enhanced = "5.3.4";
  verdict.text = context.catalog.message_too_big(context.sender.limits.max_message_size);
  verdict.rule = kName;
  verdict.clause = kClause;
  verdict.reference = context.sender.reference_for(key_max_message_size);
  return verdict;
}

std::unique_ptr<Rule> make_message_size() {
  return std::make_unique<MessageSize>();
}

}  // namespace policy_relay::policy::rules
