// The sans-I/O parts of operations: admin request parsing and dispatch, the account rules
// (POLICY I.1-I.4), the abuse detector with a fake clock (IV.2), and size-based log rotation.
#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "policy_relay/admin/protocol.hpp"
#include "policy_relay/config/account_directory_file.hpp"
#include "policy_relay/config/loader.hpp"
#include "policy_relay/log/log.hpp"
#include "policy_relay/policy/abuse_detector.hpp"
#include "policy_relay/policy/accounts.hpp"

using namespace policy_relay;
namespace json = boost::json;

namespace {

std::string dispatch(const admin::Dispatcher& dispatcher, std::string_view line) {
  boost::asio::io_context io;
  auto future = boost::asio::co_spawn(io, dispatcher.handle(line), boost::asio::use_future);
  io.run();
  return future.get();
}

policy::AccountDirectory directory_of(std::string_view toml) {
  return config::parse_account_directory(toml, "accounts.toml");
}

}  // namespace

TEST_CASE("admin requests are one JSON object with a command and optional args") {
  std::string error;
  auto request = admin::parse_request(R"({"command":"usage","args":{"sender":"a@b"}})", error);
  REQUIRE(request);
  CHECK(request->command == "usage");
  CHECK(admin::string_arg(request->args, "sender") == "a@b");
  CHECK_FALSE(admin::parse_request("[1]", error));
  CHECK(error == "a request is a JSON object");
  CHECK_FALSE(admin::parse_request(R"({"args":{}})", error));
  CHECK_FALSE(admin::parse_request(R"({"command":"x","extra":1})", error));
  CHECK(error == "unknown member \"extra\"");
  CHECK_FALSE(admin::parse_request(std::string(admin::kMaxRequestSize + 1, ' '), error));
  CHECK(error.find("larger than") != std::string::npos);
  CHECK_FALSE(admin::parse_request(R"({"command":"x","args":[[[[[[[[[[1]]]]]]]]]]})", error));
}

TEST_CASE("the dispatcher answers each command, unknown ones and handler failures") {
  admin::Dispatcher dispatcher;
  dispatcher.add("echo", [](const json::object& args) -> boost::asio::awaitable<admin::Reply> {
    co_return admin::Reply::success(json::value(args));
  });
  dispatcher.add("fail", [](const json::object&) -> boost::asio::awaitable<admin::Reply> {
    co_return admin::Reply::failure("no such sender");
  });
  CHECK(dispatch(dispatcher, R"({"command":"echo","args":{"a":1}})") ==
        "{\"ok\":true,\"result\":{\"a\":1}}\n");
  CHECK(dispatch(dispatcher, R"({"command":"fail"})") ==
        "{\"ok\":false,\"error\":\"no such sender\"}\n");
  CHECK(dispatch(dispatcher, R"({"command":"nope"})") ==
        "{\"ok\":false,\"error\":\"unknown command \\\"nope\\\"\"}\n");
  CHECK(dispatch(dispatcher, "not json").rfind("{\"ok\":false,\"error\":\"malformed JSON", 0) == 0);
}

TEST_CASE("account names follow their kind (POLICY I.2)") {
  CHECK(policy::name_fits_kind("juan.perez", policy::AccountKind::personal));
  CHECK(policy::name_fits_kind("juan.perez2", policy::AccountKind::personal));
  CHECK_FALSE(policy::name_fits_kind("juanperez", policy::AccountKind::personal));
  CHECK_FALSE(policy::name_fits_kind("juan.perez.lopez", policy::AccountKind::personal));
  CHECK(policy::name_fits_kind("gemdgsei", policy::AccountKind::generic, "DGSEI"));
  CHECK_FALSE(policy::name_fits_kind("gemsedesem", policy::AccountKind::generic, "DGSEI"));
  CHECK(policy::name_fits_kind("abalonparado", policy::AccountKind::program));
  CHECK_FALSE(policy::name_fits_kind("abalon.parado", policy::AccountKind::program));
}

TEST_CASE("accounts check reports counts per agency and owner, ignoring disabled accounts") {
  const auto directory = directory_of(R"(
[[account]]
address = "gemdgsei@edomex.gob.mx"
kind = "generic"
owner = "A"
position = "P"
unit = "U"
agency = "DGSEI"
[[account]]
address = "gemdgsei1@edomex.gob.mx"
kind = "generic"
owner = "A"
position = "P"
unit = "U"
agency = "DGSEI"
[[account]]
address = "gemdgsei2@edomex.gob.mx"
kind = "generic"
owner = "A"
position = "P"
unit = "U"
agency = "DGSEI"
status = "disabled"
since = 2026-01-01
reason = "baja"
)");
  CHECK(policy::check_accounts(directory, {}).empty());
  const auto suggestions = policy::suggest_names(directory, {}, "gemdgsei");
  REQUIRE_FALSE(suggestions.empty());
  CHECK(suggestions.front() == "gemdgsei3@edomex.gob.mx");
}

TEST_CASE("the account directory file names file, line and key of an error") {
  auto error_of = [](std::string_view toml) {
    try {
      directory_of(toml);
    } catch (const config::ConfigError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  CHECK(error_of("[[account]]\naddress = \"a@b\"\nstatus = \"gone\"\n")
            .rfind("accounts.toml:3:10: key 'account[1].status'", 0) == 0);
  CHECK(error_of("[[account]]\naddress = \"a@b\"\nstatus = \"leave\"\n")
            .find("until': required with status = \"leave\"") != std::string::npos);
  CHECK(error_of("[[account]]\naddress = \"a@b\"\ncolour = 1\n")
            .rfind("accounts.toml:3:10: key 'account[1].colour'", 0) == 0);
  const auto directory = directory_of(
      "[[account]]\naddress = \"Ana.Soto@Edomex.gob.mx\"\nstatus = \"leave\"\nuntil = "
      "2027-01-31\n");
  REQUIRE(directory.find("ana.soto@edomex.gob.mx") != nullptr);
  CHECK(directory.find("ANA.SOTO@edomex.gob.mx")->until == "2027-01-31");
}

TEST_CASE("the abuse detector trips on N refusals within the window, not on older ones") {
  policy::AbuseDetector detector({3, std::chrono::minutes(10), 0, 0});
  const policy::TimePoint t0{std::chrono::hours(1000)};
  CHECK_FALSE(detector.on_refusal("a", "sender_address", t0));
  CHECK_FALSE(detector.on_refusal("a", "sender_address", t0 + std::chrono::minutes(1)));
  // The first refusal leaves the window before the third comes.
  CHECK_FALSE(detector.on_refusal("a", "sender_address", t0 + std::chrono::minutes(10)));
  CHECK_FALSE(detector.on_refusal("b", "x", t0 + std::chrono::minutes(10)));
  const auto trip = detector.on_refusal("a", "max_recipients", t0 + std::chrono::seconds(630));
  REQUIRE(trip);
  CHECK(trip->trigger == "refusals");
  CHECK(trip->count == 3);
  CHECK(trip->last_rule == "max_recipients");
  CHECK(trip->first == t0 + std::chrono::minutes(1));
  CHECK_FALSE(detector.on_refusal("a", "x", t0 + std::chrono::minutes(12)));  // history cleared
}

TEST_CASE("rate hits per hour and public-provider recipients per hour trip; 0 disables") {
  policy::AbuseDetector detector({0, std::chrono::minutes(10), 2, 10});
  const policy::TimePoint t0{std::chrono::hours(1000)};
  CHECK_FALSE(detector.on_refusal("a", "x", t0));
  CHECK_FALSE(detector.on_rate_hit("a", t0));
  CHECK(detector.on_rate_hit("a", t0 + std::chrono::minutes(59))->trigger == "rate_hits");
  CHECK_FALSE(detector.on_public_recipients("p", 10, t0));
  CHECK_FALSE(detector.on_public_recipients("p", 5, t0 + std::chrono::minutes(61)));
  const auto trip = detector.on_public_recipients("p", 6, t0 + std::chrono::minutes(62));
  REQUIRE(trip);
  CHECK((trip->trigger == "public_recipients" && trip->count == 11 && trip->threshold == 10));
}

TEST_CASE("top ranks the last hour's senders by recipients") {
  policy::SenderTally tally;
  const policy::TimePoint t0{std::chrono::hours(1000)};
  tally.add("a", 1, t0);
  tally.add("b", 5, t0);
  tally.add("a", 1, t0 + std::chrono::minutes(30));
  auto rows = tally.top(10, t0 + std::chrono::minutes(30));
  REQUIRE(rows.size() == 2);
  CHECK((rows[0].identity == "b" && rows[1].messages == 2));
  rows = tally.top(10, t0 + std::chrono::minutes(61));
  REQUIRE(rows.size() == 1);
  CHECK((rows[0].identity == "a" && rows[0].messages == 1));
}

TEST_CASE("a full abuse detector sweeps for room at most once a minute") {
  policy::AbuseDetector detector({1000, std::chrono::minutes(10), 0, 0});
  const policy::TimePoint t0{std::chrono::hours(1000)};
  bool tripped = false;
  for (std::size_t i = 0; i < policy::AbuseDetector::kMaxSenders; ++i) {
    tripped = tripped || detector.on_refusal("s" + std::to_string(i), "rule", t0).has_value();
  }
  CHECK_FALSE(tripped);
  // Just before anyone has been idle for an hour: the sweep finds no room.
  CHECK_FALSE(detector.on_refusal("new1", "rule", t0 + std::chrono::minutes(59)));
  CHECK(detector.tracked() == policy::AbuseDetector::kMaxSenders);
  // Everyone is idle now, but the next sweep is a minute after the last one.
  CHECK_FALSE(detector.on_refusal("new2", "rule",
                                  t0 + std::chrono::minutes(59) + std::chrono::seconds(59)));
  CHECK(detector.tracked() == policy::AbuseDetector::kMaxSenders);
  CHECK_FALSE(detector.on_refusal("new3", "rule", t0 + std::chrono::minutes(60)));
  CHECK(detector.tracked() == 1);
}

TEST_CASE("the tally holds at most kMaxSenders senders and takes new ones once old ones expire") {
  policy::SenderTally tally;
  const policy::TimePoint t0{std::chrono::hours(1000)};
  for (std::size_t i = 0; i < policy::SenderTally::kMaxSenders; ++i) {
    tally.add("s" + std::to_string(i) + "@edomex.gob.mx", 1, t0);
  }
  tally.add("late@edomex.gob.mx", 1000, t0 + std::chrono::seconds(30));  // full: not counted
  tally.add("late@edomex.gob.mx", 1000, t0 + std::chrono::seconds(40));  // same minute: still
  CHECK(tally.top(1, t0 + std::chrono::seconds(50))[0].identity != "late@edomex.gob.mx");
  tally.add("s7@edomex.gob.mx", 1000, t0 + std::chrono::seconds(50));  // known: counted
  CHECK(tally.top(1, t0 + std::chrono::seconds(50))[0].identity == "s7@edomex.gob.mx");
  // An hour on, every old bucket has expired: the next new sender finds room.
  tally.add("later@edomex.gob.mx", 3, t0 + std::chrono::minutes(61));
  const auto rows = tally.top(10, t0 + std::chrono::minutes(61));
  REQUIRE(rows.size() == 1);
  CHECK((rows[0].identity == "later@edomex.gob.mx" && rows[0].recipients == 3));
}

TEST_CASE("size-based log rotation keeps every line across the files") {
  const auto directory = std::filesystem::temp_directory_path() /
                         ("policy-relay-unit-rotation-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  config::LogConfig settings;
  settings.file = (directory / "relay.log").string();
  settings.max_size = 4096;
  settings.max_files = 50;
  log::init(settings);
  constexpr int kLines = 300;
  for (int i = 0; i < kLines; ++i) {
    log::Event("rotation_test").add("n", i);
  }
  log::flush();
  int lines = 0;
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    ++files;
    std::ifstream file(entry.path());
    std::string line;
    while (std::getline(file, line)) {
      lines += line.find("event=rotation_test") != std::string::npos ? 1 : 0;
    }
  }
  log::init(config::LogConfig{});  // back to stderr for the other tests
  std::filesystem::remove_all(directory);
  CHECK(files > 1);
  CHECK(lines == kLines);
}
