#pragma once

#include <boost/asio/awaitable.hpp>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "policy_relay/policy/suspensions.hpp"

// The operations state kept under [state] directory by the local backend: suspensions
// (POLICY IV.2) and the operator's held messages. Small files rewritten whole and atomically
// (write, fsync, rename, fsync of the directory) at each change: changes are rare (operator
// commands, a tripped abuse rule), reads are from memory.
namespace policy_relay::ops {

// Writes `content` to `path` atomically and durably.
std::error_code replace_file(const std::string& path, std::string_view content);

// One suspension as a one-line JSON object, and back ("" on success, else what is wrong).
std::string encode_suspension(const policy::Suspension& suspension);
std::string decode_suspension(std::string_view record, policy::Suspension& out);

// Local SuspensionStore: DIR/suspensions, one JSON object per line.
class FileSuspensionStore final : public policy::SuspensionStore {
 public:
  // Reads the file when it exists; throws std::runtime_error naming file and line when it is
  // damaged (start-up: never forget a suspension silently).
  explicit FileSuspensionStore(std::string directory);

  const policy::Suspension* find(std::string_view identity) const override;
  std::vector<policy::Suspension> list() const override;
  boost::asio::awaitable<std::error_code> suspend(policy::Suspension suspension) override;
  boost::asio::awaitable<std::error_code> resume(std::string identity, bool& existed) override;

 private:
  std::error_code save() const;

  std::string path_;
  std::map<std::string, policy::Suspension, std::less<>> suspensions_;
};

// The messages the operator held (`queue hold ID`): DIR/held, one spool ID per line.
class HeldMessages {
 public:
  explicit HeldMessages(std::string directory);
  bool contains(const std::string& id) const { return ids_.contains(id); }
  std::error_code add(const std::string& id);
  std::error_code remove(const std::string& id);
  const std::set<std::string>& ids() const { return ids_; }

 private:
  std::error_code save() const;

  std::string path_;
  std::set<std::string> ids_;
};

}  // namespace policy_relay::ops
