// The sans-I/O parts of client authentication: scrypt hashes, the users file, the failed-login
// throttle and the trusted networks (POLICY VII.1).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "policy_relay/auth/login_throttle.hpp"
#include "policy_relay/auth/network_list.hpp"
#include "policy_relay/auth/password_hash.hpp"
#include "policy_relay/auth/users_file.hpp"

using namespace policy_relay::auth;
using namespace std::chrono_literals;

namespace {

const ScryptParameters kFast{10, 8, 1};  // N = 1024: keeps the tests quick

}  // namespace

TEST_CASE("an scrypt hash verifies its password only, and two hashes never share a salt") {
  const std::string text = hash_password("correct horse", kFast);
  CHECK(text.rfind("$scrypt$ln=10,r=8,p=1$", 0) == 0);
  const auto hash = parse_password_hash(text);
  REQUIRE(hash);
  CHECK(hash->salt.size() == 16);
  CHECK(hash->key.size() == 32);
  CHECK(verify_password(*hash, "correct horse"));
  CHECK_FALSE(verify_password(*hash, "correct horsf"));
  CHECK_FALSE(verify_password(*hash, ""));
  CHECK(hash_password("correct horse", kFast) != text);
}

TEST_CASE("an scrypt hash matches the RFC 7914 test vector") {
  // RFC 7914 12: scrypt("password", "NaCl", N=1024, r=8, p=16, 64 octets).
  const auto hash = parse_password_hash(
      "$scrypt$ln=10,r=8,p=16$TmFDbA==$/bq+HJ00cgB4VucZDQHp/nxq18vII3gw53N2Y0s3MWIurzDZLiKjiG/xCSed"
      "mDDaxyevuUqD7m2DYMvfoswGQA==");
  REQUIRE(hash);
  CHECK(verify_password(*hash, "password"));
}

TEST_CASE("hashes with parameters out of bounds or a bad form are refused") {
  for (const char* bad : {"", "$scrypt$", "$scrypt$ln=10,r=8,p=1$AAAAAAAAAAA=",
                          "$scrypt$ln=30,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                          "$scrypt$ln=10,r=8$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                          "$2y$10$abcdefghijklmnopqrstuv", "plaintext"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_password_hash(bad).has_value());
  }
}

TEST_CASE("the users file: names, hashes, aliases, comments; errors name the line only") {
  const std::string hash = hash_password("pw", kFast);
  std::string error;
  const auto file = UsersFile::parse("# users\n\nJuan@Edomex.gob.mx:" + hash +
                                         ":ventas@edomex.gob.mx, Info@edomex.gob.mx\n"
                                         "scanner:" +
                                         hash + "\n",
                                     error);
  REQUIRE(file);
  CHECK(file->size() == 2);
  const UserEntry* juan = file->find("JUAN@edomex.gob.mx");
  REQUIRE(juan != nullptr);
  CHECK(juan->sender_addresses() == std::vector<std::string>{"juan@edomex.gob.mx",
                                                             "ventas@edomex.gob.mx",
                                                             "info@edomex.gob.mx"});
  CHECK(file->find("scanner")->sender_addresses().empty());
  CHECK(file->find("nobody") == nullptr);

  CHECK_FALSE(UsersFile::parse("a:" + hash + "\na:" + hash + "\n", error));
  CHECK(error == "line 2: user 'a' appears twice");
  CHECK_FALSE(UsersFile::parse("\nb:notahash\n", error));
  CHECK(error == "line 2: the password hash is not $scrypt$ln=N,r=N,p=N$SALT$KEY");
  CHECK(error.find("notahash") == std::string::npos);
  CHECK_FALSE(UsersFile::parse("c:" + hash + ":not-an-address\n", error));
  CHECK(error == "line 1: alias 'not-an-address' is not an address");
  CHECK_FALSE(UsersFile::parse("just-a-name\n", error));
}

TEST_CASE("with_user replaces one user's line, keeps the rest, keeps aliases unless given") {
  const std::string text = "# comment\na@x.example:H1:b@x.example\nc@x.example:H2\n";
  CHECK(with_user(text, "A@x.example", "H9", std::nullopt) ==
        "# comment\na@x.example:H9:b@x.example\nc@x.example:H2\n");
  CHECK(with_user(text, "a@x.example", "H9", std::vector<std::string>{}) ==
        "# comment\na@x.example:H9\nc@x.example:H2\n");
  CHECK(with_user(text, "d@x.example", "H3", std::vector<std::string>{"E@x.example"}) ==
        text + "d@x.example:H3:e@x.example\n");
  CHECK(with_user("", "d", "H", std::nullopt) == "d:H\n");
}

TEST_CASE("failed logins wait longer each time, then lock the address out") {
  LoginThrottle throttle(
      {.max_failures = 3, .window = 10min, .lockout = 5min, .base_delay = 1s, .max_delay = 8s});
  const auto t0 = LoginThrottle::TimePoint{} + 1h;
  CHECK_FALSE(throttle.check("10.0.0.1", "juan", t0).locked());
  auto failure = throttle.record_failure("10.0.0.1", "a", t0);
  CHECK(failure.delay == 1s);
  CHECK_FALSE(failure.lock.locked());
  failure = throttle.record_failure("10.0.0.1", "b", t0 + 1s);
  CHECK(failure.delay == 2s);
  failure = throttle.record_failure("10.0.0.1", "c", t0 + 2s);
  CHECK(failure.lock.key == LoginThrottle::Key::address);
  CHECK(throttle.check("10.0.0.1", "", t0 + 4min).locked());
  CHECK_FALSE(throttle.check("10.0.0.2", "d", t0 + 4min).locked());
  CHECK_FALSE(throttle.check("10.0.0.1", "", t0 + 2s + 5min + 1ms).locked());
}

TEST_CASE("failed logins against one user from many addresses lock the user") {
  LoginThrottle throttle(
      {.max_failures = 2, .window = 10min, .lockout = 5min, .base_delay = 1s, .max_delay = 1s});
  const auto t0 = LoginThrottle::TimePoint{} + 1h;
  throttle.record_failure("10.0.0.1", "juan", t0);
  const auto failure = throttle.record_failure("10.0.0.2", "juan", t0);
  CHECK(failure.lock.key == LoginThrottle::Key::user);
  CHECK(throttle.check("10.0.0.3", "juan", t0 + 1s).key == LoginThrottle::Key::user);
  CHECK_FALSE(throttle.check("10.0.0.3", "maria", t0 + 1s).locked());
}

TEST_CASE("failures older than the window are forgotten; success clears the user's count") {
  LoginThrottle throttle(
      {.max_failures = 2, .window = 1min, .lockout = 5min, .base_delay = 1s, .max_delay = 8s});
  const auto t0 = LoginThrottle::TimePoint{} + 1h;
  throttle.record_failure("10.0.0.1", "juan", t0);
  CHECK_FALSE(throttle.record_failure("10.0.0.1", "juan", t0 + 2min).lock.locked());
  throttle.record_success("juan");
  CHECK_FALSE(throttle.record_failure("10.0.0.9", "juan", t0 + 2min + 1s).lock.locked());
}

TEST_CASE("the throttle's memory is bounded") {
  LoginThrottle throttle({.max_failures = 5,
                          .window = 1min,
                          .lockout = 1min,
                          .base_delay = 1s,
                          .max_delay = 1s,
                          .max_keys = 10});
  const auto t0 = LoginThrottle::TimePoint{} + 1h;
  for (int i = 0; i < 100; ++i) {
    throttle.record_failure("10.0.0." + std::to_string(i), "", t0);
  }
  CHECK(throttle.keys() <= 10);
}

TEST_CASE("trusted networks match IPv4, IPv6 and IPv4-mapped clients by prefix") {
  const NetworkList list =
      NetworkList::from({"127.0.0.1/32", "10.20.0.0/14", "2001:db8::/32", "192.168.1.128/25"});
  CHECK(list.contains("127.0.0.1"));
  CHECK_FALSE(list.contains("127.0.0.2"));
  CHECK(list.contains("10.23.255.255"));
  CHECK_FALSE(list.contains("10.24.0.0"));
  CHECK(list.contains("192.168.1.200"));
  CHECK_FALSE(list.contains("192.168.1.127"));
  CHECK(list.contains("2001:db8:ffff::1"));
  CHECK_FALSE(list.contains("2001:db9::1"));
  CHECK(list.contains("::ffff:127.0.0.1"));
  CHECK_FALSE(list.contains("::1"));
  CHECK_FALSE(list.contains("not an address"));
  CHECK(NetworkList::from({"0.0.0.0/0"}).contains("8.8.8.8"));
  CHECK_FALSE(NetworkList::from({"0.0.0.0/0"}).contains("2001:db8::1"));
  CHECK(NetworkList::from({"::/0"}).contains("2001:db8::1"));
  CHECK_THROWS_AS(NetworkList::from({"10.0.0.0"}), std::invalid_argument);
  CHECK_FALSE(NetworkList::parse("10.0.0.0/33"));
  CHECK_FALSE(NetworkList::parse("::/129"));
}
