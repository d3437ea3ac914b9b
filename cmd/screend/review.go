package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"screend"

	"screend/sql"
)

// review runs `screend review list|resolve`.
func review(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageError{"review needs a subcommand: list or resolve"}
	}
	switch args[0] {
	case "list":
		return reviewList(ctx, e, args[1:])
	case "resolve":
		return reviewResolve(ctx, e, args[1:])
	}
	return usageError{fmt.Sprintf("unknown review subcommand %q (want list or resolve)", args[0])}
}

func reviewList(ctx context.Context, e env, args []string) error {
	var asJSON bool
	var limit int
	_, err := flags("review list", e, args, func(fs *flagSet) {
		fs.BoolVar(&asJSON, "json", false, "print JSON")
		fs.IntVar(&limit, "limit", 50, "show at most this many groups")
	})
	if err != nil {
		return err
	}
	db, err := openMigrated(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	items, err := db.ReviewQueue(ctx, limit)
	if err != nil {
		return err
	}
	if asJSON {
		if items == nil {
			items = []sql.ReviewItem{}
		}
		return writeJSON(e.stdout, items)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tPROJECT\tFLAGGED\tREASONS\tSUGGESTED\tCONFIDENCE\tIMAGES")
	for _, it := range items {
		suggested, confidence := "-", "-"
		if it.SuggestedOutcome != nil {
			suggested = string(*it.SuggestedOutcome)
			if it.SuggestedImageID != nil {
				suggested += " " + strconv.FormatInt(*it.SuggestedImageID, 10)
			}
		}
		if it.Confidence != nil {
			confidence = fmt.Sprintf("%.2f", *it.Confidence)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\n", it.GroupID, it.Project, it.FlaggedAt.Format("2006-01-02 15:04"),
			joinReasons(it.Reasons), suggested, confidence, len(it.Images))
	}
	return tw.Flush()
}

func reviewResolve(ctx context.Context, e env, args []string) error {
	var choose int64
	var crop, reviewer string
	var reject, manual, freeAspect bool
	rest, err := flags("review resolve", e, args, func(fs *flagSet) {
		fs.Int64Var(&choose, "choose", 0, "the image to keep")
		fs.StringVar(&crop, "crop", "", "crop box x1,y1,x2,y2 normalised to [0,1], with the image's aspect ratio")
		fs.BoolVar(&freeAspect, "free-aspect", false, "allow a crop box of another aspect ratio than the image's")
		fs.BoolVar(&manual, "manual-crop", false, "keep the image for cropping by hand (goes to __crop/)")
		fs.BoolVar(&reject, "reject", false, "reject the whole group (screend.reject_group)")
		fs.StringVar(&reviewer, "reviewer", "", "who decides (default: the database login name; only the daemon's role may name someone else)")
	})
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"resolve takes one GROUP_ID"}
	}
	groupID, err := strconv.ParseInt(rest[0], 10, 64)
	if err != nil {
		return usageError{fmt.Sprintf("bad GROUP_ID %q", rest[0])}
	}
	if reject == (choose != 0) {
		return usageError{"give either --choose IMAGE_ID or --reject"}
	}
	if reject && (crop != "" || manual || freeAspect) {
		return usageError{"--reject takes no --crop, --manual-crop or --free-aspect"}
	}
	r := sql.Resolution{GroupID: groupID, ChosenImageID: choose, ManualCrop: manual, FreeAspect: freeAspect, Reviewer: reviewer}
	if crop != "" {
		box, err := screend.ParseBox(crop)
		if err != nil {
			return usageError{err.Error()}
		}
		r.Crop = box.Float32s()
	}
	db, err := openMigrated(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	var id int64
	if reject {
		id, err = db.Reject(ctx, groupID, reviewer)
	} else {
		id, err = db.Resolve(ctx, r)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "group %d resolved (decision %d); the daemon moves its files within seconds\n", groupID, id)
	return nil
}

// joinReasons writes flag reasons comma-separated.
func joinReasons(rs []screend.Reason) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = string(r)
	}
	return strings.Join(parts, ",")
}
