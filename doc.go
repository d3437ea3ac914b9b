// Package screend is the vocabulary every other package of screend shares:
// the states of images, groups, moves and models, the kinds of outcome, the
// reasons a group is flagged for review, the crop box, the stage tokens of
// file names, the output folders, the NOTIFY channels and the advisory-lock
// classes. It holds names and pure rules only, imports nothing of screend
// and does no I/O.
//
// The string values are a contract: they are stored in the database and
// named in the README (the external interface), so they never change.
//
// The rest of the module builds on it:
//
//	cmd/screend   parses configuration, builds the parts, runs them, prints
//	daemon        runs the stages: watch, embed, group, decide, apply, retrain
//	scoring       turns images into embeddings and groups into decisions
//	training      turns human decisions into promoted models
//	sql           the schema and the queries
package screend
