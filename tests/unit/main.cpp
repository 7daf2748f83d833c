#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>

// Like the daemon (main.cpp): a peer that went away is an error code, not SIGPIPE (hiredis
// writes to its socket with write(2)).
int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  return doctest::Context(argc, argv).run();
}
