// The head tensor's expected shape: compiled into the pipeline and into the LibTorch engine module alike (the module
// is loaded at run time and carries what it calls).
#include "sightline/error.hpp"
#include "sightline/pipeline/model.hpp"

namespace sightline::pipeline {

int head_fields(const ModelSpec& spec) {
    kernels::DecodeParams p;
    p.layout = spec.layout, p.num_classes = static_cast<int>(spec.classes.size()), p.reg_max = spec.reg_max;
    return kernels::decode_fields(p);
}

void check_head_shape(const ModelSpec& spec, const std::filesystem::path& file, int dims, std::int64_t d0,
                      std::int64_t d1, std::int64_t d2, int batch) {
    const bool v5 = spec.layout == kernels::HeadLayout::kYoloV5;
    if (dims == 3 && d0 == batch && (v5 ? d2 : d1) == head_fields(spec)) return;
    const char* layout = v5 ? "yolov5" : spec.layout == kernels::HeadLayout::kYoloV8Dfl ? "yolov8_dfl" : "yolov8";
    const int box = v5 ? 5 : spec.layout == kernels::HeadLayout::kYoloV8Dfl ? 4 * spec.reg_max : 4;
    // named by the model.yaml, the file that is wrong (several model.yaml files may share one network file)
    std::string msg = spec.yaml_path.string() + ": the output of " + file.filename().string() + " has shape [" +
                      std::to_string(d0) + ", " + std::to_string(d1) + ", " + std::to_string(d2) + "] (" +
                      std::to_string(dims) + " dims), which this model.yaml does not describe: layout " + layout +
                      " with " + std::to_string(spec.classes.size()) + " classes expects [" + std::to_string(batch) +
                      ", " +
                      (v5 ? "N, " + std::to_string(head_fields(spec)) : std::to_string(head_fields(spec)) + ", N") +
                      "] (" + std::to_string(box) + " box values + one per class per candidate)";
    if (dims == 3) {
        const std::int64_t fields = v5 ? d2 : d1;
        if (fields > box)
            msg += "; this output has " + std::to_string(fields) +
                   " values per candidate: " + std::to_string(fields - box) + " classes with layout " + layout;
        if (!v5 && spec.layout != kernels::HeadLayout::kYoloV8Dfl && fields > 64)
            msg +=
                ", or " + std::to_string(fields - 64) + " with layout yolov8_dfl (reg_max 16, a raw Ultralytics head)";
    }
    throw Error(ErrorCode::kBadInput, msg);
}

} // namespace sightline::pipeline
