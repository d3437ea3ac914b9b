// Package group forms the image groups of a project with the nearest-up rule
// of the upstream tools.
//
// # Names
//
// Parse reads what the grouping needs from a file's base name: the
// YYYYMMDD_HHMMSS timestamp at its start (Timestamp, "" when absent) and the
// stage token anywhere in it, case-insensitively (Stage, screend.StageNone when
// absent). Should a name hold more than one token, the first of
// stage1.5_face_swapped, stage1_generated, stage2_upscaled, stage3_enhanced
// (longest first) decides. The timestamp check is digit-based like the upstream regular
// expression (8 digits, '_', 6 digits): the date is not checked against the
// calendar, so 20251340_256199 counts; the order of such strings is still
// well defined, and that order is all the rule uses.
//
// # The nearest-up rule
//
// Form takes the image paths of one project, relative to the project folder
// (subfolders do not matter for grouping), and:
//
//  1. sorts them by (timestamp, or NoTimestamp when absent; stage; base name),
//     then by the whole relative path, so the order is total;
//  2. walks the sorted list. A run starts at the current file. It repeatedly
//     looks at the next files, at most Window of them, stopping early at the
//     first file whose stage is not greater than the run's last stage. Among
//     the files seen with a greater stage it takes the smallest stage (its
//     earliest occurrence), appends it and continues after it. Files skipped
//     over are not revisited; the next run starts after the run's last file;
//  3. keeps runs of two or more files as groups. Every other file is a
//     single.
//
// So stages 1,3,2,3 give one group [1,2,3] and orphan the first 3; 3,3,2,3
// give [2,3]; 1,1.5,2,2,3 give [1,1.5,2] and [2,3]; 1,2,1,2 give two pairs;
// equal stages in a row give no group.
//
// # Ended groups
//
// The daemon runs Form again and again on the files of a project seen so far
// while new ones arrive, and may act on a group only once it can no longer
// change. Group.Ended says so. It assumes that files arriving later sort after
// every file that has a timestamp, which holds when the generator names files
// by its clock (a late file with an old timestamp can still change anything). Files without a timestamp sort after all others and among
// themselves by stage and name, so a new one can land anywhere among them.
//
// Each look-ahead of a run is settled when no new file can change what it
// picks:
//
//   - it stopped at a file that ends it, or it saw Window files, and no new
//     file can be inserted before the last file it looked at; or
//   - the file it picked has the next stage up from the run's last stage
//     (say 1 to 1.5) and no new file can be inserted before it: a new file
//     could only be a later candidate of the same or a higher stage; or
//   - it picked nothing because the run's last stage is screend.StageEnhanced.
//
// A group is Ended when every look-ahead of its run is settled and every run
// before it is too (a change upstream moves where later runs start). The
// group is then fixed, files and order, whatever files arrive later.
//
// This is stricter than "the walk stopped at a file that ends it": in
// 1,2,2 the run [1,2] stops at the second 2, yet a later 1.5 turns it into
// [1,1.5]; and 1,3 ends at the top stage, yet a later 2 turns it into [1,2].
// Neither is Ended until the look-ahead that picked its second file is
// settled. Groups that reach files without a timestamp are never Ended; the
// caller has to close those some other way (for example after a quiet time).
package group
