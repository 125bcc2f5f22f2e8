//===- Pending.cpp - Subcommands not yet implemented ----------------------===//
//
// check and gen-case arrive with the reference oracle; until then they say so.
//
//===----------------------------------------------------------------------===//
#include "Commands.h"

namespace kdac::cli {
int runCheck() { return reportError("kdac check is not implemented yet"); }
int runGenCase() { return reportError("kdac gen-case is not implemented yet"); }
} // namespace kdac::cli
