#include "policy_relay/delivery/sender_queues.hpp"

namespace policy_relay::delivery {

SenderQueues::Sender& SenderQueues::sender_for(const std::string& identity, bool& created) {
  const auto [found, inserted] = senders_.try_emplace(identity);
  created = inserted;
  return found->second;
}

void SenderQueues::make_runnable(const std::string& identity, Sender& sender) {
  sender.state = State::runnable;
  runnable_.push_back(identity);
}

void SenderQueues::push_back(QueuedMessage message) {
  bool created = false;
  const std::string identity = message.identity;
  Sender& sender = sender_for(identity, created);
  if (sender.waiting.size() >= kLoadedPerSender) {
    message.message.reset();  // reloaded from the spool when its turn comes
  }
  sender.waiting.push_back(std::move(message));
  ++waiting_;
  if (created) {
    make_runnable(identity, sender);
  }
}

void SenderQueues::push_front(QueuedMessage message) {
  bool created = false;
  const std::string identity = message.identity;
  Sender& sender = sender_for(identity, created);
  sender.waiting.push_front(std::move(message));
  ++waiting_;
  if (created) {
    make_runnable(identity, sender);
  }
}

std::optional<QueuedMessage> SenderQueues::take_runnable() {
  while (!runnable_.empty()) {
    const std::string identity = std::move(runnable_.front());
    runnable_.pop_front();
    const auto found = senders_.find(identity);
    if (found == senders_.end() || found->second.state != State::runnable ||
        found->second.waiting.empty()) {
      continue;
    }
    Sender& sender = found->second;
    QueuedMessage head = std::move(sender.waiting.front());
    sender.waiting.pop_front();
    --waiting_;
    sender.state = State::busy;
    return head;
  }
  return std::nullopt;
}

void SenderQueues::granted(const std::string& identity) {
  const auto found = senders_.find(identity);
  if (found == senders_.end()) {
    return;
  }
  if (found->second.waiting.empty()) {
    senders_.erase(found);
  } else {
    make_runnable(identity, found->second);
  }
}

void SenderQueues::refused(QueuedMessage head, SteadyTime until) {
  bool created = false;
  const std::string identity = head.identity;
  Sender& sender = sender_for(identity, created);
  sender.waiting.push_front(std::move(head));
  ++waiting_;
  sender.state = State::blocked;
  blocked_.emplace(until, identity);
}

void SenderQueues::unblock_due(SteadyTime now) {
  while (!blocked_.empty() && blocked_.begin()->first <= now) {
    const std::string identity = std::move(blocked_.begin()->second);
    blocked_.erase(blocked_.begin());
    const auto found = senders_.find(identity);
    if (found != senders_.end() && found->second.state == State::blocked) {
      make_runnable(identity, found->second);
    }
  }
}

std::optional<SenderQueues::SteadyTime> SenderQueues::next_unblock() const {
  if (blocked_.empty()) {
    return std::nullopt;
  }
  return blocked_.begin()->first;
}

std::size_t SenderQueues::backlog(std::string_view identity) const {
  const auto found = senders_.find(identity);
  if (found == senders_.end()) {
    return 0;
  }
  return found->second.waiting.size() + (found->second.state == State::busy ? 1 : 0);
}

}  // namespace policy_relay::delivery
