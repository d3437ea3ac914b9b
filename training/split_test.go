package training

import (
	"testing"
	"time"
)

func TestSplitNeverSplitsAGroup(t *testing.T) {
	t.Parallel()
	examples := synthetic(5, 300, 4, "a", "b", "c")
	// duplicate decisions of some groups, with other times
	for i := 0; i < 300; i += 7 {
		d := examples[i]
		d.Time = d.Time.Add(-time.Hour)
		examples = append(examples, d)
	}
	s := SplitExamples(examples, 0.2)
	where := map[[2]string]string{}
	total := 0
	for name, idx := range map[string][]int{"train": s.Train, "test": s.Test} {
		for _, i := range idx {
			total++
			k := [2]string{examples[i].Project, examples[i].GroupKey}
			if w, ok := where[k]; ok && w != name {
				t.Fatalf("group %v in %s and %s", k, w, name)
			}
			where[k] = name
		}
	}
	if total != len(examples) {
		t.Fatalf("%d examples assigned, want %d", total, len(examples))
	}
	// per project, every held-out group is newer than every training group
	newest := map[[2]string]time.Time{}
	for _, e := range examples {
		k := [2]string{e.Project, e.GroupKey}
		if e.Time.After(newest[k]) {
			newest[k] = e.Time
		}
	}
	for _, p := range []string{"a", "b", "c"} {
		var newestTrain, oldestHeld time.Time
		held := 0
		for k, w := range where {
			if k[0] != p {
				continue
			}
			tm := newest[k]
			if w == "train" {
				if tm.After(newestTrain) {
					newestTrain = tm
				}
				continue
			}
			held++
			if oldestHeld.IsZero() || tm.Before(oldestHeld) {
				oldestHeld = tm
			}
		}
		if held != 20 {
			t.Errorf("project %s: %d held-out groups, want 20 (20%% of 100)", p, held)
		}
		if !oldestHeld.After(newestTrain) {
			t.Errorf("project %s: held-out group at %v not newer than training group at %v", p, oldestHeld, newestTrain)
		}
	}
}

func TestSplitSmallProjects(t *testing.T) {
	t.Parallel()
	for n, wantHeld := range map[int]int{1: 0, 2: 0, 3: 1, 10: 2} {
		s := SplitExamples(synthetic(1, n, 4), 0.2)
		if got := len(s.Test); got != wantHeld {
			t.Errorf("%d groups: %d held out, want %d", n, got, wantHeld)
		}
		if len(s.Train) == 0 {
			t.Errorf("%d groups: no training group", n)
		}
	}
}
