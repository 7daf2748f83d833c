// POLICY VI.9: mass mail to public providers (hotmail, yahoo, gmail, ...) is prohibited without
// authorisation. The recipient past mass_mail.max_public_recipients at a public domain (or a
// subdomain of one) gets 550 5.7.1 at RCPT; the ones before it stay accepted.
#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

class PublicMassMail final : public Rule {
 public:
  std::string_view name() const override { return "public_mass_mail"; }
  std::string_view clause() const override { return "VI.9"; }
  unsigned stages() const override { return stage_rcpt; }

  Verdict check_rcpt(RuleContext& context, std::string_view recipient) override {
    const config::MassMailConfig& mass_mail = context.config.mass_mail;
    if (!in_domains(recipient, mass_mail.public_domains)) {
      return Verdict::accept();
    }
    if (context.state.public_recipients >= mass_mail.max_public_recipients) {
      const config::SenderException* exception = context.sender.exception;
      if (exception == nullptr || !exception->allow_public_mass_mail) {
        return refuse(Decision::reject, 550, "5.7.1",
                      context.catalog.public_mass_mail(mass_mail.max_public_recipients));
      }
      note_exception(context, name());
    }
    ++context.state.public_recipients;  // given back by the Engine if a later rule refuses
    return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_public_mass_mail() {
  return std::make_unique<PublicMassMail>();
}

}  // namespace policy_relay::policy::rules
