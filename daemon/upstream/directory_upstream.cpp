#include "policy_relay/upstream/directory_upstream.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <system_error>

#include "policy_relay/util/file_descriptor.hpp"
#include "policy_relay/util/posix_io.hpp"

namespace policy_relay::upstream {

namespace asio = boost::asio;

namespace {

constexpr std::size_t kCopyChunk = 64 * 1024;

std::string errno_text(int error) {
  return std::system_category().message(error);
}

using util::FileDescriptor;

// Copies the message octets of the spool file (body_offset, body_size) to `out`, 64 KiB at a
// time. "" on success, else what failed.
std::string copy_message(const spool::StoredMessage& message, int out,
                         const std::string& out_name) {
  const spool::MessageFile in(message);
  if (in.get() < 0) {
    return "Cannot open the spool file: " + errno_text(errno);
  }
  if (auto ec = util::write_all(out, message.envelope.added_header_block())) {
    return "Cannot write " + out_name + ": " + ec.message();
  }
  std::string chunk(kCopyChunk, '\0');
  std::uint64_t done = 0;
  while (done < message.body_size) {
    const auto want =
        static_cast<std::size_t>(std::min<std::uint64_t>(kCopyChunk, message.body_size - done));
    const ssize_t n =
        ::pread(in.get(), chunk.data(), want, static_cast<off_t>(message.body_offset + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return "Cannot read the spool file: " + errno_text(errno);
    }
    if (n == 0) {
      return "Cannot read the spool file: shorter than its envelope says";
    }
    if (auto ec =
            util::write_all(out, std::string_view(chunk.data(), static_cast<std::size_t>(n)))) {
      return "Cannot write " + out_name + ": " + ec.message();
    }
    done += static_cast<std::uint64_t>(n);
  }
  return "";
}

// Writes `name` in `directory` atomically: a hidden temporary, fsync, rename, directory fsync.
// `fill` writes the content and returns "" or the error text.
std::string write_atomically(const std::string& directory, int directory_fd,
                             const std::string& name, const std::function<std::string(int)>& fill) {
  const std::string final_path = directory + "/" + name;
  const std::string temporary_path = directory + "/." + name + ".tmp";
  FileDescriptor file(
      ::open(temporary_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640));
  if (file.get() < 0) {
    return "Cannot create " + temporary_path + ": " + errno_text(errno);
  }
  std::string error = fill(file.get());
  if (error.empty() && ::fsync(file.get()) != 0) {
    error = "Cannot sync " + temporary_path + ": " + errno_text(errno);
  }
  if (file.reset() != 0 && error.empty()) {
    error = "Cannot write " + temporary_path + ": " + errno_text(errno);
  }
  if (error.empty() && ::rename(temporary_path.c_str(), final_path.c_str()) != 0) {
    error = "Cannot rename " + temporary_path + ": " + errno_text(errno);
  }
  if (!error.empty()) {
    ::unlink(temporary_path.c_str());
    return error;
  }
  if (::fsync(directory_fd) != 0) {
    return "Cannot sync " + directory + ": " + errno_text(errno);
  }
  return "";
}

std::string envelope_json(const spool::StoredMessage& message,
                          const std::vector<std::string>& recipients) {
  boost::json::array list;
  for (const std::string& recipient : recipients) {
    list.emplace_back(recipient);
  }
  boost::json::object envelope;
  envelope["id"] = message.envelope.id;
  envelope["sender"] = message.envelope.sender;
  envelope["recipients"] = std::move(list);
  envelope["received_at"] = message.envelope.received_at;
  return boost::json::serialize(envelope) + "\n";
}

// The whole delivery, on a worker thread. "" on success, else the error text.
std::string write_delivery(const std::string& directory, const spool::StoredMessage& message,
                           const std::vector<std::string>& recipients) {
  const std::string& id = message.envelope.id;
  if (id.empty() || id.front() == '.' || id.find('/') != std::string::npos) {
    return "Unusable message id for a file name";
  }
  const FileDescriptor directory_fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory_fd.get() < 0) {
    return "Cannot open " + directory + ": " + errno_text(errno);
  }
  const std::string json = envelope_json(message, recipients);
  const std::string envelope_name = id + ".envelope.json";
  std::string error = write_atomically(directory, directory_fd.get(), envelope_name, [&](int fd) {
    const auto ec = util::write_all(fd, json);
    return ec ? "Cannot write " + envelope_name + ": " + ec.message() : std::string();
  });
  if (!error.empty()) {
    return error;
  }
  const std::string message_name = id + ".eml";
  return write_atomically(directory, directory_fd.get(), message_name,
                          [&](int fd) { return copy_message(message, fd, message_name); });
}

}  // namespace

DirectoryUpstream::DirectoryUpstream(Config config)
    : config_(std::move(config)), workers_(std::max<std::size_t>(1, config_.threads)) {
  std::error_code ignored;
  if (std::filesystem::create_directories(config_.directory, ignored)) {
    ::chmod(config_.directory.c_str(), 0750);
  }
}

DirectoryUpstream::~DirectoryUpstream() {
  workers_.join();
}

void DirectoryUpstream::shutdown() {
  shutting_down_ = true;
}

asio::awaitable<DeliveryResult> DirectoryUpstream::deliver(const spool::StoredMessage& message,
                                                           std::vector<std::string> recipients) {
  DeliveryResult result;
  smtp::Reply reply;
  if (shutting_down_) {
    reply = smtp::Reply{451, "4.3.2", "Upstream delivery is shutting down"};
  } else {
    const std::string error = co_await asio::co_spawn(
        workers_.get_executor(),
        [&]() -> asio::awaitable<std::string> {
          co_return write_delivery(config_.directory, message, recipients);
        },
        asio::use_awaitable);
    if (error.empty()) {
      const std::string path = config_.directory + "/" + message.envelope.id + ".eml";
      reply = smtp::Reply{250, "2.0.0", "Ok: delivered as " + path};
      result.upstream_reply = path;
    } else {
      reply = smtp::Reply{451, "4.3.0", error};
    }
  }
  for (const std::string& recipient : recipients) {
    result.recipients.push_back(RecipientResult{recipient, reply});
  }
  result.summary = std::to_string(reply.code) + " " + reply.enhanced + " " + reply.text;
  co_return result;
}

}  // namespace policy_relay::upstream
