// POLICY VI.11: those expected to answer go in To, informative copies in Cc; with more than
// five recipients, Bcc. Counts the distinct addresses of To + Cc (groups expanded).
#include <fmt/format.h>

#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

class BccAdvice final : public Rule {
 public:
  std::string_view name() const override { return "bcc_advice"; }
  std::string_view clause() const override { return "VI.11"; }
  unsigned stages() const override { return stage_message; }
  bool enabled(const config::Config& config) const override {
    return config.advice.bcc_action != config::AdviceAction::off;
  }

  Verdict check_message(RuleContext& context, const mime::MessageAnalysis& analysis) override {
    const config::AdviceConfig& advice = context.config.advice;
    const std::size_t visible = analysis.visible_recipient_count();
    if (advice.bcc_action == config::AdviceAction::off || visible <= advice.bcc_threshold) {
      return Verdict::accept();
    }
    if (advice.bcc_action == config::AdviceAction::reject) {
      return refuse(Decision::reject, 550, "5.7.1",
                    context.catalog.too_many_visible_recipients(visible, advice.bcc_threshold));
    }
    Advice note;
    note.rule = name();
    note.clause = clause();
    note.action = advice.bcc_action;
    note.header =
        fmt::format("bcc; visible-recipients={}; threshold={}", visible, advice.bcc_threshold);
    note.fields = {{"visible_recipients", std::to_string(visible)},
                   {"threshold", std::to_string(advice.bcc_threshold)}};
    note.notice = context.catalog.bcc_notice(visible, advice.bcc_threshold);
    context.state.advice.push_back(std::move(note));
    return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_bcc_advice() {
  return std::make_unique<BccAdvice>();
}

}  // namespace policy_relay::policy::rules
