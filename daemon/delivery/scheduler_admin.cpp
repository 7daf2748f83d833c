// The operator's side of the Scheduler (`policy-relayctl queue ...`): a view of every message
// it knows, holding, releasing, retrying and removing them. Everything runs on the event loop.
#include <algorithm>

#include "policy_relay/delivery/scheduler.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/policy/identity.hpp"

namespace policy_relay::delivery {

bool Scheduler::park_if_held(Entry& entry, std::string_view identity) {
  if (!hold_check_ || !hold_check_(entry.id, identity)) {
    return false;
  }
  log::Event("hold").add("id", entry.id).add("sender", identity);
  entry.message.reset();  // reloaded from the spool when released
  held_.insert_or_assign(entry.id, std::move(entry));
  return true;
}

std::vector<Scheduler::EntryView> Scheduler::snapshot() const {
  std::vector<EntryView> view;
  const auto now = Clock::now();
  for (const Entry& entry : ready_) {
    view.push_back({entry.id, "ready", entry.attempts, -1});
  }
  paced_.for_each([&](const QueuedMessage& entry) {
    view.push_back({entry.id, "paced", entry.attempts, -1});
  });
  for (const auto& [due, entry] : deferred_) {
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(due - now).count();
    view.push_back({entry.id, "deferred", entry.attempts, std::max<std::int64_t>(wait, 0)});
  }
  for (const std::string& id : active_ids_) {
    view.push_back({id, "active", 0, -1});
  }
  for (const auto& [id, entry] : held_) {
    view.push_back({id, "held", entry.attempts, -1});
  }
  std::sort(view.begin(), view.end(),
            [](const EntryView& a, const EntryView& b) { return a.id < b.id; });
  return view;
}

bool Scheduler::contains(const std::string& id) const {
  const auto views = snapshot();
  return std::any_of(views.begin(), views.end(), [&](const EntryView& v) { return v.id == id; });
}

bool Scheduler::hold_now(const std::string& id) {
  auto ready =
      std::find_if(ready_.begin(), ready_.end(), [&](const Entry& e) { return e.id == id; });
  if (ready != ready_.end()) {
    Entry entry = std::move(*ready);
    ready_.erase(ready);
    entry.message.reset();
    held_.insert_or_assign(id, std::move(entry));
    return true;
  }
  for (auto it = deferred_.begin(); it != deferred_.end(); ++it) {
    if (it->second.id == id) {
      held_.insert_or_assign(id, std::move(it->second));
      deferred_.erase(it);
      return true;
    }
  }
  return held_.contains(id);
}

std::size_t Scheduler::release_held(
    const std::function<bool(const std::string&, std::string_view)>& matches) {
  std::vector<Entry> released;
  for (auto it = held_.begin(); it != held_.end();) {
    spool::StoredMessage loaded;
    if (spool_.load(it->first, loaded)) {
      ++it;
      continue;
    }
    const std::string identity =
        policy::sender_identity(loaded.envelope.auth_user, loaded.envelope.sender);
    if (!matches(it->first, identity)) {
      ++it;
      continue;
    }
    Entry entry = std::move(it->second);
    entry.message = std::move(loaded);
    released.push_back(std::move(entry));
    it = held_.erase(it);
  }
  for (Entry& entry : released) {
    log::Event("release").add("id", entry.id);
    if (entry.identity.empty()) {
      ready_.push_back(std::move(entry));
    } else {
      paced_.push_front(std::move(entry));
    }
    wake_one();
  }
  return released.size();
}

std::size_t Scheduler::retry_now(const std::string& id) {
  std::size_t moved = 0;
  const auto now = Clock::now();
  std::vector<Entry> due;
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (id.empty() || it->second.id == id) {
      due.push_back(std::move(it->second));
      it = deferred_.erase(it);
    } else {
      ++it;
    }
  }
  for (Entry& entry : due) {
    deferred_.emplace(now, std::move(entry));
    ++moved;
  }
  for (std::size_t i = 0; i < moved; ++i) {
    wake_one();
  }
  for (auto* timer : idle_workers_) {
    timer->cancel();  // every idle worker looks again
  }
  return moved;
}

Scheduler::RemoveResult Scheduler::remove(const std::string& id) {
  if (active_ids_.contains(id)) {
    return RemoveResult::in_delivery;
  }
  bool found = held_.erase(id) > 0;
  if (!found) {
    const auto ready =
        std::find_if(ready_.begin(), ready_.end(), [&](const Entry& e) { return e.id == id; });
    if (ready != ready_.end()) {
      ready_.erase(ready);
      found = true;
    }
  }
  if (!found) {
    for (auto it = deferred_.begin(); it != deferred_.end(); ++it) {
      if (it->second.id == id) {
        deferred_.erase(it);
        found = true;
        break;
      }
    }
  }
  if (!found) {
    // A paced message waits inside its sender's FIFO: hold it first (it is parked when its
    // turn comes), then remove it.
    return RemoveResult::not_found;
  }
  spool_.remove(id);
  log::Event("delete").add("id", id);
  return RemoveResult::removed;
}

}  // namespace policy_relay::delivery
