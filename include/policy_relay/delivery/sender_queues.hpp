#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "policy_relay/spool/spool.hpp"
#include "policy_relay/util/string_map.hpp"

namespace policy_relay::delivery {

// A spooled message waiting for delivery.
struct QueuedMessage {
  std::string id;
  std::optional<spool::StoredMessage> message;  // loaded; dropped while it waits long
  std::uint32_t attempts = 0;
  std::string identity;  // the sender identity its pacing counts against ("" = not paced)
};

// The waiting room of rate_action = "queue" (POLICY VI.4): one FIFO per sender identity, so a
// paced sender waits in arrival order without holding up anyone else. A sender is in one state:
//   runnable  its head may be released now (listed for the workers, round robin)
//   busy      a worker is asking the counter store for its head's release slot
//   blocked   its window is full until a time (no head is handed out before then)
// Only one head per sender is out at a time, so releases keep arrival order. No I/O, no clock:
// the scheduler drives it. Senders with nothing waiting are forgotten (memory is per backlog).
class SenderQueues {
 public:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // A new arrival, at the back of its sender's queue. The first kLoadedPerSender waiting
  // messages of a sender keep their loaded envelope (and open file, within the spool's
  // budget); later ones are reloaded from the spool when their turn comes, so that a long
  // backlog costs no memory.
  static constexpr std::size_t kLoadedPerSender = 32;
  void push_back(QueuedMessage message);
  // A due retry, ahead of the sender's newer messages.
  void push_front(QueuedMessage message);

  bool has_runnable() const { return !runnable_.empty(); }
  // The head of the next runnable sender; the sender is busy until granted() or refused().
  std::optional<QueuedMessage> take_runnable();
  // The head's release was counted: the sender's next message may go.
  void granted(const std::string& identity);
  // The window is full: `head` goes back to the front and the sender waits until `until`.
  void refused(QueuedMessage head, SteadyTime until);

  // Makes senders whose wait has ended runnable again.
  void unblock_due(SteadyTime now);
  std::optional<SteadyTime> next_unblock() const;

  // Messages of `identity` not yet released: waiting, plus the head a worker is asking for.
  std::size_t backlog(std::string_view identity) const;
  std::size_t size() const { return waiting_; }
  // Every waiting message, sender by sender (the operator's queue listing).
  template <typename Visit>
  void for_each(Visit visit) const {
    for (const auto& [identity, sender] : senders_) {
      for (const QueuedMessage& message : sender.waiting) {
        visit(message);
      }
    }
  }
  std::size_t senders() const { return senders_.size(); }

 private:
  enum class State { runnable, busy, blocked };
  struct Sender {
    // A list: one allocation per message, none for an empty queue (a deque allocates its map
    // and a block for every sender, and most senders have one message waiting at a time).
    std::list<QueuedMessage> waiting;
    State state = State::runnable;
  };
  Sender& sender_for(const std::string& identity, bool& created);
  void make_runnable(const std::string& identity, Sender& sender);

  util::StringMap<Sender> senders_;
  std::deque<std::string> runnable_;
  std::multimap<SteadyTime, std::string> blocked_;
  std::size_t waiting_ = 0;
};

}  // namespace policy_relay::delivery
