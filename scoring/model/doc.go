// Package model is the runtime side of screend's learned decisions: the
// contract of the three ONNX models (ranker, crop, reject), the meta features
// computed from a group, the parameters stored beside the models, and the
// rule that turns the models' raw outputs into one calibrated Outcome.
//
// Data flow: a group of images (embedding, stage, size) goes through
// MetaFeatures; the embeddings and meta rows are fed to the three ONNX
// sessions of a Bundle; their raw outputs (Raw) are turned into an Outcome by
// Params.Decide, which applies the temperature and Platt calibration stored
// in Params and compares the confidence with the per-kind thresholds.
//
// # ONNX contract
//
// Every model takes two inputs, one row per image of ONE group (N is dynamic,
// 1 to 4 in practice):
//
//	embedding  float32 [N, E]  the images' embeddings (L2-normalised)
//	meta       float32 [N, M]  MetaFeatures(group), M = MetaDim
//
// and produces:
//
//	ranker.onnx  score        float32 [N, 1]  higher = better image
//	crop.onnx    crop_logit   float32 [N, 1]  logit of "the human crops this image if chosen"
//	             box          float32 [N, 3]  (cx, cy, scale), each in (0, 1): the
//	                                          crop's centre and its linear scale, so
//	                                          width = scale*W and height = scale*H
//	                                          and the aspect ratio is kept by construction
//	reject.onnx  reject_logit float32 [N, 1]  per-image evidence for rejecting the group
//
// The group's reject logit is the MEAN of reject_logit over the group's
// images (pooling: order-invariant and uses every image), then calibrated
// with Platt scaling. Models may see the whole group at once (the built-in
// models subtract the group's mean embedding inside the graph), so the rows of
// one call must be exactly one group.
//
// # Confidence
//
// With T the ranker temperature, (a_r, b_r) and (a_c, b_c) the Platt
// parameters, s the scores, i* = argmax s, z_r the group's pooled reject
// logit, z_c the crop_logit of i*, d the share of the picture's detail
// outside the frame people usually keep (Params.Detail), w its weight
// (Params.CropDetail) and o the project's crop offset (Params.CropOffsets):
//
//	P_choice = softmax(s / T)[i*]             (1 for a group of one image)
//	P_reject = sigmoid(a_r*z_r + b_r)
//	P_crop   = sigmoid(a_c*(z_c + w*d) + b_c + o)
//
// The outcome is reject when P_reject >= 0.5, otherwise crop when
// P_crop >= 0.5, otherwise select; its confidence is
//
//	reject: P_reject
//	crop:   (1-P_reject) * P_choice * R(P_crop)
//	select: (1-P_reject) * P_choice * (1-P_crop)
//
// that is P(keep/reject right) * P(choice right) * P(crop-or-not right),
// treating the three as independent, where for a crop R (Params.CropRight,
// isotonic on the out-of-fold crop calls) is the probability that the crop
// is right box included: an automatic crop is wrong unless the human
// cropped, to a box that overlaps the model's with IoU >= Params.CropIoUMin.
// The box is the crop model's, moved Params.BoxShrink of the way towards
// a prior box whose scale follows d (Params.Prior).
//
// A group is decided automatically (Outcome.Auto) only when its confidence
// reaches the threshold of its kind and no flag was raised. Groups of one
// image are always flagged single_image: the models are trained on groups of
// two to four stages (a single file is never a group under the nearest-up
// rule), so a lone image is out of distribution and has nothing to be
// compared with; its keep/crop/reject suggestion is still computed.
package model
