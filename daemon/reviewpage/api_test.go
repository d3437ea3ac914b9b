package reviewpage

import (
	"encoding/json"
	"strings"
	"testing"

	"screend"
	"screend/sql"
)

// TestPageGroupShowsNoPath: the page gets the queue's row with each image's
// name and folder, never the path on the server.
func TestPageGroupShowsNoPath(t *testing.T) {
	t.Parallel()
	img := json.RawMessage(`{"image_id": 7, "path": "/srv/secret/inbox/p/a_stage2.png", "stage": 2, "width": 64, "height": 48}`)
	out, err := json.Marshal(toPageGroup(sql.ReviewItem{GroupID: 3, Project: "p", Reasons: []screend.Reason{screend.ReasonLowMargin},
		Images: []json.RawMessage{img}}))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		GroupID int64    `json:"group_id"`
		Reasons []string `json:"reasons"`
		Images  []struct {
			ImageID int64  `json:"image_id"`
			Name    string `json:"name"`
			Folder  string `json:"folder"`
			Width   int    `json:"width"`
		} `json:"images"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "/srv/secret") || got.GroupID != 3 || len(got.Reasons) != 1 || len(got.Images) != 1 ||
		got.Images[0].ImageID != 7 || got.Images[0].Name != "a_stage2.png" || got.Images[0].Folder != "p" || got.Images[0].Width != 64 {
		t.Errorf("page group %s", out)
	}
}
