// Package training turns human decisions into the three models of
// screend/scoring/model, in pure Go (ONNX Runtime has no training API).
//
// Data flow of Train:
//
//  1. Examples (one per decided group: images with embeddings, stages and
//     sizes; the chosen image or -1 for a reject; the crop, or CropUnknown
//     when the human's crop was not recorded) are split by
//     SplitExamples: per project, the newest HeldOut share of whole groups is
//     held out, two groups in three to calibration and one to test; a
//     group is never split.
//  2. Each image becomes an input row [embedding | embedding - group mean |
//     meta features (model.MetaFeatures, including the embedding distance
//     to the neighbouring stages)], standardised with the training set's
//     statistics.
//  3. Three small MLPs (ReLU hidden layers, hand-written backward pass,
//     AdamW, early stopping on the calibration groups' loss, deterministic
//     for a seed) are trained: the ranker with a listwise softmax
//     cross-entropy over a kept group's images, anomaly groups weighted up;
//     the crop model with crop-or-not cross-entropy plus squared error of
//     the (cx, cy, scale) box on cropped examples (examples whose crop is
//     unknown teach the ranker and the reject model only); the reject model
//     with the cross-entropy of the group's mean logit.
//  4. On the calibration groups: the ranker's softmax temperature and Platt
//     scaling of the crop and reject logits are fitted, then, per outcome
//     kind, the lowest confidence threshold at which that kind's own
//     decisions have a Wilson 95% upper error bound at most the target
//     (Threshold). A kind that cannot meet the target on its own is never
//     decided automatically (model.Never): there is no pooled fallback, as
//     near-perfect rejects would hide a kind's errors in a pool.
//  5. The test groups (never used for fitting anything) are evaluated per
//     project and overall (Metrics, Report), next to the "always pick the
//     highest stage" baseline; a group whose crop is unknown is judged on
//     its choice and keep/reject only. Report.Groups lists the groups of
//     each set.
//  6. The models are exported to ONNX with screend/scoring/onnxmodel
//     (standardisation folded into the first layer), reloaded through ONNX
//     Runtime and checked against the Go forward pass; Train fails if they
//     differ by more than ExportTolerance.
//
// WriteReport writes a Report as JSON and PNG plots.
package training
