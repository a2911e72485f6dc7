#include "sightline/pipeline/ground_truth.hpp"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "sightline/error.hpp"
#include "sightline/kernels/box.hpp"

namespace sightline::pipeline {

GroundTruth load_coco_ground_truth(const std::filesystem::path& path) {
    std::ifstream f(path);
    if (!f) throw Error(ErrorCode::kNotFound, path.string() + ": cannot open");
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::kBadInput, path.string() + ": malformed JSON: " + e.what());
    }
    GroundTruth gt;
    std::map<std::int64_t, std::size_t> index;
    try {
        for (const auto& c : j.at("categories")) gt.categories[c.at("id").get<int>()] = c.at("name").get<std::string>();
        for (const auto& im : j.at("images")) {
            GtImage g{im.at("id").get<std::int64_t>(), {}, {}};
            if (im.contains("tags")) g.tags = im["tags"].get<std::vector<std::string>>();
            if (im.contains("timestamp")) g.timestamp = im["timestamp"].get<double>();
            gt.images.push_back(std::move(g));
        }
        std::sort(gt.images.begin(), gt.images.end(), [](const GtImage& a, const GtImage& b) { return a.id < b.id; });
        for (std::size_t i = 0; i < gt.images.size(); ++i) index[gt.images[i].id] = i;
        std::size_t k = 0;
        for (const auto& a : j.at("annotations")) {
            const auto id = a.at("image_id").get<std::int64_t>();
            auto it = index.find(id);
            if (it == index.end())
                throw Error(ErrorCode::kBadInput, path.string() + ": annotations[" + std::to_string(k) +
                                                      "]: image_id " + std::to_string(id) + " is not in images");
            const auto& b = a.at("bbox");
            gt.images[it->second].boxes.push_back({b.at(0).get<float>(), b.at(1).get<float>(), b.at(2).get<float>(),
                                                   b.at(3).get<float>(), a.at("category_id").get<int>(),
                                                   a.value("iscrowd", 0) != 0});
            ++k;
        }
    } catch (const nlohmann::json::exception& e) {
        throw Error(ErrorCode::kBadInput, path.string() + ": not COCO instances JSON: " + e.what());
    }
    return gt;
}

MatchCounts match_at_iou(const std::vector<Detection>& dets, const GtImage& image,
                         const std::vector<int>& class_to_category, float thr) {
    MatchCounts m;
    std::vector<char> used(image.boxes.size(), 0);
    for (const auto& d : dets) { // detections arrive best first
        const int cat =
            d.cls >= 0 && d.cls < static_cast<int>(class_to_category.size()) ? class_to_category[d.cls] : -1;
        int best = -1;
        float best_iou = thr;
        bool on_crowd = false;
        for (std::size_t g = 0; g < image.boxes.size(); ++g) {
            const auto& b = image.boxes[g];
            if (b.category_id != cat) continue;
            const float iou = kernels::detail::iou_xyxy(d.x1, d.y1, d.x2, d.y2, b.x, b.y, b.x + b.w, b.y + b.h);
            if (iou < thr) continue;
            if (b.crowd) {
                on_crowd = true;
                continue;
            }
            if (!used[g] && iou >= best_iou) best = static_cast<int>(g), best_iou = iou;
        }
        if (best >= 0) {
            used[best] = 1;
            ++m.tp;
        } else if (!on_crowd) {
            ++m.fp;
        }
    }
    for (std::size_t g = 0; g < image.boxes.size(); ++g)
        if (!used[g] && !image.boxes[g].crowd) ++m.fn;
    return m;
}

} // namespace sightline::pipeline
