#pragma once
// A portable seeded generator: the standard distributions differ between library implementations, these do not,
// so a seed gives the same scene on every machine.
#include <cmath>
#include <cstdint>
#include <numbers>

namespace sightline::pipeline::synth::detail {

class Rng {
  public:
    /// The seed goes through splitmix64's finaliser first: the state advances by a fixed step, so seeding it with
    /// the seed itself would make seeds a step apart give one stream shifted by a draw (scenes that fall into step
    /// within seconds), and seeds must give scenes that have nothing in common.
    explicit Rng(std::uint64_t seed) : state_(mix(seed)) {}

    std::uint64_t next() { return mix(state_ += 0x9E3779B97F4A7C15ull); } // splitmix64
    /// Uniform in [0, 1).
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    int integer(int lo, int hi_inclusive) {
        return lo + static_cast<int>(next() % static_cast<std::uint64_t>(hi_inclusive - lo + 1));
    }
    bool bernoulli(double p) { return uniform() < p; }
    double normal() { // Box-Muller, one value per call
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }
    /// Approximately standard normal (Irwin-Hall sum of four 16-bit uniforms, rescaled): cheap enough for
    /// per-pixel sensor noise, bounded at +-3.46 sigma.
    double fast_normal() {
        std::uint64_t r = next();
        double s = 0;
        for (int k = 0; k < 4; ++k, r >>= 16) s += static_cast<double>(r & 0xFFFF) * (1.0 / 65536.0);
        return (s - 2.0) * 1.7320508075688772; // variance of the sum is 4/12
    }
    /// Index drawn with probability proportional to weights[i].
    template <class Weights> int pick(const Weights& weights) {
        double total = 0;
        for (double w : weights) total += w;
        double r = uniform() * total;
        int i = 0;
        for (double w : weights) {
            if (r < w) return i;
            r -= w;
            ++i;
        }
        return i - 1;
    }

  private:
    static std::uint64_t mix(std::uint64_t z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    std::uint64_t state_;
};

} // namespace sightline::pipeline::synth::detail
