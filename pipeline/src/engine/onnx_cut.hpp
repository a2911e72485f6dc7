#pragma once
// ONNX graph surgery for OpenCV 4.6: see onnx_cut.cpp.
#include <filesystem>
#include <string>

namespace sightline::pipeline {

/// The model at `path` with its graph cut so that tensor `output` is its only output (the nodes it does not need
/// dropped), and every Identity of an initializer replaced by a copy of that initializer; serialised, for
/// cv::dnn::readNetFromONNX(buffer). Throws Error naming the file: missing, not ONNX, or no such tensor.
std::string cut_onnx(const std::filesystem::path& path, const std::string& output);

} // namespace sightline::pipeline
