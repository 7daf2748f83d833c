// smtp::Reply: wire form (RFC 5321 4.2.1 multi-line replies, RFC 2034 enhanced codes) and log
// form.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "policy_relay/smtp/reply.hpp"

using policy_relay::smtp::Reply;

TEST_CASE("a reply renders on the wire with its enhanced code on every line") {
  struct Row {
    Reply reply;
    std::string wire;
  };
  const std::vector<Row> rows = {
      {{250, "2.0.0", "Ok"}, "250 2.0.0 Ok\r\n"},
      {{220, "", "relay.example ESMTP policy-relay"}, "220 relay.example ESMTP policy-relay\r\n"},
      {{250, "", "relay.example\nSIZE 1000\nPIPELINING"},
       "250-relay.example\r\n250-SIZE 1000\r\n250 PIPELINING\r\n"},
      {{550, "5.7.1", "Refused\nsee the policy"},
       "550-5.7.1 Refused\r\n550 5.7.1 see the policy\r\n"},
      {{250, "2.0.0", "Ok\n"}, "250 2.0.0 Ok\r\n"},
      {{250, "2.0.0", ""}, "250 2.0.0\r\n"},
      {{250, "", ""}, "250\r\n"},
      {{250, "", "a\n\nb"}, "250-a\r\n250-\r\n250 b\r\n"},
      {{451, "4.3.0", "a\r\nb"}, "451-4.3.0 a\r\n451 4.3.0 b\r\n"},
      {{554, "5.6.0", "bad\x01\x7f\tbyte\rs"}, "554 5.6.0 bad??\tbytes\r\n"},
      {{553, "5.1.3", "<\xC3\xBC@x>"}, "553 5.1.3 <\xC3\xBC@x>\r\n"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.wire);
    CHECK(row.reply.to_wire() == row.wire);
  }
}

TEST_CASE("a reply renders for the log on one line joined with semicolons") {
  CHECK(Reply{250, "2.0.0", "Ok"}.to_log() == "250 2.0.0 Ok");
  CHECK(Reply{550, "5.7.1", "Refused\nsee the policy"}.to_log() ==
        "550 5.7.1 Refused; see the policy");
  CHECK(Reply{250, "", "relay.example\nSIZE 1000"}.to_log() == "250 relay.example; SIZE 1000");
  CHECK(Reply{221, "", ""}.to_log() == "221");
  CHECK(Reply{451, "4.3.0", "a\r\nb\n"}.to_log() == "451 4.3.0 a; b");
  CHECK(Reply{500, "", "x\x01y"}.to_log() == "500 x?y");
}

TEST_CASE("reply classes follow the first digit") {
  CHECK(Reply{250, "", ""}.positive());
  CHECK(Reply{354, "", ""}.positive());
  CHECK(!Reply{250, "", ""}.transient());
  CHECK(Reply{421, "", ""}.transient());
  CHECK(!Reply{421, "", ""}.permanent());
  CHECK(Reply{554, "", ""}.permanent());
  CHECK(!Reply{554, "", ""}.positive());
}
