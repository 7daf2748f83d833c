// smtp::ServerProtocol: commands, sequencing, pipelining, line framing and error limits.
// DATA text (dot-stuffing, smuggling, size limits) is in test_server_protocol_data.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server_protocol_driver.hpp"

using namespace test_support;
using Lines = std::vector<std::string>;

namespace {

ServerProtocol::Config small_config() {
  ServerProtocol::Config config;
  config.hostname = "relay.example";
  config.max_message_size = 1000;
  return config;
}

struct Row {
  std::string script;
  std::string reply;
};

void check_last_replies(const std::vector<Row>& rows,
                        const ServerProtocol::Config& config = small_config()) {
  for (const Row& row : rows) {
    CAPTURE(row.script);
    CHECK(last_reply(row.script, config) == row.reply);
  }
}

Decider refuse_kind(Kind kind, Reply refusal) {
  return [kind, refusal](const Action& action, const ServerProtocol&) -> std::optional<Reply> {
    if (action.kind == kind) {
      return refusal;
    }
    return std::nullopt;
  };
}

}  // namespace

TEST_CASE("the greeting names the host and is queued at construction") {
  ServerProtocol protocol(small_config());
  CHECK(protocol.take_output() == "220 relay.example ESMTP policy-relay\r\n");
  CHECK(protocol.next().kind == Kind::need_input);
}

TEST_CASE("EHLO advertises exactly SIZE, 8BITMIME, PIPELINING, ENHANCEDSTATUSCODES, SMTPUTF8") {
  const Transcript t = run("EHLO client.example\r\n", small_config());
  CHECK(t.replies == Lines{"250-relay.example", "250-SIZE 1000", "250-8BITMIME", "250-PIPELINING",
                           "250-ENHANCEDSTATUSCODES", "250 SMTPUTF8"});
}

TEST_CASE("HELO answers with the host name and turns extensions off") {
  const Transcript t =
      run("HELO client.example\r\nMAIL FROM:<a@b.example> SIZE=10\r\n"
          "MAIL FROM:<a@b.example>\r\n",
          small_config());
  CHECK(t.replies ==
        Lines{"250 relay.example", "555 5.5.4 MAIL parameters need EHLO", "250 2.1.0 Ok"});
}

TEST_CASE("EHLO and HELO require a domain or an address literal") {
  const std::vector<std::pair<const char*, bool>> rows = {
      {"EHLO client.example", true},
      {"EHLO localhost", true},
      {"EHLO [192.0.2.1]", true},
      {"EHLO [IPv6:2001:db8::1]", true},
      {"EHLO Canon_MF4800", true},
      {"ehlo MiXeD.Example", true},
      {"HELO client.example", true},
      {"EHLO  client.example ", true},
      {"EHLO", false},
      {"HELO", false},
      {"EHLO -bad.example", false},
      {"EHLO bad-.example", false},
      {"EHLO a..b", false},
      {"EHLO trailing.dot.", false},
      {"EHLO [300.1.1.1]", false},
      {"EHLO [IPv6:zz::1]", false},
      {"EHLO host extra words", false},
      {"EHLO bad!name", false},
      {"EHLO [192.0.2.1", false},
      {"EHLO <client.example>", false},
  };
  for (const auto& [line, valid] : rows) {
    CAPTURE(line);
    const Transcript t = run(std::string(line) + "\r\n", small_config());
    REQUIRE(!t.replies.empty());
    if (valid) {
      CHECK(t.replies.back().starts_with("250"));
    } else {
      CHECK(t.replies.back().starts_with("501 5.5.4 Syntax: "));
    }
  }
}

TEST_CASE("simple commands get their fixed replies") {
  check_last_replies({
      {"NOOP\r\n", "250 2.0.0 Ok"},
      {"NOOP anything goes\r\n", "250 2.0.0 Ok"},
      {"RSET\r\n", "250 2.0.0 Ok"},
      {"RSET now\r\n", "501 5.5.4 Syntax: RSET"},
      {"VRFY someone\r\n",
       "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery"},
      {"VRFY\r\n", "501 5.5.4 Syntax: VRFY address"},
      {"EXPN staff\r\n", "502 5.5.1 Error: command not implemented"},
      {"HELP\r\n", "214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP"},
      {"STARTTLS\r\n", "502 5.5.1 Error: TLS not available"},
      {"AUTH PLAIN AGFAYg==\r\n", "530 5.7.0 Must issue a STARTTLS command first"},
      {"BDAT 10 LAST\r\n", "500 5.5.1 Error: command not recognized"},
      {"MAILFROM:<a@b>\r\n", "500 5.5.1 Error: command not recognized"},
      {" NOOP\r\n", "500 5.5.1 Error: command not recognized"},
      {"\r\n", "500 5.5.2 Error: bad syntax"},
      {"   \r\n", "500 5.5.2 Error: bad syntax"},
      {"QUIT\r\n", "221 2.0.0 Bye"},
  });
}

TEST_CASE("commands are case-insensitive") {
  const Lines replies = after_ehlo(
      "mail from:<a@b.example> size=10 body=8bitmime\r\nRcPt To:<c@d.example>\r\ndata\r\n.\r\n"
      "noop\r\nquit\r\n",
      small_config());
  CHECK(replies == Lines{"250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>",
                         "250 2.0.0 Ok: queued as TEST", "250 2.0.0 Ok", "221 2.0.0 Bye"});
}

TEST_CASE("MAIL paths and parameters get the right reply") {
  check_last_replies({
      {"MAIL FROM:<a@b.example>\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM: <a@b.example>\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<>\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<\"john doe\"@b.example>\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<a@[192.0.2.1]>\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<a@b.example> SIZE=1000\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<a@b.example> SIZE=0\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<a@b.example> BODY=7bit\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<a@b.example> SMTPUTF8\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<a@b.example>  SIZE=5   BODY=7BIT \r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<a@b.example> SIZE=1001\r\n",
       "552 5.3.4 Message size exceeds fixed limit of 1000 bytes"},
      {"MAIL FROM:<a@b.example> SIZE=99999999999999999999999999\r\n",
       "552 5.3.4 Message size exceeds fixed limit of 1000 bytes"},
      {"MAIL FROM:<a@b.example> SIZE=12k\r\n", "501 5.5.4 Bad SIZE parameter"},
      {"MAIL FROM:<a@b.example> SIZE\r\n", "501 5.5.4 Bad SIZE parameter"},
      {"MAIL FROM:<a@b.example> SIZE=1 SIZE=2\r\n", "501 5.5.4 Bad SIZE parameter"},
      {"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n", "501 5.5.4 Bad BODY parameter"},
      {"MAIL FROM:<a@b.example> SMTPUTF8=yes\r\n", "501 5.5.4 Bad SMTPUTF8 parameter"},
      {"MAIL FROM:<a@b.example> AUTH=<>\r\n", "555 5.5.4 Unsupported MAIL parameter AUTH"},
      {"MAIL FROM:<a@b.example> x-custom=1\r\n", "555 5.5.4 Unsupported MAIL parameter X-CUSTOM"},
      {"MAIL FROM:<a@b.example> SIZE=\r\n", "501 5.5.4 Bad parameter syntax"},
      {"MAIL FROM:<a@b.example> =1\r\n", "501 5.5.4 Bad parameter syntax"},
      {"MAIL FROM:a@b.example\r\n", "501 5.1.7 Bad sender address syntax"},
      {"MAIL FROM:<a@b.example\r\n", "501 5.1.7 Bad sender address syntax"},
      {"MAIL FROM:<a@b.example>junk\r\n", "501 5.1.7 Bad sender address syntax"},
      {"MAIL FROM:<a b@b.example>\r\n", "501 5.1.7 Bad sender address syntax"},
      {"MAIL FROM:<Postmaster>\r\n", "501 5.1.7 Bad sender address syntax"},
      {"MAIL FROM:\r\n", "501 5.1.7 Bad sender address syntax"},
      {"MAIL FROM:<" + std::string(65, 'a') + "@b.example>\r\n",
       "501 5.1.7 Sender address too long"},
      {"MAIL FROM:<\xC3\xBC@b.example>\r\n", "553 5.6.7 UTF-8 address requires SMTPUTF8"},
      {"MAIL FROM:<\xC3\xBC@b.example> SMTPUTF8\r\n", "250 2.1.0 Ok"},
      {"MAIL FROM:<\xC3@b.example> SMTPUTF8\r\n", "501 5.1.7 Bad sender address syntax"},
      {"MAIL TO:<a@b.example>\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL FROM <a@b.example>\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>"},
      {"MAIL\r\n", "501 5.5.4 Syntax: MAIL FROM:<address>"},
  });
}

TEST_CASE("an accepted MAIL records the sender, BODY and SMTPUTF8") {
  ServerProtocol protocol(small_config());
  protocol.feed(
      "EHLO c.example\r\nMAIL FROM:<\"a b\"@B.Example> BODY=8bitmime SMTPUTF8 SIZE=10\r\n");
  const Action action = protocol.next();
  REQUIRE(action.kind == Kind::mail);
  CHECK(action.argument.path.address == "\"a b\"@B.Example");
  REQUIRE(action.argument.parameters.size() == 3);
  CHECK(action.argument.parameters[0].keyword == "BODY");
  CHECK(!protocol.in_transaction());  // not before the session accepts it
  protocol.resolve({250, "2.1.0", "Ok"});
  CHECK(protocol.in_transaction());
  CHECK(protocol.sender().local_part == "\"a b\"");
  CHECK(protocol.sender().domain == "B.Example");
  CHECK(protocol.body_type() == "8BITMIME");
  CHECK(protocol.smtputf8());
  CHECK(protocol.esmtp());
  CHECK(protocol.helo() == "c.example");
}

TEST_CASE("the null sender is accepted for MAIL") {
  ServerProtocol protocol(small_config());
  protocol.feed("EHLO c.example\r\nMAIL FROM:<>\r\n");
  REQUIRE(protocol.next().kind == Kind::mail);
  protocol.resolve({250, "2.1.0", "Ok"});
  CHECK(protocol.in_transaction());
  CHECK(protocol.sender().is_null());
}

TEST_CASE("MAIL and RCPT out of sequence get 503 5.5.1") {
  CHECK(run("MAIL FROM:<a@b.example>\r\n", small_config()).replies ==
        Lines{"503 5.5.1 Error: send HELO/EHLO first"});
  CHECK(after_ehlo("RCPT TO:<c@d.example>\r\n", small_config()) ==
        Lines{"503 5.5.1 Error: need MAIL command"});
  CHECK(after_ehlo("MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\n", small_config()) ==
        Lines{"250 2.1.0 Ok", "503 5.5.1 Error: nested MAIL command"});
}

TEST_CASE("a MAIL the session refuses opens no transaction") {
  const Lines replies =
      after_ehlo("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n", small_config(),
                 refuse_kind(Kind::mail, {550, "5.7.1", "Sender not allowed"}));
  CHECK(replies == Lines{"550 5.7.1 Sender not allowed", "503 5.5.1 Error: need MAIL command"});
}

TEST_CASE("RCPT paths get the right reply") {
  const std::string mail = "MAIL FROM:<a@b.example>\r\n";
  check_last_replies({
      {mail + "RCPT TO:<c@d.example>\r\n", "250 2.1.5 Ok"},
      {mail + "RCPT TO: <c@d.example>\r\n", "250 2.1.5 Ok"},
      {mail + "RCPT TO:<Postmaster>\r\n", "250 2.1.5 Ok"},
      {mail + "rcpt to:<postmaster>\r\n", "250 2.1.5 Ok"},
      {mail + "RCPT TO:<@relay.example:c@d.example>\r\n", "250 2.1.5 Ok"},
      {mail + "RCPT TO:<\"c@d\"@d.example>\r\n", "250 2.1.5 Ok"},
      {mail + "RCPT TO:<c@[IPv6:2001:db8::1]>\r\n", "250 2.1.5 Ok"},
      {mail + "RCPT TO:<>\r\n", "501 5.1.3 Bad recipient address syntax"},
      {mail + "RCPT TO:c@d.example\r\n", "501 5.1.3 Bad recipient address syntax"},
      {mail + "RCPT TO:<c@d..example>\r\n", "501 5.1.3 Bad recipient address syntax"},
      {mail + "RCPT TO:<c@>\r\n", "501 5.1.3 Bad recipient address syntax"},
      {mail + "RCPT TO:<c@d.example> NOTIFY=NEVER\r\n",
       "555 5.5.4 Unsupported RCPT parameter NOTIFY"},
      {mail + "RCPT TO:<\xC3\xBC@d.example>\r\n", "553 5.6.7 UTF-8 address requires SMTPUTF8"},
      {mail + "RCPT TO:<" + std::string(10, 'c') + "@" + std::string(60, 'd') + "." +
           std::string(60, 'd') + "." + std::string(60, 'd') + "." + std::string(60, 'd') +
           ".example>\r\n",
       "501 5.1.3 Recipient address too long"},
      {mail + "RCPT FROM:<c@d.example>\r\n", "501 5.5.4 Syntax: RCPT TO:<address>"},
  });
}

TEST_CASE("UTF-8 recipients are accepted in an SMTPUTF8 transaction") {
  const Lines replies = after_ehlo(
      "MAIL FROM:<\xC3\xA1@b.example> SMTPUTF8\r\nRCPT TO:<\xE5\x8F\xB8@\xE4\xBE\x8B.example>\r\n",
      small_config());
  CHECK(replies == Lines{"250 2.1.0 Ok", "250 2.1.5 Ok"});
}

TEST_CASE("recipients beyond max_recipients get 452 4.5.3 and the first ones stay") {
  ServerProtocol::Config config = small_config();
  config.max_recipients = 2;
  config.max_errors = 3;  // 452 is a limit, not an error
  const Transcript t =
      run("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<1@d.example>\r\n"
          "RCPT TO:<2@d.example>\r\nRCPT TO:<3@d.example>\r\nRCPT TO:<4@d.example>\r\n"
          "RCPT TO:<5@d.example>\r\nDATA\r\nhi\r\n.\r\n",
          config);
  CHECK(t.events == Lines{"mail <a@b.example>", "rcpt <1@d.example>", "rcpt <2@d.example>",
                          "data_start", "data_end ok 4"});
  const Lines tail(t.replies.end() - 6, t.replies.end());
  CHECK(tail == Lines{"250 2.1.5 Ok", "452 4.5.3 Too many recipients",
                      "452 4.5.3 Too many recipients", "452 4.5.3 Too many recipients",
                      "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Ok: queued as TEST"});
}

TEST_CASE("DATA needs MAIL, an accepted recipient and no argument") {
  check_last_replies({
      {"DATA\r\n", "503 5.5.1 Error: need MAIL command"},
      {"MAIL FROM:<a@b.example>\r\nDATA\r\n", "554 5.5.1 No valid recipients"},
      {"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA now\r\n",
       "501 5.5.4 Syntax: DATA"},
  });
  const Lines replies =
      after_ehlo("MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", small_config(),
                 refuse_kind(Kind::rcpt, {550, "5.1.1", "No such user"}));
  CHECK(replies ==
        Lines{"250 2.1.0 Ok", "550 5.1.1 No such user", "554 5.5.1 No valid recipients"});
}

TEST_CASE("a DATA start the session refuses keeps the transaction and reads commands") {
  const Transcript t =
      run("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nRSET\r\n",
          small_config(), std::string_view::npos,
          refuse_kind(Kind::data_start, {451, "4.3.0", "Spool unavailable"}));
  const Lines tail(t.replies.end() - 2, t.replies.end());
  CHECK(tail == Lines{"451 4.3.0 Spool unavailable", "250 2.0.0 Ok"});
  CHECK(!t.closed);
}

TEST_CASE("a full pipelined transaction in one feed is answered in order") {
  const std::string script =
      "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
      "RCPT TO:<bad@d.example>\r\nRCPT TO:<e@d.example>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n"
      ".\r\nMAIL FROM:<>\r\nRCPT TO:<f@d.example>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n";
  const Decider decide = [](const Action& action, const ServerProtocol&) -> std::optional<Reply> {
    if (action.kind == Kind::rcpt && action.argument.path.local_part == "bad") {
      return Reply{550, "5.1.1", "No such user"};
    }
    return std::nullopt;
  };
  const Transcript t = run(script, small_config(), std::string_view::npos, decide);
  CHECK(t.events == Lines{"mail <a@b.example>", "rcpt <c@d.example>", "rcpt <bad@d.example>",
                          "rcpt <e@d.example>", "data_start", "data_end ok 21", "mail <>",
                          "rcpt <f@d.example>", "data_start", "data_end ok 8", "close"});
  const Lines tail(t.replies.begin() + 6, t.replies.end());
  CHECK(tail == Lines{"250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.1.1 No such user", "250 2.1.5 Ok",
                      "354 End data with <CR><LF>.<CR><LF>", "250 2.0.0 Ok: queued as TEST",
                      "250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>",
                      "250 2.0.0 Ok: queued as TEST", "221 2.0.0 Bye"});
  CHECK(t.message == "Subject: hi\r\n\r\nbody\r\nsecond\r\n");
}

TEST_CASE("feeding a transaction one byte at a time gives the same transcript") {
  const std::vector<std::string> scripts = {
      "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
      "line 1\r\n..dotted\r\n.\r\nQUIT\r\n",
      "HELO c.example\r\nNOOP\r\nBOGUS\r\nMAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n.\r\n",
      "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
      "x\n.\nMAIL FROM:<evil@x.example>\r\n.\r\nRSET\r\n",
      "EHLO c.example\r\n" + std::string(600, 'X') + "\r\nNOOP\r\n",
      "EHLO c.example\r\nNOOP\nQUIT\r\n",
  };
  for (const std::string& script : scripts) {
    CAPTURE(script);
    const Transcript whole = run(script, small_config());
    for (const std::size_t piece : {1, 2, 3, 7}) {
      CAPTURE(piece);
      const Transcript pieces = run(script, small_config(), piece);
      CHECK(pieces.replies == whole.replies);
      CHECK(pieces.events == whole.events);
      CHECK(pieces.message == whole.message);
    }
  }
}

TEST_CASE("nothing after a command that waits for a decision is processed before resolve") {
  ServerProtocol protocol(small_config());
  protocol.feed("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nNOOP\r\n");
  REQUIRE(protocol.next().kind == Kind::mail);
  CHECK(protocol.awaiting_decision());
  CHECK(protocol.next().kind == Kind::mail);  // asked again, the same decision
  CHECK(split_reply_lines(protocol.take_output()).back() == "250 SMTPUTF8");
  protocol.resolve({250, "2.1.0", "Ok"});
  const Action rcpt = protocol.next();
  REQUIRE(rcpt.kind == Kind::rcpt);
  CHECK(rcpt.argument.path.address == "c@d.example");
  CHECK(protocol.take_output() == "250 2.1.0 Ok\r\n");
  protocol.resolve({250, "2.1.5", "Ok"});
  CHECK(protocol.next().kind == Kind::need_input);
  CHECK(protocol.take_output() == "250 2.1.5 Ok\r\n250 2.0.0 Ok\r\n");
  CHECK(protocol.recipients().size() == 1);
}

TEST_CASE("resolve without a pending decision changes nothing") {
  ServerProtocol protocol(small_config());
  protocol.take_output();
  protocol.resolve({250, "2.0.0", "Ok"});
  CHECK(protocol.take_output().empty());
  CHECK(protocol.next().kind == Kind::need_input);
}

TEST_CASE("RSET and a new EHLO end the transaction but keep the session") {
  for (const char* reset : {"RSET\r\n", "EHLO again.example\r\n", "HELO again.example\r\n"}) {
    CAPTURE(reset);
    ServerProtocol protocol(small_config());
    protocol.feed("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n");
    REQUIRE(protocol.next().kind == Kind::mail);
    protocol.resolve({250, "2.1.0", "Ok"});
    REQUIRE(protocol.next().kind == Kind::rcpt);
    protocol.resolve({250, "2.1.5", "Ok"});
    REQUIRE(protocol.next().kind == Kind::need_input);
    CHECK(protocol.in_transaction());
    protocol.feed(std::string(reset) + "RCPT TO:<c@d.example>\r\n");
    CHECK(protocol.next().kind == Kind::need_input);
    CHECK(!protocol.in_transaction());
    CHECK(protocol.recipients().empty());
    CHECK(protocol.sender().address.empty());
    CHECK(!protocol.helo().empty());
    CHECK(split_reply_lines(protocol.take_output()).back() == "503 5.5.1 Error: need MAIL command");
  }
}

TEST_CASE("QUIT replies 221 and closes; later input is ignored") {
  const Transcript t =
      run("EHLO c.example\r\nQUIT\r\nNOOP\r\nMAIL FROM:<a@b.example>\r\n", small_config());
  CHECK(t.replies.back() == "221 2.0.0 Bye");
  CHECK(t.events == Lines{"close"});
}
