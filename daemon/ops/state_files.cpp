#include "policy_relay/ops/state_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "policy_relay/util/file_descriptor.hpp"
#include "policy_relay/util/posix_io.hpp"

namespace json = boost::json;

namespace policy_relay::ops {
namespace {

std::error_code last_error() {
  return {errno, std::system_category()};
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream file(path);
  if (!file) {
    return lines;  // none yet
  }
  std::string line;
  while (std::getline(file, line)) {
    lines.push_back(line);
  }
  return lines;
}

std::string string_field(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_string() ? std::string(value->as_string()) : std::string();
}

}  // namespace

std::error_code replace_file(const std::string& path, std::string_view content) {
  const std::string temporary = path + ".tmp";
  {
    util::FileDescriptor fd(
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
    if (!fd.valid()) {
      return last_error();
    }
    if (auto ec = util::write_all(fd.get(), content)) {
      return ec;
    }
    if (::fsync(fd.get()) != 0 || fd.reset() != 0) {
      return last_error();
    }
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    return last_error();
  }
  util::FileDescriptor directory(
      ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!directory.valid() || ::fsync(directory.get()) != 0) {
    return last_error();
  }
  return {};
}

std::string encode_suspension(const policy::Suspension& suspension) {
  const json::object object{{"identity", suspension.identity},
                            {"reason", suspension.reason},
                            {"source", suspension.source},
                            {"since", suspension.since},
                            {"evidence", suspension.evidence}};
  return json::serialize(object);
}

std::string decode_suspension(std::string_view record, policy::Suspension& out) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(record, ec);
  if (ec || !parsed.is_object()) {
    return "not a suspension record (JSON object)";
  }
  const json::object& object = parsed.as_object();
  out = policy::Suspension{};
  out.identity = string_field(object, "identity");
  out.reason = string_field(object, "reason");
  out.source = string_field(object, "source");
  out.evidence = string_field(object, "evidence");
  if (const json::value* since = object.if_contains("since"); since && since->is_int64()) {
    out.since = since->as_int64();
  }
  if (out.identity.empty()) {
    return "no identity";
  }
  return "";
}

FileSuspensionStore::FileSuspensionStore(std::string directory)
    : path_(std::move(directory) + "/suspensions") {
  std::size_t number = 0;
  for (const std::string& line : read_lines(path_)) {
    ++number;
    if (line.empty()) {
      continue;
    }
    policy::Suspension suspension;
    if (std::string error = decode_suspension(line, suspension); !error.empty()) {
      throw std::runtime_error(path_ + ":" + std::to_string(number) + ": " + error +
                               "; fix or remove the line");
    }
    suspensions_.insert_or_assign(suspension.identity, std::move(suspension));
  }
}

const policy::Suspension* FileSuspensionStore::find(std::string_view identity) const {
  const auto found = suspensions_.find(identity);
  return found == suspensions_.end() ? nullptr : &found->second;
}

std::vector<policy::Suspension> FileSuspensionStore::list() const {
  std::vector<policy::Suspension> all;
  for (const auto& [identity, suspension] : suspensions_) {
    all.push_back(suspension);
  }
  return all;
}

std::error_code FileSuspensionStore::save() const {
  std::string content;
  for (const auto& [identity, suspension] : suspensions_) {
    content += encode_suspension(suspension);
    content += '\n';
  }
  return replace_file(path_, content);
}

boost::asio::awaitable<std::error_code> FileSuspensionStore::suspend(
    policy::Suspension suspension) {
  if (suspensions_.contains(suspension.identity)) {
    co_return std::error_code{};
  }
  const std::string identity = suspension.identity;
  suspensions_.emplace(identity, std::move(suspension));
  if (auto ec = save()) {
    suspensions_.erase(identity);
    co_return ec;
  }
  co_return std::error_code{};
}

boost::asio::awaitable<std::error_code> FileSuspensionStore::resume(std::string identity,
                                                                    bool& existed) {
  const auto found = suspensions_.find(identity);
  existed = found != suspensions_.end();
  if (!existed) {
    co_return std::error_code{};
  }
  policy::Suspension kept = found->second;
  suspensions_.erase(found);
  if (auto ec = save()) {
    suspensions_.emplace(identity, std::move(kept));
    co_return ec;
  }
  co_return std::error_code{};
}

HeldMessages::HeldMessages(std::string directory) : path_(std::move(directory) + "/held") {
  for (const std::string& line : read_lines(path_)) {
    if (!line.empty()) {
      ids_.insert(line);
    }
  }
}

std::error_code HeldMessages::save() const {
  std::string content;
  for (const std::string& id : ids_) {
    content += id;
    content += '\n';
  }
  return replace_file(path_, content);
}

std::error_code HeldMessages::add(const std::string& id) {
  if (!ids_.insert(id).second) {
    return {};
  }
  return save();
}

std::error_code HeldMessages::remove(const std::string& id) {
  if (ids_.erase(id) == 0) {
    return {};
  }
  return save();
}

}  // namespace policy_relay::ops
