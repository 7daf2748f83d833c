#include <doctest/doctest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy_relay/upstream/directory_upstream.hpp"
#include "upstream_test_support.hpp"

using policy_relay::upstream::DirectoryUpstream;
using upstream_test::run_coroutine;
using upstream_test::TempDir;
using upstream_test::write_spool_file;
namespace asio = boost::asio;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string text(const boost::json::value& value) {
  return std::string(value.as_string());
}

// Recipient lists live outside the coroutines: g++ 12 cannot compile a braced list of
// string literals inside a co_await expression ("array used as initializer").
const std::vector<std::string> to_a{"a@example.test"};
const std::vector<std::string> to_a_b{"a@example.test", "b@example.test"};

}  // namespace

TEST_CASE("DirectoryUpstream writes ID.envelope.json and ID.eml with the octets as spooled") {
  TempDir spool;
  TempDir base;
  const std::string out_dir = base.path.string() + "/delivered";
  const std::string message = "From: <sender@edomex.test>\r\nSubject: x\r\n\r\n.dot\r\nbody";
  auto stored = write_spool_file(spool.path.string(), "D1", message);
  stored.envelope.recipients = {"a@example.test", "b@example.test", "done@example.test"};
  asio::io_context io;
  DirectoryUpstream upstream({.directory = out_dir});
  policy_relay::upstream::DeliveryResult result;
  run_coroutine(
      io, [&]() -> asio::awaitable<void> { result = co_await upstream.deliver(stored, to_a_b); });
  REQUIRE(result.recipients.size() == 2);
  for (const auto& recipient : result.recipients) {
    CHECK(recipient.reply.code == 250);
    CHECK(recipient.reply.enhanced == "2.0.0");
  }
  CHECK(result.upstream_reply == out_dir + "/D1.eml");
  CHECK(read_file(out_dir + "/D1.eml") == message);
  const auto envelope = boost::json::parse(read_file(out_dir + "/D1.envelope.json")).as_object();
  CHECK(text(envelope.at("id")) == "D1");
  CHECK(text(envelope.at("sender")) == "sender@edomex.test");
  CHECK(envelope.at("received_at").as_int64() == 1795926035);
  const auto& recipients = envelope.at("recipients").as_array();
  REQUIRE(recipients.size() == 2);
  CHECK(text(recipients[0]) == "a@example.test");
  CHECK(text(recipients[1]) == "b@example.test");
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(out_dir)) {
    CHECK(entry.path().filename().string().front() != '.');  // no temporary left behind
    ++files;
  }
  CHECK(files == 2);
}

TEST_CASE("DirectoryUpstream answers 451 4.3.0 with the errno text when it cannot write") {
  TempDir spool;
  auto stored = write_spool_file(spool.path.string(), "D2", "Subject: x\r\n\r\nbody\r\n");
  const std::string not_a_directory = spool.path.string() + "/D2";  // the spool file itself
  asio::io_context io;
  DirectoryUpstream upstream({.directory = not_a_directory});
  policy_relay::upstream::DeliveryResult result;
  run_coroutine(
      io, [&]() -> asio::awaitable<void> { result = co_await upstream.deliver(stored, to_a); });
  REQUIRE(result.recipients.size() == 1);
  CHECK(result.recipients[0].reply.code == 451);
  CHECK(result.recipients[0].reply.enhanced == "4.3.0");
  CHECK(result.recipients[0].reply.text == "Cannot open " + not_a_directory + ": Not a directory");
}

TEST_CASE("DirectoryUpstream refuses new deliveries after shutdown") {
  TempDir spool;
  TempDir out;
  auto stored = write_spool_file(spool.path.string(), "D3", "Subject: x\r\n\r\nbody\r\n");
  asio::io_context io;
  DirectoryUpstream upstream({.directory = out.path.string()});
  upstream.shutdown();
  policy_relay::upstream::DeliveryResult result;
  run_coroutine(
      io, [&]() -> asio::awaitable<void> { result = co_await upstream.deliver(stored, to_a); });
  CHECK(result.recipients.at(0).reply.code == 451);
  CHECK_FALSE(std::filesystem::exists(out.path.string() + "/D3.eml"));
}
