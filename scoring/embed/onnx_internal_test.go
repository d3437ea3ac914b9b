package embed

import "testing"

// TestRunSize checks how a batch is shared out over the lanes.
func TestRunSize(t *testing.T) {
	for _, c := range []struct {
		n, lanes, maxBatch, fixed int
		want                      int
	}{
		{n: 16, lanes: 1, maxBatch: 8, want: 8},          // one lane: runs of MaxBatch
		{n: 16, lanes: 2, maxBatch: 8, want: 8},          // two runs of 8 at once
		{n: 10, lanes: 2, maxBatch: 8, want: 5},          // even halves, not 8 and 2
		{n: 5, lanes: 2, maxBatch: 8, want: 3},           // 3 and 2
		{n: 1, lanes: 4, maxBatch: 8, want: 1},           // fewer images than lanes
		{n: 40, lanes: 2, maxBatch: 8, want: 8},          // never above MaxBatch
		{n: 3, lanes: 2, maxBatch: 8, fixed: 4, want: 4}, // a fixed batch size wins
		{n: 0, lanes: 2, maxBatch: 8, want: 1},
	} {
		if got := runSize(c.n, c.lanes, c.maxBatch, c.fixed); got != c.want {
			t.Errorf("runSize(%d images, %d lanes, max %d, fixed %d) = %d, want %d",
				c.n, c.lanes, c.maxBatch, c.fixed, got, c.want)
		}
	}
}
