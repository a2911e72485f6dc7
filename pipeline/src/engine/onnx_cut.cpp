// ONNX graph surgery for OpenCV 4.6 (Debian 12's), with Debian's libonnx: cut a graph at an inner tensor, and give
// each Identity that only passes an initializer its own copy. Ultralytics' YOLOv8/YOLO11 exports need both: 4.6
// cannot run their decoding tail, nor the Identity nodes torch's exporter uses to share equal initializers.
#include "engine/onnx_cut.hpp"

#include <onnx/onnx_pb.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "sightline/error.hpp"

namespace sightline::pipeline {

std::string cut_onnx(const std::filesystem::path& path, const std::string& output) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorCode::kNotFound, path.string() + ": cannot open");
    std::stringstream bytes;
    bytes << in.rdbuf();
    onnx::ModelProto model;
    if (!model.ParseFromString(bytes.str()))
        throw Error(ErrorCode::kBadInput, path.string() + ": not an ONNX model (protobuf parse failed)");
    onnx::GraphProto* g = model.mutable_graph();
    std::map<std::string, int> producer;
    for (int i = 0; i < g->node_size(); ++i)
        for (const auto& o : g->node(i).output()) producer[o] = i;
    if (!producer.count(output))
        throw Error(ErrorCode::kBadInput, path.string() + ": output.cut: no node produces a tensor named '" + output +
                                              "' (open the model in Netron to find the raw head's concat)");
    std::set<std::string> initializers;
    for (const auto& t : g->initializer()) initializers.insert(t.name());
    // the nodes the cut output needs, walking back from it
    std::set<int> needed;
    std::vector<std::string> todo{output};
    while (!todo.empty()) {
        const std::string t = todo.back();
        todo.pop_back();
        const auto it = producer.find(t);
        if (it == producer.end() || !needed.insert(it->second).second) continue;
        for (const auto& i : g->node(it->second).input()) todo.push_back(i);
    }
    onnx::GraphProto cut;
    cut.set_name(g->name());
    for (const auto& i : g->input()) *cut.add_input() = i;
    std::map<std::string, const onnx::TensorProto*> init_of;
    for (const auto& t : g->initializer()) init_of[t.name()] = &t;
    for (const auto& t : g->initializer()) *cut.add_initializer() = t;
    for (int i = 0; i < g->node_size(); ++i) {
        if (!needed.count(i)) continue;
        const onnx::NodeProto& n = g->node(i);
        if (n.op_type() == "Identity" && n.input_size() == 1 && init_of.count(n.input(0))) {
            onnx::TensorProto copy = *init_of[n.input(0)];
            copy.set_name(n.output(0));
            *cut.add_initializer() = copy;
            continue;
        }
        *cut.add_node() = n;
    }
    onnx::ValueInfoProto* out = cut.add_output();
    out->set_name(output);
    out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    out->mutable_type()->mutable_tensor_type()->mutable_shape(); // OpenCV wants a shape, even without known dims
    for (const auto& v : g->value_info())
        if (v.name() == output) *out = v; // the exporter's own shape, when it recorded one
    *g = cut;
    std::string serialized;
    model.SerializeToString(&serialized);
    return serialized;
}

std::string find_ultralytics_raw_head(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {};
    std::stringstream bytes;
    bytes << in.rdbuf();
    onnx::ModelProto model;
    if (!model.ParseFromString(bytes.str())) return {};
    const onnx::GraphProto& g = model.graph();
    std::map<std::string, const onnx::NodeProto*> producer;
    for (const auto& n : g.node())
        for (const auto& o : n.output()) producer[o] = &n;
    // Ultralytics' Detect head: x_cat = cat([level.view(b, no, -1) ...], 2), then box, cls = x_cat.split(...): the
    // raw head is the Concat that the Split reads
    std::string found;
    for (const auto& n : g.node()) {
        if (n.op_type() != "Split" || n.input_size() < 1) continue;
        const auto it = producer.find(n.input(0));
        if (it != producer.end() && it->second->op_type() == "Concat" && it->second->input_size() >= 3)
            found = n.input(0); // the last one in graph order: the head, after any earlier splits
    }
    return found;
}

} // namespace sightline::pipeline
