#include <cstdio>

#include "app/config.hpp"

int main(int argc, char** argv) {
  const auto parsed = fz::app::parse_args(argc, argv);
  switch (parsed.outcome) {
    case fz::app::ParseOutcome::exit_success:
      std::fputs(parsed.message.c_str(), stdout);
      return 0;
    case fz::app::ParseOutcome::exit_failure:
      std::fprintf(stderr, "firezone-gateway: %s\n", parsed.message.c_str());
      return 2;
    case fz::app::ParseOutcome::run:
      break;
  }
  fz::log::set_filter(parsed.config.log_filter);
  // The runtime (TUN, sockets, portal connection) is built in later milestones; until then the
  // binary validates its configuration and says plainly that it cannot run yet.
  FZ_ERROR("app", "this build has no runtime yet; only --help and --version are supported");
  return 1;
}
