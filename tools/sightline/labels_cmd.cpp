// sightline collect import DIR --from labelstudio|coco FILE: labels back from labeling (docs/collector.md);
// sightline collect snapshot DIR --out SNAP: the labeled samples frozen as a dataset version.
#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "sightline/pipeline/labels.hpp"
#include "sightline/pipeline/snapshot.hpp"

namespace sightline::tools {

namespace {
struct LabelArgs {
    std::string dir, from = "labelstudio", file, labeler, out, parent;
};

int run_import(const LabelArgs& a) {
    const auto s = pipeline::import_labels(
        a.dir, a.from == "coco" ? pipeline::LabelFormat::kCoco : pipeline::LabelFormat::kLabelStudio, a.file,
        a.labeler);
    std::printf("%zu samples labeled (%zu boxes; %zu replace an earlier label) from %s\n", s.labels, s.boxes,
                s.replaced, a.file.c_str());
    if (s.unlabeled || s.cancelled)
        std::printf("  %zu task(s) not labeled yet, %zu annotation(s) skipped by their labeler\n", s.unlabeled,
                    s.cancelled);
    if (!s.new_classes.empty()) {
        std::string list;
        for (const auto& c : s.new_classes) list += (list.empty() ? "" : ", ") + c;
        std::printf("  classes the model does not know: %s\n", list.c_str());
    }
    return 0;
}

int run_snapshot(const LabelArgs& a) {
    const auto s = pipeline::write_snapshot(a.dir, a.out, a.parent);
    std::printf("snapshot %s: %zu images, %zu boxes, %zu classes -> %s\n", s.hash.c_str(), s.images, s.boxes,
                s.classes.size(), a.out.c_str());
    std::printf("  parent: %s\n", s.parent_hash.empty() ? "none (the dataset's first)" : s.parent_hash.c_str());
    return 0;
}
} // namespace

Run add_collect_labels(CLI::App& collect) {
    auto a = std::make_shared<LabelArgs>();
    auto* imp = collect.add_subcommand("import", "Attach labels back from labeling to the samples they name");
    imp->add_option("dataset", a->dir, "the dataset folder (a collector may be writing it)")->required();
    imp->add_option("file", a->file, "the export or COCO file")->required()->check(CLI::ExistingFile);
    imp->add_option("--from", a->from, "labelstudio (its JSON export) or coco (an instances file)")
        ->capture_default_str()
        ->check(CLI::IsMember({"labelstudio", "coco"}));
    imp->add_option("--labeler", a->labeler, "who labeled (default: Label Studio's annotator; for COCO, coco:FILE)");
    auto* snap = collect.add_subcommand("snapshot", "Freeze the labeled samples as a dataset version (COCO, images, "
                                                    "a manifest of content hashes naming its parent version)");
    snap->add_option("dataset", a->dir, "the dataset folder")->required();
    snap->add_option("--out", a->out, "the snapshot folder (new, or empty: a snapshot is never changed)")->required();
    snap->add_option("--parent", a->parent, "the parent snapshot folder (default: the dataset's newest snapshot)");
    return [imp, snap, a]() -> int {
        if (imp->parsed()) return run_import(*a);
        if (snap->parsed()) return run_snapshot(*a);
        return kNotParsed;
    };
}

} // namespace sightline::tools
