// model.yaml: the contract between a trained detector and the pipeline (docs/model.md).
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <set>

#include "config/yaml_file.hpp"
#include "sightline/error.hpp"
#include "sightline/pipeline/model.hpp"
#include "sightline/transport/checks.hpp"

namespace sightline::pipeline {

namespace {
ModelSpec read_model_spec(const std::filesystem::path& yaml_path);
}

ModelSpec load_model_spec(const std::filesystem::path& yaml_path) {
    return detail::YamlFile::guarded(yaml_path, [&] { return read_model_spec(yaml_path); });
}

namespace {
ModelSpec read_model_spec(const std::filesystem::path& yaml_path) {
    auto [c, root] = detail::YamlFile::load(yaml_path);
    c.keys(root, "", {"name", "version", "file", "torchscript", "input", "output", "classes", "thresholds", "lineage"});
    ModelSpec m;
    m.yaml_path = yaml_path;
    m.name = c.get<std::string>(root["name"], "name");
    m.version = c.get<std::string>(root["version"], "version");
    // file: (ONNX, the OpenCV engine's) or torchscript: (the LibTorch engine's), or both; each engine says when
    // the one it reads is missing
    if (!root["file"] && !root["torchscript"])
        c.fail("file", "missing: give file: (ONNX) or torchscript: (TorchScript), or both");
    if (root["file"]) {
        m.onnx_path = yaml_path.parent_path() / c.get<std::string>(root["file"], "file");
        std::error_code ec;
        if (!std::filesystem::exists(m.onnx_path, ec))
            throw Error(ErrorCode::kNotFound, c.file + ": file: " + m.onnx_path.string() + ": no such file");
        if (!std::filesystem::is_regular_file(m.onnx_path, ec))
            c.fail("file", m.onnx_path.string() + ": not a regular file (expected the ONNX model)");
    }
    if (const auto lineage = root["lineage"]) {
        if (!lineage.IsMap()) c.fail("lineage", "expected a map (parent, data, recipe, ...)");
        if (lineage["parent"]) m.parent = c.get<std::string>(lineage["parent"], "lineage.parent");
    }
    if (root["torchscript"]) // checked by the LibTorch engine, the only one that reads it
        m.torchscript_path = yaml_path.parent_path() / c.get<std::string>(root["torchscript"], "torchscript");

    const auto in = root["input"];
    c.keys(in, "input",
           {"width", "height", "color", "layout", "dtype", "scale", "mean", "std", "pad_value", "dynamic_batch"});
    auto& p = m.preprocess;
    p.input_width = c.get<int>(in["width"], "input.width");
    p.input_height = c.get<int>(in["height"], "input.height");
    if (p.input_width <= 0 || p.input_height <= 0 || p.input_width > 8192 || p.input_height > 8192)
        c.fail("input", "width and height must be in 1..8192");
    const auto color = c.get<std::string>(in["color"], "input.color");
    if (color == "rgb")
        p.order = kernels::ChannelOrder::kRGB;
    else if (color == "bgr")
        p.order = kernels::ChannelOrder::kBGR;
    else
        c.fail("input.color", "expected rgb or bgr, got '" + color + "'");
    if (in["layout"] && c.get<std::string>(in["layout"], "input.layout") != "nchw")
        c.fail("input.layout", "only nchw is supported");
    if (in["dtype"] && c.get<std::string>(in["dtype"], "input.dtype") != "float32")
        c.fail("input.dtype", "only float32 is supported by the OpenCV engine");
    // the preprocess multiplies and divides by these: NaN, inf, 0 or a negative scale would pass a forward pass
    // and give every frame garbage
    if (in["scale"]) p.scale = c.get<float>(in["scale"], "input.scale");
    if (!(std::isfinite(p.scale) && p.scale > 0 && p.scale <= 1e6)) c.fail("input.scale", "must be finite and > 0");
    for (const char* key : {"mean", "std"}) {
        if (!in[key]) continue;
        auto v = c.get<std::vector<float>>(in[key], std::string("input.") + key);
        if (v.size() != 3) c.fail(std::string("input.") + key, "expected 3 values");
        for (int k = 0; k < 3; ++k) (key[0] == 'm' ? p.mean : p.std)[k] = v[k];
    }
    for (float x : p.mean)
        if (!(std::isfinite(x) && std::fabs(x) <= 1e6)) c.fail("input.mean", "must be finite");
    for (float x : p.std)
        if (!(std::isfinite(x) && x != 0.f && std::fabs(x) <= 1e6)) c.fail("input.std", "must be finite and non-zero");
    if (in["pad_value"]) p.pad_value = c.get<float>(in["pad_value"], "input.pad_value");
    if (!(p.pad_value >= 0 && p.pad_value <= 255)) c.fail("input.pad_value", "must be in [0, 255] (pixel units)");
    if (in["dynamic_batch"]) m.dynamic_batch = c.get<bool>(in["dynamic_batch"], "input.dynamic_batch");

    const auto out = root["output"];
    c.keys(out, "output", {"layout", "candidates", "cut", "reg_max"});
    const auto layout = c.get<std::string>(out["layout"], "output.layout");
    if (layout == "yolov8")
        m.layout = kernels::HeadLayout::kYoloV8;
    else if (layout == "yolov5")
        m.layout = kernels::HeadLayout::kYoloV5;
    else if (layout == "yolov8_dfl")
        m.layout = kernels::HeadLayout::kYoloV8Dfl;
    else
        c.fail("output.layout", "expected yolov8, yolov5 or yolov8_dfl, got '" + layout + "'");
    if (out["cut"]) m.cut = c.get<std::string>(out["cut"], "output.cut");
    if (out["reg_max"]) m.reg_max = c.get<int>(out["reg_max"], "output.reg_max");
    if (m.reg_max < 1 || m.reg_max > 64) c.fail("output.reg_max", "must be in 1..64");
    if (m.layout == kernels::HeadLayout::kYoloV8Dfl && (p.input_width % 32 != 0 || p.input_height % 32 != 0))
        c.fail("input", "the yolov8_dfl layout needs a width and height that are multiples of 32");
    if (out["candidates"]) m.candidates = c.get<int>(out["candidates"], "output.candidates");

    m.classes = c.get<std::vector<std::string>>(root["classes"], "classes");
    if (m.classes.empty()) c.fail("classes", "at least one class");
    if (m.classes.size() > transport::limits::kClasses)
        c.fail("classes", std::to_string(m.classes.size()) + " classes, more than the " +
                              std::to_string(transport::limits::kClasses) + " the wire carries");
    for (std::size_t i = 0; i < m.classes.size(); ++i) // the names go on the wire, into reports and labels
        if (m.classes[i].empty() || m.classes[i].size() > transport::limits::kNameBytes ||
            !transport::valid_utf8(m.classes[i]))
            c.fail("classes[" + std::to_string(i) + "]",
                   "must be 1.." + std::to_string(transport::limits::kNameBytes) + " bytes of valid UTF-8");
    for (const auto* key : {&m.name, &m.version})
        if (key->empty() || key->size() > 120 || !transport::valid_utf8(*key))
            c.fail(key == &m.name ? "name" : "version", "must be 1..120 bytes of valid UTF-8");
    if (m.candidates < 0) c.fail("output.candidates", "must be >= 0");
    if (const auto t = root["thresholds"]) {
        c.keys(t, "thresholds", {"confidence", "iou", "max_det"});
        if (t["confidence"]) m.confidence = c.get<float>(t["confidence"], "thresholds.confidence");
        if (t["iou"]) m.iou = c.get<float>(t["iou"], "thresholds.iou");
        if (t["max_det"]) m.max_det = c.get<int>(t["max_det"], "thresholds.max_det");
        if (!(m.confidence >= 0 && m.confidence < 1)) c.fail("thresholds.confidence", "must be in [0, 1)");
        if (!(m.iou > 0 && m.iou <= 1)) c.fail("thresholds.iou", "must be in (0, 1]");
        if (m.max_det < 1) c.fail("thresholds.max_det", "must be >= 1");
    }
    return m;
}
} // namespace

} // namespace sightline::pipeline
