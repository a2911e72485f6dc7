#include <cstdio>
#include <cstdlib>

#include "sightline/error.hpp"

namespace sightline::detail {
void assert_fail(const char* cond, const char* file, int line) noexcept {
    std::fprintf(stderr, "sightline: internal error: assertion '%s' failed at %s:%d\n", cond, file, line);
    std::abort();
}
} // namespace sightline::detail
