#include "policy_relay/policy/rule.hpp"

#include <algorithm>

#include "rules/rules.hpp"

namespace policy_relay::policy {

boost::asio::awaitable<Verdict> Rule::on_mail(RuleContext&) {
  co_return Verdict::accept();
}

boost::asio::awaitable<Verdict> Rule::on_rcpt(RuleContext&, std::string_view) {
  co_return Verdict::accept();
}

boost::asio::awaitable<Verdict> Rule::on_data_end(RuleContext&) {
  co_return Verdict::accept();
}

Verdict Rule::refuse(Decision decision, int code, std::string_view enhanced,
                     std::string text) const {
  Verdict verdict;
  verdict.decision = decision;
  verdict.code = code;
  verdict.enhanced = enhanced;
  verdict.text = std::move(text);
  verdict.rule = name();
  verdict.clause = clause();
  return verdict;
}

namespace rules {

void note_exception(RuleContext& context, std::string_view rule) {
  auto& noted = context.state.exception_rules;
  if (std::find(noted.begin(), noted.end(), rule) == noted.end()) {
    noted.push_back(rule);
  }
}

}  // namespace rules
}  // namespace policy_relay::policy
