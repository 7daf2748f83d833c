// POLICY VI.4: at most 30 messages per minute per sender, rolling 60 s. Exchange Online delays
// the excess rather than losing it, and so does rate_action = "queue": the message is accepted
// and the scheduler paces its delivery, unless the sender already has queue_backlog_per_sender
// messages waiting. "defer" / "reject" refuse the MAIL that would be the (N+1)th in the window.
#include "policy_relay/policy/backlog.hpp"
#include "rules.hpp"

namespace policy_relay::policy::rules {
namespace {

class MessagesPerMinute final : public Rule {
 public:
  std::string_view name() const override { return "messages_per_minute"; }
  std::string_view clause() const override { return "VI.4"; }
  bool waits() const override { return true; }  // on the counter store
  unsigned stages() const override { return stage_mail; }

  boost::asio::awaitable<Verdict> on_mail(RuleContext& context) override {
    const config::LimitsConfig& limits = context.sender.limits;
    if (limits.rate_action == config::RateAction::queue) {
      co_return check_backlog(context);
    }
    const ReserveResult result = co_await context.store.try_reserve(
        context.transaction.identity, Counter::messages_per_minute, 1, limits.messages_per_minute,
        context.now);
    if (result.error) {
      co_return refuse(Decision::defer, 451, "4.3.0", context.catalog.counters_unavailable());
    }
    if (!result.granted) {
      const bool reject = limits.rate_action == config::RateAction::reject;
      Verdict verdict =
          refuse(reject ? Decision::reject : Decision::defer, reject ? 550 : 451,
                 reject ? "5.7.1" : "4.7.1",
                 context.catalog.too_many_messages(limits.messages_per_minute, result.frees_at));
      verdict.reference = context.sender.reference_for(key_messages_per_minute | key_rate_action);
      co_return verdict;
    }
    context.state.message = result.reservation;
    if (result.used + 1 > context.defaults.limits.messages_per_minute) {
      note_exception(context, name());
    }
    co_return Verdict::accept();
  }

 private:
  // Backlog is what the scheduler holds now; transactions still open are not in it, so
  // concurrent sessions of one sender may pass the bound by their number (a soft bound).
  Verdict check_backlog(RuleContext& context) const {
    if (context.backlog == nullptr) {
      return Verdict::accept();
    }
    const std::size_t waiting = context.backlog->backlog_of(context.transaction.identity);
    const std::uint32_t bound = context.sender.limits.queue_backlog_per_sender;
    if (waiting >= bound) {
      Verdict verdict = refuse(Decision::defer, 451, "4.7.1", context.catalog.backlog_full(bound));
      verdict.reference =
          context.sender.reference_for(key_queue_backlog_per_sender | key_rate_action);
      return verdict;
    }
    if (waiting >= context.defaults.limits.queue_backlog_per_sender) {
      note_exception(context, name());
    }
    return Verdict::accept();
  }
};

}  // namespace

std::unique_ptr<Rule> make_messages_per_minute() {
  return std::make_unique<MessagesPerMinute>();
}

}  // namespace policy_relay::policy::rules
