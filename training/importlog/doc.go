// Package importlog parses the decision logs of the upstream image-curation
// workflow into clean Decision records, rejecting bad rows (or bad parts of
// rows) with a stable reason and never guessing silently. It only parses and
// validates; writing the records to the database is the caller's job.
//
// Data flows one way: a CSV file goes into Parse (or ParseFile), whose header
// row selects the format; every data row becomes either one Decision or one
// Reject with Part "row". An accepted row may still lose a part, recorded as
// a Reject with Part "crop" or "candidate" on the same line. Result.Summary
// counts both, so an importer can report everything it dropped.
//
// # Formats
//
// The header decides the format; columns are matched by name, in any order,
// and the set of names must equal one of these:
//
//   - select_crop: select_crop_log.csv, session_id, set_id, directory,
//     image_count, chosen_index, chosen_path, crop_x1..crop_y2, timestamp,
//     then image_N_path, image_N_stage, width_N, height_N for N = 0..k-1
//     (the real file has k = 2). Candidates are the set image slots in order;
//     chosen_index points into them. Widths and heights are known here only.
//   - selection: *_selection_log.csv, session_id, set_id, chosen_path,
//     neg_paths, timestamp. neg_paths is a JSON list or a Python list
//     literal (see ParseList). Candidates: chosen, then the negatives.
//   - anomaly: anomaly_cases.csv, session_id, set_id, project, chosen_stage,
//     max_rejected_stage, chosen_path, rejected_paths, timestamp. Same list
//     rules; chosen_stage must match the chosen file's stage token,
//     max_rejected_stage the highest stage among the rejected files, and be
//     above chosen_stage.
//   - crop_label: historical_crop_log.csv (… time_diff_days, raw_mtime,
//     final_mtime) and mojo1_crop_log.csv (… note, mtime): one row per file
//     that a human cropped, with no coordinates. A Decision is a "was cropped"
//     label: one candidate (the chosen file), CropStatus no_coords, and
//     chosen_stage checked against the name. Its timestamp column is the
//     image's generation time (the file-name prefix), not the decision time.
//
// Every candidate's Stage comes from the stage token of its file name
// (StageOf); a stage column that disagrees is a stage_mismatch. Candidates
// are deduplicated by file name; a repeat is a Reject with Part "candidate".
//
// Timestamps: RFC 3339 (with "Z" or an offset), "2006-01-02 15:04:05" and
// "20060102_150405". Zone-less forms are read as UTC and flagged with
// TimeHasZone false; TimeRaw keeps the text as written. They are probably
// the operator's local time, not UTC: select_crop_log's zone-less session_id
// "2025-10-04 21:23:51" precedes its first row's "2025-10-05T01:24:18Z" by
// four hours and half a minute.
//
// Whole-group rejections: no format records one. In the real logs
// chosen_index is always 0 or 1 and chosen_path is never empty, and nothing
// in the workflow's documentation defines a marker for "all rejected", so an
// empty chosen path is rejected (empty_chosen) and a negative chosen_index is
// bad_index instead of being read as a group rejection. Decision therefore
// has no Rejected field.
//
// # Projects
//
// Paths of one file differ between logs (absolute, "PROJECT_ROOT/…",
// "…/training data/<project>/…", relative), so images are matched by file
// name (FileName) within a project, and every Decision needs a project:
//
//  1. the project column, when the format has one (anomaly);
//  2. else the directory column, read as a relative folder (select_crop,
//     crop_label);
//  3. else the paths, by ProjectFromPath: the folder after "training data/"
//     (or "content/", as in the workflow's project files), else the first
//     folder under "PROJECT_ROOT/", else the first folder of a relative
//     path. A bare file name or an absolute path without such a folder names
//     no project.
//
// A working folder (crop, selected, cropped, crop_auto, delete_staging, any
// "__" folder) is never a project: "crop/hannah" names none. A folder
// "<p>_final" is the delivery folder of project <p>: the crop_label logs
// give directory "mojo1" for every file under "training data/mojo1_final/",
// and the selection logs pair chosen files there with negatives in
// "training data/mojo1/". Every source above that names a project must name
// the same one (else project_mismatch). When none does, Options.Projects may
// map the directory or the chosen file's folder to a project (longest folder
// prefix wins); otherwise the row is rejected with unknown_project.
//
// # Crops
//
// select_crop_log holds pixel corners of the original image, except one row
// with normalised corners. A crop is read as follows, first match wins:
//
//  1. all four crop fields empty: missing_crop;
//  2. exactly (0,0,1,1): placeholder_crop. Read as pixels it is a 1x1 crop,
//     read as normalised it is a no-op, so it carries no crop either way;
//     the one real normalised row is (0, 0.067, 0.547, 0.615);
//  3. x1 > x2 or y1 > y2: inverted_box; x1 == x2 or y1 == y2: empty_box;
//  4. all four within [0, 1]: already normalised;
//  5. otherwise pixels: the chosen image's size must be known (else
//     zero_dimensions) and the box inside it (else box_outside);
//     exactly (0, 0, width, height) is a full-frame no-op crop, recorded as
//     CropStatus full_frame with Crop nil (boxes a pixel or two short of the
//     frame are kept as real crops); anything else is divided by the size.
//
// A crop that fails keeps its Decision (the selection stands) with
// CropStatus dropped and a Reject with Part "crop". A non-number in a crop
// field rejects the whole row (bad_number or column_shift).
//
// # Reject reasons
//
//	reason                part       meaning
//	csv_syntax            row        CSV quoting error; the row could not be split
//	field_count           row        field count differs from the header's
//	column_shift          row        a field holds another column's kind of value
//	                                 (a path, list, stage name or timestamp where a
//	                                 number is due, a number where a path is due,
//	                                 image_N data without image_N_path)
//	bad_number            row        a number field is empty, not a number,
//	                                 not whole, or negative where it cannot be
//	bad_list              row        a list field does not parse, holds an empty
//	                                 path, or (anomaly) is empty
//	bad_timestamp         row        timestamp missing or in no known form
//	bad_index             row        chosen_index outside the image slots
//	bad_count             row        image_count differs from the set slots, or
//	                                 the slots have a gap
//	empty_chosen          row        chosen_path empty
//	chosen_not_candidate  row        chosen_path is not image_<chosen_index>_path
//	chosen_also_negative  row        the chosen file is also listed as a negative
//	unknown_project       row        no project can be derived (see Projects)
//	project_mismatch      row        columns or paths name different projects
//	stage_mismatch        row        a stage column disagrees with the file names,
//	                                 or an anomaly whose chosen stage is not lower
//	duplicate_candidate   candidate  a file name repeated among the candidates
//	missing_crop          crop       all crop fields empty
//	placeholder_crop      crop       crop (0,0,1,1)
//	inverted_box          crop       x1 > x2 or y1 > y2
//	empty_box             crop       zero width or height
//	zero_dimensions       crop       pixel crop but the image size is 0 or unknown
//	box_outside           crop       pixel box beyond the image
//
// Rows about the same file (same format, project and chosen name) are all
// kept; the later ones carry DuplicateOf, the line of the first.
package importlog
