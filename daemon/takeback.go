package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"screend"
	"screend/sql"
)

// takeBacker carries out take-backs (screend.undo_group). A round reads
// top to bottom:
//
//  1. return the groups whose reverse moves are all done to the review
//     queue (sql.FinishTakeBacks);
//  2. fetch the next requested take-back with its group's journal
//     (sql.NextTakeBack);
//  3. look at every file the journal put somewhere and decide the reverse
//     moves (reverseMoves, pure), outside any transaction;
//  4. journal them with the take-back marked moving (sql.JournalTakeBack),
//     then move the files and finish as in 1.
//
// Every step is in the database before the files are touched, so a kill at
// any point is finished on the next start (the applier's due moves, then
// this service).
type takeBacker struct {
	db       *sql.DB
	log      *slog.Logger
	moves    *mover
	wake     waker
	instance func() int32
	// drainTimeout bounds the moves finished after shutdown began.
	drainTimeout time.Duration
}

// takeBackPoll is how often take-backs are looked for without a wake-up.
const takeBackPoll = 2 * time.Second

// Run carries out take-backs until ctx ends.
func (t *takeBacker) Run(ctx context.Context) error {
	// Journaled moves are finished even when ctx ends, within drainTimeout;
	// the rest are the applier's due moves at the next start.
	work, stopDrain := drainContext(ctx, t.drainTimeout, t.log, "journaled take-back moves")
	defer stopDrain()
	t.wake.run(ctx, takeBackPoll, func() bool {
		t.finish(ctx)
		more, err := t.takeBackNext(ctx, work)
		if err != nil && ctx.Err() == nil {
			t.log.Error("plan take-back", "err", err)
		}
		return more
	})
	return nil
}

// takeBackNext plans, journals and carries out the next requested
// take-back, moving its files on work. It reports whether another may be
// waiting.
func (t *takeBacker) takeBackNext(ctx, work context.Context) (bool, error) {
	tb, found, err := t.db.NextTakeBack(ctx)
	if err != nil || !found {
		return false, err
	}
	moves, notes, err := t.plan(ctx, tb)
	if err != nil {
		return false, err
	}
	moves, stored, err := t.db.JournalTakeBack(ctx, t.instance(), tb, moves, notes)
	if err != nil {
		return false, err
	}
	if !stored {
		return true, nil // another instance took it
	}
	for _, n := range notes {
		t.log.Warn("file left where it is", "group_id", tb.GroupID, "path", n.Path, "reason", n.Reason)
	}
	for _, mv := range moves {
		// A move that fails is retried by the applier's rounds.
		if _, err := t.moves.Do(work, mv); err != nil {
			t.log.Error("record file move", "err", err)
		}
	}
	t.log.Info("moved back", "group_id", tb.GroupID, "take_back_id", tb.ID, "files", len(moves))
	t.finish(ctx)
	return true, nil
}

// finish returns the groups whose files are back to the review queue.
func (t *takeBacker) finish(ctx context.Context) {
	groups, err := t.db.FinishTakeBacks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Error("finish take-backs", "err", err)
		}
		return
	}
	for _, g := range groups {
		t.log.Info("taken back", "group_id", g)
	}
}

// plan reads the state of every file the journal moved or wrote and
// returns the reverse moves and the files left where they are.
func (t *takeBacker) plan(ctx context.Context, tb sql.TakeBackToPlan) ([]sql.Move, []sql.TakeBackNote, error) {
	facts := map[string]fileFact{}
	for _, e := range tb.Journal {
		f, err := readFileFact(e)
		if err != nil {
			return nil, nil, err
		}
		facts[e.Dst] = f
	}
	var lookupErr error
	taken := func(path string) bool {
		if onDisk(path) {
			return true
		}
		recorded, err := t.db.PathRecorded(ctx, path)
		if err != nil {
			lookupErr = err
			return true
		}
		return recorded
	}
	moves, notes := reverseMoves(tb.GroupID, tb.ProjectDir, tb.Journal, facts, taken)
	if lookupErr != nil {
		return nil, nil, lookupErr
	}
	return moves, notes, nil
}

// fileFact is what a take-back needs to know of a file the journal put
// somewhere.
type fileFact struct {
	Exists  bool
	ModTime time.Time
	// SHA256 is the content's hash, read only where the journal has one to
	// compare with (images and sidecars).
	SHA256 []byte
}

func readFileFact(e sql.JournalEntry) (fileFact, error) {
	info, err := os.Lstat(e.Dst)
	if os.IsNotExist(err) {
		return fileFact{}, nil
	}
	if err != nil {
		return fileFact{}, fmt.Errorf("stat %s: %w", e.Dst, err)
	}
	f := fileFact{Exists: true, ModTime: info.ModTime()}
	if (e.Kind == screend.MoveFile && e.ImageSHA256 != nil) || e.Kind == screend.WriteSidecar {
		if f.SHA256, err = fileSHA256(e.Dst); err != nil {
			return fileFact{}, err
		}
	}
	return f, nil
}

// changedSlack is how much later than its journal row a file's mtime may
// be before the file counts as changed since (file systems round times).
const changedSlack = 2 * time.Second

// reverseMoves returns the moves that take back the journaled operations of
// a group, newest first: a moved file goes back to where it was (to a free
// name beside it if that name was taken since); a cropped output or a
// sidecar goes to __delete_staging/. A file that is missing or changed since
// (content not what was recorded, or modified after it was moved) stays
// where it is and is listed in the notes. taken tells whether a name is in
// use; the names chosen here count as taken for the rest of the plan.
func reverseMoves(groupID int64, projectDir string, journal []sql.JournalEntry, facts map[string]fileFact, taken func(string) bool) ([]sql.Move, []sql.TakeBackNote) {
	var moves []sql.Move
	var notes []sql.TakeBackNote
	reserved := map[string]bool{}
	free := func(path string) string {
		dir, name := filepath.Dir(path), filepath.Base(path)
		stem, ext := splitStem(name), filepath.Ext(name)
		for n := 0; ; n++ {
			p := path
			if n > 0 {
				p = filepath.Join(dir, stem+"_"+strconv.Itoa(n)+ext)
			}
			if !reserved[p] && !taken(p) {
				reserved[p] = true
				return p
			}
		}
	}
	gid := groupID
	for _, e := range slices.Backward(journal) {
		f := facts[e.Dst]
		switch {
		case !f.Exists:
			notes = append(notes, sql.TakeBackNote{Path: e.Dst, Reason: "missing: moved or removed since"})
			continue
		case e.Kind == screend.MoveFile && e.ImageSHA256 != nil && !bytes.Equal(f.SHA256, e.ImageSHA256),
			e.Kind == screend.WriteSidecar && !bytes.Equal(f.SHA256, sha256Of(e.Content)),
			f.ModTime.After(e.DoneAt.Add(changedSlack)):
			notes = append(notes, sql.TakeBackNote{Path: e.Dst, Reason: "changed since it was moved: left here"})
			continue
		}
		switch e.Kind {
		case screend.MoveFile:
			moves = append(moves, sql.Move{GroupID: &gid, ImageID: e.ImageID, Kind: screend.MoveFile, Src: e.Dst, Dst: free(e.Src)})
		case screend.CropFile, screend.WriteSidecar:
			moves = append(moves, sql.Move{GroupID: &gid, Kind: screend.MoveFile, Src: e.Dst,
				Dst: free(filepath.Join(projectDir, screend.FolderDeleteStaging, filepath.Base(e.Dst)))})
		}
	}
	return moves, notes
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
