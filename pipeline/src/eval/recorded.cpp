// A run's recording as COCO results against a ground truth.
#include "sightline/pipeline/recorded.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <unordered_set>

#include "sightline/error.hpp"
#include "sightline/pipeline/online_eval.hpp"
#include "sightline/transport/recording.hpp"

namespace sightline::pipeline {

namespace {

const std::string* meta_value(const CocoImage& im, const char* key) {
    const auto it = im.meta.find(key);
    return it == im.meta.end() || it->second.empty() ? nullptr : &it->second.front();
}

/// The ground truth's images by (camera, frame index): camera "" when it names none, frame = the image id without
/// frame_index metadata.
struct GroundTruthFrames {
    std::map<std::pair<std::string, std::int64_t>, std::int64_t> image_of;
    std::set<std::string> cameras;
    explicit GroundTruthFrames(const CocoGroundTruth& gt) {
        for (const auto& im : gt.images) {
            const std::string* cam = meta_value(im, "camera");
            const std::string* frame = meta_value(im, "frame_index");
            std::int64_t f = im.id;
            if (frame) {
                try {
                    f = std::stoll(*frame);
                } catch (const std::exception&) {
                    throw Error(ErrorCode::kBadInput, gt.source + ": image " + std::to_string(im.id) +
                                                          ": frame_index '" + *frame + "' is not an integer");
                }
            }
            if (cam) cameras.insert(*cam);
            image_of[{cam ? *cam : std::string(), f}] = im.id;
        }
    }
};

/// Per version (by the model its messages name): model class index -> category id by name (after `class_map`);
/// classes the ground truth lacks get ids past its largest, each name once, listed in `unknown`.
class VersionCategories {
  public:
    VersionCategories(const CocoGroundTruth& gt, const transport::RecordingHeader& header,
                      const std::map<std::string, std::string>& class_map, std::set<std::string>* used_keys,
                      std::vector<std::string>& unknown)
        : gt_(gt), header_(header), class_map_(class_map), used_keys_(used_keys), unknown_(unknown) {
        for (const auto& c : gt.categories) largest_ = std::max(largest_, c.id);
    }
    const std::vector<int>& of(const std::string& model) {
        if (const auto it = by_model_.find(model); it != by_model_.end()) return it->second;
        const auto version = header_.versions.find(model);
        std::vector<std::string> classes = version != header_.versions.end() ? version->second : header_.classes;
        for (auto& c : classes)
            if (const auto renamed = class_map_.find(c); renamed != class_map_.end()) {
                if (used_keys_) used_keys_->insert(c);
                c = renamed->second;
            }
        std::vector<int> ids = pipeline::class_to_category(gt_, classes);
        for (std::size_t k = 0; k < ids.size(); ++k)
            if (ids[k] < 0) {
                const auto [u, added] =
                    unknown_id_.emplace(classes[k], largest_ + 1 + static_cast<int>(unknown_id_.size()));
                if (added) unknown_.push_back(classes[k]);
                ids[k] = u->second;
            }
        return by_model_.emplace(model, std::move(ids)).first->second;
    }

  private:
    const CocoGroundTruth& gt_;
    const transport::RecordingHeader& header_;
    const std::map<std::string, std::string>& class_map_;
    std::set<std::string>* used_keys_;
    std::vector<std::string>& unknown_;
    int largest_ = 0;
    std::map<std::string, int> unknown_id_;
    std::map<std::string, std::vector<int>> by_model_;
};

} // namespace

namespace {

/// The cameras to score: `camera` when given, else those the ground truth names, else the recording's only one.
std::vector<std::string> cameras_to_score(const std::vector<std::string>& recorded, const std::string& camera,
                                          const std::set<std::string>& gt_cameras, const std::string& file,
                                          const std::string& gt_file) {
    if (!camera.empty()) {
        if (std::find(recorded.begin(), recorded.end(), camera) == recorded.end())
            throw Error(ErrorCode::kBadInput, file + ": no camera '" + camera + "' in the recording");
        return {camera};
    }
    if (!gt_cameras.empty()) {
        std::vector<std::string> out;
        for (const auto& c : recorded)
            if (gt_cameras.count(c)) out.push_back(c);
        if (out.empty()) throw Error(ErrorCode::kBadInput, file + ": none of the recording's cameras is in " + gt_file);
        return out;
    }
    if (recorded.size() == 1) return recorded;
    std::string list;
    for (const auto& c : recorded) list += (list.empty() ? "" : ", ") + c;
    throw Error(ErrorCode::kBadInput, file + ": the recording holds cameras " + list + " and " + gt_file +
                                          " names none: pick one (--camera)");
}

/// A camera's sequence numbers seen (a repeat is a duplicate; the order does not matter) and their range: the lost
/// ones are those in the range never seen.
struct SeqsSeen {
    std::unordered_set<std::uint64_t> seqs;
    std::uint64_t lowest = UINT64_MAX, highest = 0;
    bool add(std::uint64_t seq) {
        if (!seqs.insert(seq).second) return false;
        lowest = std::min(lowest, seq), highest = std::max(highest, seq);
        return true;
    }
    /// `from_zero`: what served a camera starts at seq 0; a version beside it starts where it began (hot-loaded).
    std::uint64_t lost(bool from_zero) const { return highest + 1 - (from_zero ? 0 : lowest) - seqs.size(); }
};

} // namespace

RecordedDetections load_recorded_detections(const std::filesystem::path& path, const CocoGroundTruth& gt,
                                            const std::string& camera,
                                            const std::map<std::string, std::string>& class_map,
                                            std::set<std::string>* used_keys, bool shadow) {
    transport::RecordingReader reader(path);
    const std::string file = path.string();
    RecordedDetections out;
    out.detections.source = file;
    out.model = reader.header().model, out.threshold = reader.header().threshold;
    const GroundTruthFrames truth(gt);
    out.cameras = cameras_to_score(reader.header().cameras, camera, truth.cameras, file, gt.source);
    const bool by_camera = !truth.cameras.empty();
    VersionCategories categories(gt, reader.header(), class_map, used_keys, out.unknown_classes);
    categories.of(reader.header().model); // the first version's names are checked even when no message comes

    std::map<std::string, SeqsSeen> seen; // per camera
    std::set<std::string> models;
    std::set<std::int64_t> processed; ///< ground-truth image ids of the frames the run published
    std::string topic;
    transport::Message m;
    while (reader.next(topic, m)) {
        const auto* p = std::get_if<transport::PredMessage>(&m);
        if (!p || p->shadow != shadow) continue; // what served the cameras, or (shadow) what ran beside them
        if (std::find(out.cameras.begin(), out.cameras.end(), p->camera) == out.cameras.end()) {
            ++out.other_cameras;
            continue;
        }
        if (!seen[p->camera].add(p->seq)) {
            ++out.duplicate_messages;
            continue;
        }
        const std::string& model = p->model.empty() ? reader.header().model : p->model;
        models.insert(model);
        if (p->frame < 0)
            throw Error(ErrorCode::kBadInput, file + ": record " + std::to_string(reader.records()) +
                                                  ": a pred message without a frame index (recorded by an older "
                                                  "sightline): cannot place it against the ground truth");
        const auto img = truth.image_of.find({by_camera ? p->camera : std::string(), p->frame});
        if (img == truth.image_of.end()) {
            ++out.frames_without_image;
            continue;
        }
        ++out.frames;
        processed.insert(img->second);
        const std::vector<int>& class_to_category = categories.of(model);
        for (std::size_t k = 0; k < p->scores.size(); ++k) {
            const float* b = &p->boxes[4 * k];
            const int cls = p->classes[k];
            // the reader checked cls against the header's classes; a header without classes names none
            if (static_cast<std::size_t>(cls) >= class_to_category.size())
                throw Error(ErrorCode::kBadInput, file + ": record " + std::to_string(reader.records()) + ": class " +
                                                      std::to_string(cls) +
                                                      " and the recording's header lists no class names");
            out.detections.detections.push_back({img->second,
                                                 class_to_category[cls],
                                                 {b[0], b[1], double(b[2]) - b[0], double(b[3]) - b[1]},
                                                 p->scores[k]});
        }
    }
    for (const auto& [cam, s] : seen) out.lost_messages += s.lost(!shadow); // seq < 2^53: no wrap
    if (shadow) {
        if (models.empty())
            throw Error(ErrorCode::kBadInput, file + ": holds no shadow/ messages (of the cameras evaluated): record a "
                                                     "line that runs a version beside the serving one (shadow:, "
                                                     "rollout:; docs/versions.md)");
        out.model.clear(), out.threshold = -1; // the header's threshold is the first version's
        for (const auto& name : models) out.model += (out.model.empty() ? "" : ", ") + name;
    }
    out.truncated = reader.truncated();
    // a pred message, even an empty one, per processed frame: those images are the ones the run looked at
    out.detections.evaluated_images.emplace(processed.begin(), processed.end());
    return out;
}

} // namespace sightline::pipeline
