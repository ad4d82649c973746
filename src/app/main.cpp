#include <cstdio>

#include "app/config.hpp"
#include "app/gateway_app.hpp"

int main(int argc, char** argv) {
  const auto parsed = fz::app::parse_args(argc, argv);
  switch (parsed.outcome) {
    case fz::app::ParseOutcome::exit_success:
      std::fputs(parsed.message.c_str(), stdout);
      return 0;
    case fz::app::ParseOutcome::exit_failure:
      std::fprintf(stderr, "firezone-gateway: %s\n", parsed.message.c_str());
      return 1;
    case fz::app::ParseOutcome::run:
      break;
  }
  fz::log::set_filter(parsed.config.log_filter);
  return fz::app::run_gateway(parsed.config);
}
