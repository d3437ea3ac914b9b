package training

import (
	"sort"
)

// Split assigns examples to the cross-fitted and the test set.
type Split struct {
	// Train and Test index into the examples given to SplitExamples.
	Train, Test []int
}

// SplitExamples holds out whole groups, the newest of each project: per
// project, the groups are ordered by time (newest last) and the newest
// fraction heldOut (rounded, at least one when the project has three groups
// or more and heldOut > 0) is the test set, never fitted or calibrated on.
// The newest, because the promotion gate compares the candidate with the
// active model on them, and the active model was trained before they
// arrived. Examples with the same project and group key always land in the
// same set, so a group is never split.
func SplitExamples(examples []Example, heldOut float64) Split {
	type group struct {
		project, key string
		newest       int // index of the newest example
		members      []int
	}
	groups := map[[2]string]*group{}
	var order []*group
	for i, e := range examples {
		k := [2]string{e.Project, e.GroupKey}
		g, ok := groups[k]
		if !ok {
			g = &group{project: e.Project, key: e.GroupKey, newest: i}
			groups[k] = g
			order = append(order, g)
		}
		g.members = append(g.members, i)
		if examples[i].Time.After(examples[g.newest].Time) {
			g.newest = i
		}
	}
	byProject := map[string][]*group{}
	var projects []string
	for _, g := range order {
		if _, ok := byProject[g.project]; !ok {
			projects = append(projects, g.project)
		}
		byProject[g.project] = append(byProject[g.project], g)
	}
	sort.Strings(projects)
	var s Split
	for _, p := range projects {
		gs := byProject[p]
		sort.SliceStable(gs, func(a, b int) bool {
			ta, tb := examples[gs[a].newest].Time, examples[gs[b].newest].Time
			if !ta.Equal(tb) {
				return ta.Before(tb)
			}
			return gs[a].key < gs[b].key
		})
		nHeld := int(float64(len(gs))*heldOut + 0.5)
		if nHeld == 0 && heldOut > 0 && len(gs) >= 3 {
			nHeld = 1
		}
		if nHeld >= len(gs) {
			nHeld = len(gs) - 1
		}
		cut := len(gs) - nHeld
		for j, g := range gs {
			if j < cut {
				s.Train = append(s.Train, g.members...)
			} else {
				s.Test = append(s.Test, g.members...)
			}
		}
	}
	return s
}
