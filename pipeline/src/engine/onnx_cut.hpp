#pragma once
// ONNX graph surgery for OpenCV 4.6: see onnx_cut.cpp.
#include <filesystem>
#include <string>

namespace sightline::pipeline {

/// The model at `path` with its graph cut so that tensor `output` is its only output (the nodes it does not need
/// dropped), and every Identity of an initializer replaced by a copy of that initializer; serialised, for
/// cv::dnn::readNetFromONNX(buffer). Throws Error naming the file: missing, not ONNX, or no such tensor.
std::string cut_onnx(const std::filesystem::path& path, const std::string& output);

/// The raw head of an unmodified Ultralytics YOLOv8/YOLO11 export (the Concat its Detect head splits into box and
/// class logits): the tensor to give as output.cut, decoded as layout yolov8_dfl. Empty when the graph is not one
/// (or cannot be read).
std::string find_ultralytics_raw_head(const std::filesystem::path& path);

} // namespace sightline::pipeline
