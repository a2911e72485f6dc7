#pragma once
/// Labels back from labeling (issue 27, docs/collector.md "Labels back"): a Label Studio JSON export or a COCO file
/// read, each task or image matched to the dataset sample it names, and the boxes attached to that sample.
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "sightline/pipeline/dataset.hpp"

namespace sightline::pipeline {

enum class LabelFormat { kLabelStudio, kCoco };

/// What an import read and did.
struct LabelImportSummary {
    std::size_t labels = 0, boxes = 0;    ///< samples labeled by this import, and their boxes
    std::size_t replaced = 0;             ///< of them, samples that had a label before (the new one stands)
    std::size_t unlabeled = 0;            ///< tasks without a (non-skipped) annotation: nothing to import
    std::size_t cancelled = 0;            ///< annotations the labeler skipped (was_cancelled)
    std::vector<std::string> new_classes; ///< labels no sample's model knows (a part the model never saw)
};

/// Reads a Label Studio JSON export (a list of tasks; each task's newest annotation that was not skipped, its
/// `rectanglelabels` results in percent of the image) into labels of `samples`, in their pixels. A task names its
/// sample by `data.sample_id` (sightline's export writes it) or by its image's file name (also as Label Studio
/// renames an uploaded file: an 8-hex-digit prefix and '-'). The labeler is `labeler` when non-empty, else the
/// annotator as the export names them: "labelstudio user N" (its JSON export gives completed_by as a user id), or
/// an email where an export carries the user object. Error(kBadInput) naming `name` and the task for what is not such
/// an export, a rotated box, a box outside the image, a result without one label, or tasks that name no sample (the
/// first few listed).
std::vector<DatasetLabel> read_labelstudio_export(std::string_view text, const std::string& name,
                                                  const std::vector<DatasetSample>& samples, const std::string& labeler,
                                                  LabelImportSummary& summary);

/// Reads a COCO instances file (load_coco_ground_truth_file's checks) into labels: every image, matched by its
/// `file_name` as above (or a `sample_id` field), gets its annotations as its boxes (none: a label with no box).
/// The labeler is `labeler`, else "coco:" and the file's name; the time labeled, the file's modification time.
std::vector<DatasetLabel> read_coco_labels(const std::filesystem::path& file, const std::vector<DatasetSample>& samples,
                                           const std::string& labeler, LabelImportSummary& summary);

/// `sightline collect import`: reads `file` and attaches its labels to the dataset's samples in one transaction
/// (beside a running collector: Dataset::Mode::kLabel). Nothing is imported when anything is refused.
LabelImportSummary import_labels(const std::filesystem::path& dataset, LabelFormat format,
                                 const std::filesystem::path& file, const std::string& labeler = "");

} // namespace sightline::pipeline
