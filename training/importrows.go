package training

import (
	"screend/sql"
	"screend/training/importlog"
)

// ImportRows turns a parsed decision log into the rows and rejects stored by
// sql.DB.ReplaceImport. Nothing is dropped: every Decision becomes a row,
// every Reject a reject. The crop logs' timestamp is the image's generation
// time, not a decision time, so their rows get no DecidedAt (the text stays
// in TimeRaw).
func ImportRows(res importlog.Result) ([]sql.ImportedDecision, []sql.ImportReject) {
	rows := make([]sql.ImportedDecision, 0, len(res.Decisions))
	for _, d := range res.Decisions {
		r := sql.ImportedDecision{
			Line: d.Line, Format: string(d.Format), SessionID: d.SessionID, SetID: d.SetID, Project: d.Project,
			TimeRaw: d.TimeRaw, TimeHasZone: d.TimeHasZone, ChosenFile: d.Chosen,
			CropStatus: string(d.CropStatus), DuplicateOf: d.DuplicateOf,
		}
		if d.Format != importlog.FormatCropLabel && !d.Time.IsZero() {
			t := d.Time
			r.DecidedAt = &t
		}
		for _, c := range d.Candidates {
			r.Candidates = append(r.Candidates, c.Name)
			r.Stages = append(r.Stages, float32(c.Stage))
			r.Widths = append(r.Widths, int32(c.Width))
			r.Heights = append(r.Heights, int32(c.Height))
		}
		if d.Crop != nil {
			r.Crop = d.Crop.Float32s()
		}
		rows = append(rows, r)
	}
	rejects := make([]sql.ImportReject, 0, len(res.Rejects))
	for _, rj := range res.Rejects {
		rejects = append(rejects, sql.ImportReject{Line: rj.Line, Part: string(rj.Part), Reason: string(rj.Reason),
			Detail: rj.Detail, Raw: rj.Raw})
	}
	return rows, rejects
}
