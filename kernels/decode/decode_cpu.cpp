// CPU twin of head decode.
#include <algorithm>
#include <vector>

#include "decode/decode_common.hpp"

namespace sightline::kernels {

void decode_cpu(const float* head, int batch, const DecodeParams& p, Candidate* out, int* counts) {
    detail::validate(p);
    const int fields = detail::num_fields(p);
    const std::size_t per_image = static_cast<std::size_t>(fields) * p.num_candidates;
    std::vector<Candidate> kept;
    for (int b = 0; b < batch; ++b) {
        const float* t = head + b * per_image;
        kept.clear();
        for (int n = 0; n < p.num_candidates; ++n) {
            Candidate c;
            if (p.layout == HeadLayout::kYoloV8Dfl) {
                auto raw = [&](int k) { return t[static_cast<std::size_t>(k) * p.num_candidates + n]; };
                const detail::DflFields<decltype(raw)> f{raw, p.reg_max, detail::dfl_anchor(p, n)};
                // decoded fields in the v8 order: class scores first scanned, box read for the kept ones only
                if (detail::class_scores(f, HeadLayout::kYoloV8, p.num_classes).best <= p.confidence_threshold)
                    continue;
                c = detail::decode_one(f, HeadLayout::kYoloV8, p.num_classes, n);
            } else if (p.layout == HeadLayout::kYoloV8)
                c = detail::decode_one([&](int k) { return t[static_cast<std::size_t>(k) * p.num_candidates + n]; },
                                       p.layout, p.num_classes, n);
            else
                c = detail::decode_one([&](int k) { return t[static_cast<std::size_t>(n) * fields + k]; }, p.layout,
                                       p.num_classes, n);
            if (c.score > p.confidence_threshold) kept.push_back(c);
        }
        const std::size_t k = std::min<std::size_t>(kept.size(), p.top_k);
        std::partial_sort(kept.begin(), kept.begin() + k, kept.end(), detail::ranks_before);
        std::copy(kept.begin(), kept.begin() + k, out + static_cast<std::size_t>(b) * p.top_k);
        counts[b] = static_cast<int>(k);
    }
}

int decode_fields(const DecodeParams& p) {
    return detail::num_fields(p);
}

#ifndef SIGHTLINE_HAS_CUDA
std::size_t decode_cuda_workspace_bytes(int, const DecodeParams&) {
    return 0;
}
void decode_cuda(const float*, int, const DecodeParams&, Candidate*, int*, void*, std::size_t, StreamRef) {
    throw Error(ErrorCode::kUnsupported, "decode_cuda: this build has no CUDA kernels (SIGHTLINE_CUDA=OFF)");
}
#endif

} // namespace sightline::kernels
