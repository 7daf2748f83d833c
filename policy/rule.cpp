#include "policy_relay/policy/rule.hpp"

#include <algorithm>

#include "rules/rules.hpp"

namespace policy_relay::policy {

Verdict Rule::check_mail(RuleContext&) {
  return Verdict::accept();
}

Verdict Rule::check_rcpt(RuleContext&, std::string_view) {
  return Verdict::accept();
}

Verdict Rule::check_data_end(RuleContext&) {
  return Verdict::accept();
}

Verdict Rule::check_message(RuleContext&, const mime::MessageAnalysis&) {
  return Verdict::accept();
}

boost::asio::awaitable<Verdict> Rule::on_mail(RuleContext& context) {
  co_return check_mail(context);
}

boost::asio::awaitable<Verdict> Rule::on_rcpt(RuleContext& context, std::string_view recipient) {
  co_return check_rcpt(context, recipient);
}

boost::asio::awaitable<Verdict> Rule::on_data_end(RuleContext& context) {
  co_return check_data_end(context);
}

boost::asio::awaitable<Verdict> Rule::on_message(RuleContext& context,
                                                 const mime::MessageAnalysis& analysis) {
  co_return check_message(context, analysis);
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

std::string ascii_lower(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return lower;
}

bool in_domains(std::string_view address, const std::vector<std::string>& domains) {
  const std::size_t at = address.rfind('@');
  if (at == std::string_view::npos || domains.empty()) {
    return false;
  }
  std::string domain = ascii_lower(address.substr(at + 1));
  while (domain.ends_with('.')) {
    domain.pop_back();  // a trailing root dot names the same domain
  }
  return std::any_of(domains.begin(), domains.end(), [&domain](const std::string& listed) {
    return domain == listed || (domain.size() > listed.size() && domain.ends_with(listed) &&
                                domain[domain.size() - listed.size() - 1] == '.');
  });
}

}  // namespace rules
}  // namespace policy_relay::policy
