package main

import (
	"context"
	"fmt"
	"os/user"
	"strconv"
	"time"

	"screend/sql"
)

// undo runs `screend undo GROUP_ID`: it takes back the group's decision
// through screend.undo_group and waits for the daemon to move the files
// back, then prints what it left where it was.
func undo(ctx context.Context, e env, args []string) error {
	var asJSON bool
	var wait time.Duration
	var reviewer string
	rest, err := flags("undo", e, args, func(fs *flagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.DurationVar(&wait, "wait", 30*time.Second, "how long to wait for the daemon to move the files back (0: do not wait)")
		fs.StringVar(&reviewer, "reviewer", "", "who takes it back (default: the login name)")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"undo takes one GROUP_ID"}
	}
	groupID, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil {
		return usageError{fmt.Sprintf("bad GROUP_ID %q", rest[0])}
	}
	if reviewer == "" {
		if u, err := user.Current(); err == nil {
			reviewer = u.Username
		}
	}
	db, err := openMigrated(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	id, err := db.TakeBack(ctx, groupID, reviewer)
	if err != nil {
		return err
	}
	st, err := db.ReadTakeBack(ctx, id)
	for deadline := time.Now().Add(wait); err == nil && st.State != sql.TakeBackDone && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		st, err = db.ReadTakeBack(ctx, id)
	}
	if err != nil {
		return err
	}
	if asJSON {
		if st.Report == nil {
			st.Report = []sql.TakeBackNote{}
		}
		return writeJSON(e.stdout, map[string]any{
			"take_back_id": st.ID, "group_id": st.GroupID, "state": st.State, "left": st.Report,
		})
	}
	if st.State != sql.TakeBackDone {
		fmt.Fprintf(e.stdout, "group %d: take-back %d requested (%s); the running daemon moves its files back\n", groupID, id, st.State)
		return nil
	}
	fmt.Fprintf(e.stdout, "group %d taken back: its files are back where they were and it waits for review\n", groupID)
	for _, n := range st.Report {
		fmt.Fprintf(e.stdout, "  left %s: %s\n", n.Path, n.Reason)
	}
	return nil
}
