#pragma once
// Carves one device workspace allocation into 256-byte aligned pieces; the same walk sizes it (pass nullptr).
#include <cstddef>
#include <cstdint>

namespace sightline::kernels::detail {

class Carver {
  public:
    explicit Carver(void* base) : base_(static_cast<std::uint8_t*>(base)) {}
    template <class T> T* take(std::size_t count) {
        const std::size_t at = used_;
        used_ += (count * sizeof(T) + 255) / 256 * 256;
        return base_ ? reinterpret_cast<T*>(base_ + at) : nullptr;
    }
    std::size_t used() const { return used_; }

  private:
    std::uint8_t* base_;
    std::size_t used_ = 0;
};

} // namespace sightline::kernels::detail
