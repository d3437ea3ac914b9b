// Package corpus turns a folder of real photographs into a benchmark corpus
// shaped like the output of the AI generation pipeline that screend screens,
// together with the human-like decisions a curator would make on it.
//
// # Use
//
//	m, err := corpus.Generate(ctx, corpus.Options{Photos: "/tmp/wallpapers", Out: "/tmp/corpus", Seed: 1, Pictures: 300})
//	truth, err := corpus.ReadTruth(m.TruthPath)   // or corpus.ReadTruth("/tmp/corpus/truth.jsonl")
//
// Out receives one folder per project (p01, p02, ...) holding the stage
// files and their .yaml companions, plus manifest.json (the Manifest) and
// truth.jsonl (one Truth per group, JSON lines). Only the project folders
// belong in an inbox; the two files at the top are for evaluation.
//
// # Generation model
//
// Everything is drawn from a random source derived from (Seed, picture
// index), so a corpus is identical for a seed whatever the worker count.
//
// Photos: every JPEG/PNG under Photos is a source, except previews named
// screenshot.*; in a folder whose name starts with "images" (the wallpaper
// package's layout: one picture in several sizes) only the largest file is
// used. Each photo is scaled once so that its short
// side is at most 1600 px.
//
// Pictures: picture i picks a photo, a stage-1 size (1024x1024 50%,
// 832x1216 30%, 1216x832 20%, or Options.Sizes), a random crop of the photo
// with that aspect ratio (45-100% of the largest such crop, anywhere, maybe
// mirrored), so ~30 photos give hundreds of distinct pictures.
//
// Group shapes (stages present) follow the upstream statistics:
// (1,1.5,2) 87%, (1,2) 8.5%, (1,2,3) 2.3%, (1,1.5,2,3) 1.5%, (2,3) 0.4%
// (renormalised). Stage 1 is the crop resized (Catmull-Rom); stage 1.5 is
// stage 1 with a visible local change (a "face swap": an elliptic patch in
// the upper middle recoloured, smoothed and shifted); stage 2 is a 2x
// Catmull-Rom upscale of the previous stage; stage 3 ("enhanced") is a 1.5x
// upscale of stage 2 (3072x3072 for square pictures) with an unsharp mask
// and a contrast boost.
//
// Names and times: each project is one pipeline run; its pictures follow
// one another, stage files of a picture are written with the upstream gaps
// (1 to 1.5: 15-30 s, 1.5 to 2: 70-140 s, 1 to 2 without 1.5: 85-170 s,
// 2 to 3: 90-120 s), the next picture starting 5-60 s after the last file of
// the previous one. Files are named YYYYMMDD_HHMMSS_stage1_generated.png,
// ..._stage1.5_face_swapped.png, ..._stage2_upscaled.png,
// ..._stage3_enhanced.png, each with a .yaml companion of the same stem.
// With these times the nearest-up rule (screend plan) gives exactly the
// generated groups.
//
// Photographs are split: a seeded share (Options.TestPhotoShare, default
// 0.3) are test photographs, and every picture made from one is a test
// picture (Truth.Split "test"), so a model can be trained on the other
// pictures and tested on photographs it never saw.
//
// Decisions (Truth): reject 28%; of the kept pictures, crop or approve by
// the project's habit. Nothing in the pixels marks a crop:
//
//   - reject: the subject is locally malformed, in every stage (the
//     generation went wrong): a feathered region of the upper middle is
//     twisted ("warped"), partly repeated beside itself ("doubled"),
//     smeared downwards ("melted") or blotched with a garish colour
//     ("blotched"); the rest of the picture is fine. A curator rejects what
//     they see: a malformation must change its region visibly (a mean of
//     12/255), so up to 12 places are tried, and a picture where none
//     shows it (twisting a patch of fog changes nothing) is blotched
//     instead; Truth.RejectReason is what was applied.
//   - crop or approve: a curator decides from what they see, how much of
//     the picture's detail lies in its margins (Truth.Spread: the share of
//     the luma gradient outside the centred, top-anchored frame of the
//     median crop area, measured on stage 1). Each project's habit crops
//     a share of its kept pictures, those with the dullest margins: the
//     four habits (cycled over projects) crop 90%, 55%, 80% and 40%, about
//     48% of all groups. On a whim the curator does the opposite: a coin
//     toss for a picture at the habit's threshold, fading with the
//     distance from it in rank (about 5% of kept pictures). The box is
//     normalised [x1,y1,x2,y2] and keeps the aspect ratio (normalised
//     width == normalised height); it frames the subject: centred
//     horizontally (small jitter), anchored at the top in 66% of crops
//     (no-ops included) and otherwise a little below it, the bottom cut
//     off; its area follows the upstream quantiles (p5 27%, median 52%,
//     p95 78%), the duller the margins the tighter (the rank among the
//     project's crops, jittered, is the area's quantile); 7.7% of crops
//     are full-frame no-ops [0,0,1,1]. Nothing marks the box in the
//     pixels: no margin is dimmed or blurred. Before 2026-11-27 the
//     decision followed how much of the source photograph the picture
//     shows (Truth.Wide), which nobody looking at the picture can see.
//
// Anomalies: in about AnomalyRate of all groups (only among kept groups)
// the highest stage is broken locally: a region of the subject is blurred,
// noisy, colour-cast or blocky (Defect: "blur", "noise", "color_cast" or
// "blocky"), and the human chose the highest stage below it. Otherwise the
// chosen file is the highest stage.
package corpus
