package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"

	"screend"
	"screend/scoring/model"
	"screend/sql"
)

// models is `screend models list|promote|rollback`.
func models(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usageError{"models takes list, promote ID or rollback"}
	}
	sub, args := args[0], args[1:]
	var asJSON bool
	rest, err := flags("models "+sub, e, args, func(fs *flagSet) {
		if sub == "list" {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		}
	})
	if err != nil {
		return err
	}
	var id int64
	switch {
	case sub == "list" && len(rest) == 0, sub == "rollback" && len(rest) == 0:
	case sub == "promote" && len(rest) == 1:
		if id, err = strconv.ParseInt(rest[0], 10, 64); err != nil || id <= 0 {
			return usageError{fmt.Sprintf("promote: %q is not a model id", rest[0])}
		}
	default:
		return usageError{"usage: screend models list [--json] | promote ID | rollback"}
	}
	db, err := openMigrated(ctx, e.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "list":
		ms, err := db.ListModels(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			if ms == nil {
				ms = []sql.ModelInfo{}
			}
			return writeJSON(e.stdout, map[string]any{"models": ms})
		}
		if len(ms) == 0 {
			fmt.Fprintln(e.stdout, "no models: run `screend train`")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tEMBEDDER\tEXAMPLES\tCREATED\tPROMOTED\tSELECTION\tBASELINE\tOUTCOME\tCOVERAGE\tAUTO ERROR")
		for _, m := range ms {
			var mm struct {
				Summary model.Summary `json:"summary"`
			}
			_ = json.Unmarshal(m.Metrics, &mm)
			promoted := "-"
			if m.PromotedAt != nil {
				promoted = m.PromotedAt.Local().Format("2006-01-02 15:04")
			}
			s := mm.Summary
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", m.ID, m.State, m.Embedder, m.Examples,
				m.CreatedAt.Local().Format("2006-01-02 15:04"), promoted, s.SelectionAccuracy, s.BaselineAccuracy,
				s.OutcomeAccuracy, s.Coverage, s.AutoErrorRate)
		}
		return tw.Flush()
	case "promote":
		m, err := db.Model(ctx, id)
		if err != nil {
			return err
		}
		if m.State == screend.ModelActive {
			fmt.Fprintf(e.stdout, "model %d is already active\n", id)
			return nil
		}
		if err := db.PromoteModel(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "model %d promoted by hand (it was %s); the promotion gate was not applied\n", id, m.State)
		return nil
	default: // rollback
		retired, restored, err := db.RollbackModel(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "model %d retired; model %d is active again\n", retired, restored)
		return nil
	}
}
