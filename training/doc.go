// Package training turns human decisions into the three models of
// screend/scoring/model, in pure Go (ONNX Runtime has no training API).
//
// Data flow of Train:
//
//  1. Examples (one per decided group: images with embeddings, stages and
//     sizes; the chosen image or -1 for a reject; the crop, or CropUnknown
//     when the human's crop was not recorded) are split by SplitExamples:
//     per project, the newest HeldOut share of whole groups is the test set
//     (the promotion gate's groups), never fitted or calibrated on; a group
//     is never split.
//  2. Each image becomes an input row [embedding | embedding - group mean |
//     meta features (model.MetaFeatures, including the embedding distance
//     to the neighbouring stages)], standardised with the fitting set's
//     statistics.
//  3. Cross-fitting (crossFit): the other groups are dealt into Folds folds
//     by whole groups (assignFolds); for each fold three small MLPs (ReLU
//     hidden layers, hand-written backward pass, AdamW, early stopping on
//     every seventh of the other folds' groups, deterministic for a seed)
//     are trained on the other folds and score the fold: every human
//     decision gets out-of-fold outputs. The ranker learns a listwise
//     softmax cross-entropy over a kept group's images, anomaly groups
//     weighted up; the crop model crop-or-not cross-entropy plus squared
//     error of the (cx, cy, scale) box on cropped examples, starting from
//     the prior crop (model.PriorCrop) and the crop rate; the reject model
//     the cross-entropy of the group's mean logit. The shipped networks are
//     refit on all of these groups for the median of the folds' epochs.
//  4. calibrate: on the out-of-fold outputs, the ranker's temperature,
//     Platt scaling of the crop and reject logits with the weight of the
//     detail outside the usual frame (fitCrop), per-project crop offsets,
//     the prior box's scale from that detail (fitFrameScale), how far to
//     move boxes towards it (fitShrink), how often a crop call is right box
//     included (fitCropRight, isotonic), and the thresholds:
//     Certify certifies one threshold for a set of kinds together by
//     fixed-sequence testing (Wilson upper bound at most the target, each
//     kind's own observed error too), trying every set of kinds at a
//     share of the level (Bonferroni) and keeping the one that decides
//     the most groups.
//  5. crossCertify judges every group with the calibration and thresholds
//     of the other folds only (no group sets the threshold that judges it):
//     the out-of-fold metrics and the readiness stored with the model.
//  6. The test groups are evaluated per project and overall (Metrics,
//     Report), next to the "always pick the highest stage" baseline; a
//     group whose crop is unknown is judged on its choice and keep/reject
//     only. Without test groups the metrics are the out-of-fold ones.
//  7. The models are exported to ONNX with screend/scoring/onnxmodel
//     (standardisation folded into the first layer), reloaded through ONNX
//     Runtime and checked against the Go forward pass; Train fails if they
//     differ by more than ExportTolerance.
//
// WriteReport writes a Report as JSON and PNG plots.
package training
