// COCO bbox evaluation on the kernels' matching and accumulation twins, arranged exactly as pycocotools' COCOeval
// arranges evaluate() / accumulate() / summarize(): images sorted by id, categories by id, ground truth per
// (image, category) in file order, detections per group sorted by score (stable) and cut at the largest maxDets.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <thread>
#include <unordered_map>

#include "sightline/kernels/match.hpp"
#include "sightline/pipeline/coco.hpp"

namespace sightline::pipeline {

namespace {

constexpr double kAreaRanges[kCocoAreas][2] = {{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}};
constexpr int T = kernels::kCocoIouThresholds, R = kernels::kCocoRecallThresholds, A = kCocoAreas, M = 3;

/// Workers for `items` independent jobs: the machine's cores, at most one per job.
int worker_count(int items) {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    return std::max(1, std::min(cores, items));
}

/// Runs fn(0..n-1) spread over worker_count(n) threads (job j on thread j % workers).
template <class Fn> void parallel_for(int n, Fn fn) {
    const int workers = worker_count(n);
    if (workers <= 1) {
        for (int j = 0; j < n; ++j) fn(j);
        return;
    }
    std::vector<std::thread> threads;
    for (int w = 0; w < workers; ++w)
        threads.emplace_back([&, w] {
            for (int j = w; j < n; j += workers) fn(j);
        });
    for (auto& t : threads) t.join();
}

struct Entry { // one detection in a category's accumulation order
    double score;
    int image, rank, det;
};

/// Ground truth and detections grouped for matching: by (category, image) when `cat_pos` is given (COCO), by image
/// alone otherwise (class-agnostic). Ground truth keeps file order within a group; detections scoring at least
/// `min_score` are sorted by score (stable) and cut at `max_det` per group.
struct Grouped {
    std::size_t num_groups = 0;
    std::vector<int> gt_off, gt_src; ///< gt_src: annotation index of each slot
    std::vector<kernels::BoxXywh> gt_box;
    std::vector<double> gt_area;
    std::vector<std::uint8_t> gt_crowd, gt_id_zero;
    std::vector<int> dt_off, kept; ///< kept: detection index of each slot
    std::vector<kernels::BoxXywh> dt_box;
    std::vector<double> dt_area;
    int num_dt() const { return static_cast<int>(kept.size()); }
    kernels::MatchGroups view() const {
        kernels::MatchGroups g;
        g.num_groups = static_cast<int>(num_groups), g.num_gt = static_cast<int>(gt_box.size());
        g.gt_offsets = gt_off.data(), g.dt_offsets = dt_off.data();
        g.gt_box = gt_box.data(), g.gt_area = gt_area.data(), g.gt_crowd = gt_crowd.data();
        g.gt_id_zero = gt_id_zero.data(), g.dt_box = dt_box.data(), g.dt_area = dt_area.data();
        return g;
    }
};

/// "[n] key value", naming a detection in messages.
std::string element(std::size_t n, const char* key, std::int64_t value) {
    std::string s = "[";
    s += std::to_string(n);
    s += "] ";
    s += key;
    s += ' ';
    s += std::to_string(value);
    return s;
}

Grouped group_for_matching(const CocoGroundTruth& gt, const CocoDetections& dt,
                           const std::unordered_map<std::int64_t, int>& img_pos, int I,
                           const std::unordered_map<int, int>* cat_pos, int K, int max_det, double min_score,
                           CocoCheck& check) {
    Grouped r;
    const std::size_t G = static_cast<std::size_t>(cat_pos ? K : 1) * I;
    r.num_groups = G;
    r.gt_off.assign(G + 1, 0);
    std::vector<int> gt_group(gt.annotations.size(), -1);
    for (std::size_t n = 0; n < gt.annotations.size(); ++n) {
        const auto& a = gt.annotations[n];
        const int i = img_pos.at(a.image_id);
        if (i < 0) continue;
        gt_group[n] = (cat_pos ? cat_pos->at(a.category_id) * I : 0) + i;
        ++r.gt_off[gt_group[n] + 1];
    }
    std::partial_sum(r.gt_off.begin(), r.gt_off.end(), r.gt_off.begin());
    const int NG = r.gt_off[G];
    r.gt_src.resize(NG), r.gt_box.resize(NG), r.gt_area.resize(NG), r.gt_crowd.resize(NG), r.gt_id_zero.resize(NG);
    std::vector<int> fill(r.gt_off.begin(), r.gt_off.end() - 1);
    for (std::size_t n = 0; n < gt.annotations.size(); ++n) {
        if (gt_group[n] < 0) continue;
        const int at = fill[gt_group[n]]++;
        const auto& a = gt.annotations[n];
        r.gt_src[at] = static_cast<int>(n);
        r.gt_box[at] = a.box, r.gt_area[at] = a.area, r.gt_crowd[at] = a.crowd, r.gt_id_zero[at] = a.id == 0;
    }

    std::vector<int> dt_group(dt.detections.size(), -1), dt_off(G + 1, 0);
    // results files list an image's detections together: the last lookup is usually the answer
    std::int64_t last_image = 0;
    int last_pos = -2; // -2: none yet; -3: not in the ground truth
    for (std::size_t n = 0; n < dt.detections.size(); ++n) {
        const auto& d = dt.detections[n];
        if (last_pos == -2 || d.image_id != last_image) {
            const auto ii = img_pos.find(d.image_id);
            last_image = d.image_id, last_pos = ii == img_pos.end() ? -3 : ii->second;
        }
        if (last_pos == -3) {
            if (check.unknown_image++ == 0) check.first_unknown_image = element(n, "image_id", d.image_id);
            continue;
        }
        int k = 0;
        if (cat_pos) {
            const auto kk = cat_pos->find(d.category_id);
            if (kk == cat_pos->end()) {
                if (check.unknown_category++ == 0)
                    check.first_unknown_category = element(n, "category_id", d.category_id);
                continue;
            }
            k = kk->second;
        }
        if (last_pos < 0 || d.score < min_score) continue;
        dt_group[n] = k * I + last_pos;
        ++dt_off[dt_group[n] + 1];
    }
    std::partial_sum(dt_off.begin(), dt_off.end(), dt_off.begin());
    std::vector<int> dt_idx(dt_off[G]);
    fill.assign(dt_off.begin(), dt_off.end() - 1);
    for (std::size_t n = 0; n < dt.detections.size(); ++n)
        if (dt_group[n] >= 0) dt_idx[fill[dt_group[n]]++] = static_cast<int>(n);
    r.dt_off.assign(G + 1, 0);
    r.kept.reserve(dt_idx.size());
    for (std::size_t g = 0; g < G; ++g) {
        auto first = dt_idx.begin() + dt_off[g], last = dt_idx.begin() + dt_off[g + 1];
        const auto by_score = [&](int a, int b) { return dt.detections[a].score > dt.detections[b].score; };
        if (last - first <= 16) { // most groups: an insertion sort (stable, no allocation)
            for (auto it = first; it != last; ++it)
                for (auto j = it; j != first && by_score(*j, *(j - 1)); --j) std::iter_swap(j, j - 1);
        } else {
            std::stable_sort(first, last, by_score);
        }
        const int n = std::min<int>(static_cast<int>(last - first), max_det);
        r.kept.insert(r.kept.end(), first, first + n);
        r.dt_off[g + 1] = r.dt_off[g] + n;
    }
    r.dt_box.resize(r.kept.size()), r.dt_area.resize(r.kept.size());
    for (std::size_t n = 0; n < r.kept.size(); ++n) {
        const auto& d = dt.detections[r.kept[n]];
        r.dt_box[n] = d.box;
        r.dt_area[n] = d.box.w * d.box.h;
    }
    return r;
}

/// pycocotools' p.imgIds and p.catIds: the evaluated images (indices into gt.images) and the categories, both
/// sorted by id, with their positions by id (images listed but not evaluated map to -1).
struct EvalIndex {
    std::vector<int> images;
    std::unordered_map<std::int64_t, int> image_pos;
    std::vector<int> category_ids;
    std::unordered_map<int, int> category_pos;
    int num_images() const { return static_cast<int>(images.size()); }
    int num_categories() const { return static_cast<int>(category_ids.size()); }
};

/// `subset`: the images to evaluate; null: all of them.
EvalIndex make_index(const CocoGroundTruth& gt, const std::vector<int>* subset) {
    EvalIndex x;
    if (subset) {
        x.images = *subset;
    } else {
        x.images.resize(gt.images.size());
        std::iota(x.images.begin(), x.images.end(), 0);
    }
    std::sort(x.images.begin(), x.images.end(), [&](int a, int b) { return gt.images[a].id < gt.images[b].id; });
    x.image_pos.reserve(gt.images.size() * 2);
    for (const auto& im : gt.images) x.image_pos[im.id] = -1;
    for (std::size_t i = 0; i < x.images.size(); ++i) x.image_pos[gt.images[x.images[i]].id] = static_cast<int>(i);
    for (const auto& c : gt.categories) x.category_ids.push_back(c.id);
    std::sort(x.category_ids.begin(), x.category_ids.end());
    for (int k = 0; k < x.num_categories(); ++k) x.category_pos[x.category_ids[k]] = k;
    return x;
}

} // namespace

double CocoEvalResult::precision_at(int t, int r, int k, int a, int m) const {
    const std::size_t K = category_ids.size();
    return precision[(((static_cast<std::size_t>(t) * R + r) * K + k) * A + a) * M + m];
}

double CocoEvalResult::class_ap(int k, int t) const {
    double sum = 0;
    int n = 0;
    for (int ti = 0; ti < T; ++ti) {
        if (t >= 0 && ti != t) continue;
        for (int r = 0; r < R; ++r) {
            const double v = precision_at(ti, r, k, 0, M - 1);
            if (v > -1) sum += v, ++n;
        }
    }
    return n ? sum / n : -1;
}

CocoEvalResult evaluate_coco(const CocoGroundTruth& gt, const CocoDetections& dt, const CocoEvalOptions& opt) {
    CocoEvalResult res;
    using Clock = std::chrono::steady_clock;
    auto ms_since = [](Clock::time_point t0) {
        return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    };
    const auto t_start = Clock::now();
    // images (sorted by id) and categories (sorted by id): pycocotools' p.imgIds and p.catIds
    const EvalIndex index = make_index(gt, opt.subset ? &opt.images : nullptr);
    const int I = index.num_images(), K = index.num_categories();
    const auto& img_pos = index.image_pos;
    const auto& cat_pos = index.category_pos;
    res.category_ids = index.category_ids;
    res.num_images = I;

    const int max_det = *std::max_element(opt.max_dets.begin(), opt.max_dets.end());
    Grouped grouped = group_for_matching(gt, dt, img_pos, I, &cat_pos, K, max_det, 0.0, res.check);
    const std::size_t G = grouped.num_groups;
    const int ND = grouped.num_dt();
    const auto& cut_off = grouped.dt_off;
    const auto& kept = grouped.kept;
    res.num_gt = grouped.gt_box.size();
    res.num_dt = static_cast<std::size_t>(ND);
    const kernels::MatchGroups groups = grouped.view();

    res.prepare_ms = ms_since(t_start);
    const auto t_match = Clock::now();
    // matching, once per area range
    std::vector<std::uint8_t> state(static_cast<std::size_t>(A) * ND * T);
    std::vector<int> valid(static_cast<std::size_t>(A) * G);
    // the area ranges are independent: spread them over the cores
    parallel_for(A, [&](int a) {
        kernels::MatchParams mp;
        kernels::coco_iou_thresholds(mp.thresholds);
        mp.area_lo = kAreaRanges[a][0], mp.area_hi = kAreaRanges[a][1];
        kernels::coco_match_cpu(groups, mp, state.data() + static_cast<std::size_t>(a) * ND * T, valid.data() + a * G);
    });
    res.match_ms = ms_since(t_match);
    // accumulation needs the outcomes alone: the boxes go before its buffers come
    std::vector<kernels::BoxXywh>().swap(grouped.dt_box);
    std::vector<double>().swap(grouped.dt_area);
    const auto t_acc = Clock::now();
    // accumulation, one category at a time: its detections sorted once (score, then image, then rank: the
    // order pycocotools' stable sort of the per-image concatenation gives), then one segment per area x maxDets
    double recall_thr[R];
    kernels::coco_recall_thresholds(recall_thr);
    res.precision.assign(static_cast<std::size_t>(T) * R * K * A * M, -1.0);
    res.scores.assign(res.precision.size(), -1.0);
    res.recall.assign(static_cast<std::size_t>(T) * K * A * M, -1.0);
    // categories are independent: each worker takes every n-th one, with its own buffers
    const int workers = worker_count(K);
    parallel_for(workers, [&](int w) {
        std::vector<Entry> entries;
        std::vector<double> seg_score;
        std::vector<std::uint8_t> seg_state;
        std::vector<int> seg_off, seg_valid, scratch;
        std::vector<double> prec(static_cast<std::size_t>(A) * M * T * R), sc(prec.size()), rec(A * M * T);
        for (int k = w; k < K; k += workers) {
            entries.clear();
            for (int i = 0; i < I; ++i) {
                const int g = k * I + i;
                for (int n = cut_off[g]; n < cut_off[g + 1]; ++n)
                    entries.push_back({dt.detections[kept[n]].score, i, n - cut_off[g], n});
            }
            // built in (image, rank) order, so a stable sort by score gives pycocotools' order
            std::stable_sort(entries.begin(), entries.end(),
                             [](const Entry& x, const Entry& y) { return x.score > y.score; });
            seg_score.clear(), seg_state.clear(), seg_off.assign(1, 0), seg_valid.clear();
            seg_score.reserve(entries.size() * A * M), seg_state.reserve(entries.size() * A * M * T);
            for (int a = 0; a < A; ++a) {
                int npig = 0;
                for (int i = 0; i < I; ++i) npig += valid[a * G + k * I + i];
                const std::uint8_t* st = state.data() + static_cast<std::size_t>(a) * ND * T;
                for (int m = 0; m < M; ++m) {
                    for (const Entry& e : entries) {
                        if (e.rank >= opt.max_dets[m]) continue;
                        seg_score.push_back(e.score);
                        seg_state.insert(seg_state.end(), st + static_cast<std::size_t>(e.det) * T,
                                         st + static_cast<std::size_t>(e.det + 1) * T);
                    }
                    seg_off.push_back(static_cast<int>(seg_score.size()));
                    seg_valid.push_back(npig);
                }
            }
            scratch.resize(seg_score.size());
            kernels::AccumulateSegments s;
            s.num_segments = A * M, s.num_dets = static_cast<int>(seg_score.size()), s.offsets = seg_off.data();
            s.score = seg_score.data(), s.state = seg_state.data();
            s.score = seg_score.data(), s.state = seg_state.data();
            s.valid_gt = seg_valid.data(), s.recall_thresholds = recall_thr, s.presorted = true;
            kernels::coco_accumulate_cpu(s, prec.data(), rec.data(), sc.data(), scratch.data());
            for (int a = 0; a < A; ++a)
                for (int m = 0; m < M; ++m) {
                    const int seg = a * M + m;
                    for (int t = 0; t < T; ++t) {
                        res.recall[((static_cast<std::size_t>(t) * K + k) * A + a) * M + m] = rec[seg * T + t];
                        for (int r = 0; r < R; ++r) {
                            const std::size_t to = (((static_cast<std::size_t>(t) * R + r) * K + k) * A + a) * M + m;
                            res.precision[to] = prec[(static_cast<std::size_t>(seg) * T + t) * R + r];
                            res.scores[to] = sc[(static_cast<std::size_t>(seg) * T + t) * R + r];
                        }
                    }
                }
        }
    });

    res.accumulate_ms = ms_since(t_acc);
    // summarize(): means over the entries > -1, -1 when there are none
    double thr[T];
    kernels::coco_iou_thresholds(thr);
    auto summarize = [&](bool ap, double iou, int a, int max_dets) {
        int m = -1;
        for (int j = 0; j < M; ++j)
            if (opt.max_dets[j] == max_dets) m = j;
        if (m < 0) return -1.0;
        double sum = 0;
        long n = 0;
        for (int t = 0; t < T; ++t) {
            if (iou >= 0 && thr[t] != iou) continue;
            for (int k = 0; k < K; ++k) {
                if (ap) {
                    for (int r = 0; r < R; ++r) {
                        const double v = res.precision_at(t, r, k, a, m);
                        if (v > -1) sum += v, ++n;
                    }
                } else {
                    const double v = res.recall[((static_cast<std::size_t>(t) * K + k) * A + a) * M + m];
                    if (v > -1) sum += v, ++n;
                }
            }
        }
        return n ? sum / n : -1.0;
    };
    const int md = opt.max_dets[2];
    res.stats = {summarize(true, -1, 0, 100),
                 summarize(true, .5, 0, md),
                 summarize(true, .75, 0, md),
                 summarize(true, -1, 1, md),
                 summarize(true, -1, 2, md),
                 summarize(true, -1, 3, md),
                 summarize(false, -1, 0, opt.max_dets[0]),
                 summarize(false, -1, 0, opt.max_dets[1]),
                 summarize(false, -1, 0, md),
                 summarize(false, -1, 1, md),
                 summarize(false, -1, 2, md),
                 summarize(false, -1, 3, md)};
    return res;
}

OperatingPoint evaluate_operating_point(const CocoGroundTruth& gt, const CocoDetections& dt, double threshold,
                                        double iou, double fps, const std::vector<int>* subset) {
    OperatingPoint op;
    op.threshold = threshold, op.iou = iou;
    const EvalIndex index = make_index(gt, subset);
    const int I = index.num_images(), K = index.num_categories();
    const auto& img_pos = index.image_pos;
    const auto& cat_pos = index.category_pos;
    op.category_ids = index.category_ids;
    kernels::MatchParams mp;
    mp.num_thresholds = 1, mp.thresholds[0] = iou;
    CocoCheck check;
    auto match = [&](const Grouped& g, std::vector<std::uint8_t>& state, std::vector<int>& who) {
        std::vector<int> valid(g.num_groups);
        state.resize(g.kept.size()), who.resize(g.kept.size());
        kernels::coco_match_cpu(g.view(), mp, state.data(), valid.data(), who.data());
    };
    std::vector<std::uint8_t> state;
    std::vector<int> who;
    // class-aware: per-class counts
    const Grouped aware = group_for_matching(gt, dt, img_pos, I, &cat_pos, K, 100, threshold, check);
    match(aware, state, who);
    op.gt_found.assign(gt.annotations.size(), 0);
    for (int n = 0; n < aware.num_dt(); ++n)
        if (state[n] == kernels::kTruePositive) op.gt_found[aware.gt_src[who[n]]] = 1;
    op.per_class.resize(K);
    for (int k = 0; k < K; ++k) {
        op.per_class[k].category_id = op.category_ids[k];
        for (int i = 0; i < I; ++i) {
            const std::size_t g = static_cast<std::size_t>(k) * I + i;
            for (int n = aware.dt_off[g]; n < aware.dt_off[g + 1]; ++n) {
                op.per_class[k].tp += state[n] == kernels::kTruePositive;
                op.per_class[k].fp += state[n] == kernels::kFalsePositive;
            }
            for (int j = aware.gt_off[g]; j < aware.gt_off[g + 1]; ++j) op.per_class[k].fn += !aware.gt_crowd[j];
        }
        op.per_class[k].fn -= op.per_class[k].tp;
        op.overall.tp += op.per_class[k].tp, op.overall.fp += op.per_class[k].fp, op.overall.fn += op.per_class[k].fn;
    }
    // class-agnostic: the confusion matrix
    const Grouped agnostic = group_for_matching(gt, dt, img_pos, I, nullptr, K, 100, threshold, check);
    match(agnostic, state, who);
    op.confusion.assign(K, std::vector<long>(K + 2, 0));
    std::vector<std::uint8_t> found(agnostic.gt_box.size(), 0);
    for (int n = 0; n < agnostic.num_dt(); ++n) {
        const auto& d = dt.detections[agnostic.kept[n]];
        const auto kk = cat_pos.find(d.category_id);
        if (kk == cat_pos.end()) continue;
        if (state[n] == kernels::kTruePositive) {
            found[who[n]] = 1;
            const int gk = cat_pos.at(gt.annotations[agnostic.gt_src[who[n]]].category_id);
            ++op.confusion[gk][kk->second];
        } else if (state[n] == kernels::kFalsePositive) {
            ++op.confusion[kk->second][K];
        }
    }
    for (std::size_t j = 0; j < found.size(); ++j)
        if (!found[j] && !agnostic.gt_crowd[j])
            ++op.confusion[cat_pos.at(gt.annotations[agnostic.gt_src[j]].category_id)][K + 1];
    op.num_images = I;
    op.fp_per_image = I ? static_cast<double>(op.overall.fp) / I : 0.0;
    if (fps > 0) {
        op.hours = I / fps / 3600.0;
        op.fp_per_hour = op.hours > 0 ? op.overall.fp / op.hours : -1;
    }
    return op;
}

ScoreAnalysis analyse_scores(const CocoGroundTruth& gt, const CocoDetections& dt, double iou, double target_precision,
                             double fp_budget_per_hour, double hours, int bins) {
    ScoreAnalysis out;
    const EvalIndex index = make_index(gt, nullptr);
    const int I = index.num_images(), K = index.num_categories();
    const auto& img_pos = index.image_pos;
    const auto& cat_pos = index.category_pos;
    const std::vector<int>& cats = index.category_ids;
    CocoCheck check;
    const Grouped g = group_for_matching(gt, dt, img_pos, I, &cat_pos, K, 100, -1e300, check);
    kernels::MatchParams mp;
    mp.num_thresholds = 1, mp.thresholds[0] = iou;
    std::vector<std::uint8_t> state(g.kept.size());
    std::vector<int> valid(g.num_groups);
    kernels::coco_match_cpu(g.view(), mp, state.data(), valid.data());

    struct Scored {
        double score;
        bool tp;
    };
    std::vector<Scored> all;
    bins = std::max(1, bins);
    out.calibration.count.assign(bins, 0);
    std::vector<double> conf_sum(bins, 0), correct(bins, 0);
    for (int k = 0; k < K; ++k) {
        std::vector<Scored> mine;
        long npos = 0;
        for (int i = 0; i < I; ++i) {
            const std::size_t grp = static_cast<std::size_t>(k) * I + i;
            npos += valid[grp];
            for (int n = g.dt_off[grp]; n < g.dt_off[grp + 1]; ++n) {
                if (state[n] == kernels::kIgnoredDet) continue;
                mine.push_back({dt.detections[g.kept[n]].score, state[n] == kernels::kTruePositive});
            }
        }
        all.insert(all.end(), mine.begin(), mine.end());
        std::stable_sort(mine.begin(), mine.end(), [](const Scored& a, const Scored& b) { return a.score > b.score; });
        ThresholdAdvice adv;
        adv.category_id = cats[k];
        long tp = 0, fp = 0;
        for (std::size_t n = 0; n < mine.size(); ++n) {
            tp += mine[n].tp, fp += !mine[n].tp;
            if (n + 1 < mine.size() && mine[n + 1].score == mine[n].score) continue; // a threshold keeps all ties
            const double p = static_cast<double>(tp) / (tp + fp), r = npos ? static_cast<double>(tp) / npos : 0;
            const double f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
            if (f1 > adv.f1) adv.f1 = f1, adv.f1_threshold = mine[n].score, adv.f1_precision = p, adv.f1_recall = r;
            if (p >= target_precision) adv.precision_threshold = mine[n].score, adv.recall_at_precision = r;
            if (hours > 0 && fp / hours <= fp_budget_per_hour)
                adv.budget_threshold = mine[n].score, adv.recall_at_budget = r;
        }
        out.per_class.push_back(adv);
    }
    for (const Scored& s : all) {
        const double c = std::clamp(s.score, 0.0, 1.0);
        const int b = std::min(bins - 1, static_cast<int>(c * bins));
        ++out.calibration.count[b];
        conf_sum[b] += c;
        correct[b] += s.tp;
    }
    out.calibration.ece = all.empty() ? -1 : 0; // nothing to calibrate: undefined, not perfect
    for (int b = 0; b < bins; ++b) {
        const long n = out.calibration.count[b];
        out.calibration.lower.push_back(static_cast<double>(b) / bins);
        out.calibration.upper.push_back(static_cast<double>(b + 1) / bins);
        out.calibration.confidence.push_back(n ? conf_sum[b] / n : 0);
        out.calibration.accuracy.push_back(n ? correct[b] / n : 0);
        if (n && !all.empty())
            out.calibration.ece += static_cast<double>(n) / all.size() * std::abs(correct[b] / n - conf_sum[b] / n);
    }
    return out;
}

} // namespace sightline::pipeline
