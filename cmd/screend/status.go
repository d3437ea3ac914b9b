package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"screend"
	"screend/sql"
)

// status is `screend status [--json]`.
func status(ctx context.Context, e env, args []string) error {
	var asJSON bool
	if _, err := flags("status", e, args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") }); err != nil {
		return err
	}
	db, err := openMigrated(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.ReadStatus(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, st)
	}
	fmt.Fprintf(e.stdout, "images:       %s\n", counts(st.Images))
	fmt.Fprintf(e.stdout, "groups:       %s\n", counts(st.Groups))
	fmt.Fprintf(e.stdout, "review queue: %d\n", st.ReviewQueue)
	if st.ActiveModel != nil {
		fmt.Fprintf(e.stdout, "active model: %d\n", *st.ActiveModel)
	} else {
		fmt.Fprintln(e.stdout, "active model: none (every group is flagged for review)")
	}
	switch {
	case st.Pending == 0 && st.Retrying == 0:
		fmt.Fprintln(e.stdout, "pending:      0 (idle)")
	case st.Pending == 0:
		fmt.Fprintln(e.stdout, "pending:      0 (idle but for the retries below, which wait for their cause to be fixed)")
	default:
		fmt.Fprintf(e.stdout, "pending:      %d (work left that needs no person)\n", st.Pending)
	}
	if st.Retrying > 0 {
		fmt.Fprintf(e.stdout, "failing:      %d waiting for a retry, not counted in pending (fix the cause; the next retry succeeds)\n", st.Retrying)
		for _, f := range st.Failing {
			what := fmt.Sprintf("move %d to %s", f.MoveID, f.Dst)
			if f.MoveID == 0 {
				what = "planning"
			}
			group := ""
			if f.GroupID != nil {
				group = fmt.Sprintf("group %d ", *f.GroupID)
			}
			fmt.Fprintf(e.stdout, "  %s%s: %s (attempts %d, next %s)\n", group, what, f.Error, f.Attempts,
				f.RetryAfter.Local().Format("15:04:05"))
		}
		if st.Retrying > len(st.Failing) {
			fmt.Fprintf(e.stdout, "  ... and %d more\n", st.Retrying-len(st.Failing))
		}
	}
	if n := st.Groups[screend.GroupFailed]; n > 0 {
		fmt.Fprintf(e.stdout, "failed:       %d groups whose decision could not be carried out (fix the cause, then `screend undo GROUP_ID` sends one back to review)\n", n)
		for _, g := range st.FailedGroups {
			fmt.Fprintf(e.stdout, "  group %d (%s): %s\n", g.GroupID, g.Project, g.Error)
		}
		if n > len(st.FailedGroups) {
			fmt.Fprintf(e.stdout, "  ... and %d more\n", n-len(st.FailedGroups))
		}
	}
	if st.Unseen > 0 {
		fmt.Fprintf(e.stdout, "unseen:       %d (files this instance cannot see now: see screend.images.reason)\n", st.Unseen)
	}
	for _, r := range st.Readiness {
		fmt.Fprintf(e.stdout, "%-13s %s\n", r.Kind+":", readinessText(r))
	}
	return nil
}

// readinessText says how far a kind is from being decided alone.
func readinessText(r sql.Readiness) string {
	recent := fmt.Sprintf("%d of the last %d reviewed groups would be decided alone (%d wrong)", r.Alone, r.Recent, r.Wrong)
	switch {
	case r.Automated:
		return "decided alone; " + recent
	case r.MoreReviews < 0:
		return "not decided alone: its error is above the target; more reviews alone will not do"
	default:
		more := max(0, r.MoreReviews-r.ReviewsSince)
		return fmt.Sprintf("not decided alone yet: about %d more reviews (%d since the model was trained), then retrain", more, r.ReviewsSince)
	}
}

// counts prints counts by state, sorted by state.
func counts[K ~string](m map[K]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
