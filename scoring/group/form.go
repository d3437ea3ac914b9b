package group

import (
	"slices"
	"strings"

	"screend"
)

// Window is how many files a run looks ahead at most.
const Window = 50

// Group is one group of the nearest-up rule.
type Group struct {
	// Paths are the group's files in run order, stages strictly increasing.
	Paths []string
	// Ended is true when no file arriving later can change the group.
	Ended bool
}

// file is a path with its parsed name.
type file struct {
	path string
	name Name
}

// compareFiles orders files by the rule's key, then by path.
func compareFiles(a, b file) int {
	if c := a.name.Compare(b.name); c != 0 {
		return c
	}
	return strings.Compare(a.path, b.path)
}

// sorted returns the paths parsed and in the rule's order.
func sorted(paths []string) []file {
	files := make([]file, len(paths))
	for i, p := range paths {
		files[i] = file{path: p, name: Parse(p)}
	}
	slices.SortFunc(files, compareFiles)
	return files
}

// Sort sorts paths in place by the rule's key (sort timestamp, stage, base
// name), then by the whole path.
func Sort(paths []string) {
	for i, f := range sorted(paths) {
		paths[i] = f.path
	}
}

// Form groups the image paths of one project (relative to the project
// folder) by the nearest-up rule. It returns the groups in the order they are
// formed and the paths that are in no group, in sort order. It does not
// filter: pass image paths only (see IsImage). Duplicate paths count once;
// paths is not modified.
func Form(paths []string) (groups []Group, singles []string) {
	files := slices.CompactFunc(sorted(paths), func(a, b file) bool { return a.path == b.path })

	// New files can be inserted at index open or later: after every file
	// with a timestamp.
	open := len(files)
	for i, f := range files {
		if f.name.Timestamp == "" {
			open = i
			break
		}
	}

	grouped := make([]bool, len(files))
	settled := true // every look-ahead so far is settled
	for start := 0; start < len(files); {
		run := []int{start}
		for {
			lastStage := files[run[len(run)-1]].name.Stage
			pick, seen := lookAhead(files, run[len(run)-1]+1, lastStage)
			settled = settled && (seen < open ||
				pick >= 0 && pick < open && files[pick].name.Stage == nextStage(lastStage) ||
				pick < 0 && lastStage == screend.StageEnhanced)
			if pick < 0 {
				break
			}
			run = append(run, pick)
		}
		if len(run) >= 2 {
			g := Group{Paths: make([]string, len(run)), Ended: settled}
			for i, idx := range run {
				g.Paths[i] = files[idx].path
				grouped[idx] = true
			}
			groups = append(groups, g)
		}
		start = run[len(run)-1] + 1
	}

	for i, f := range files {
		if !grouped[i] {
			singles = append(singles, f.path)
		}
	}
	return groups, singles
}

// lookAhead looks at the files from index from on for a run whose last stage
// is lastStage. It returns the index of the file to append (-1 for none) and
// the index of the last file it looked at, or len(files) when it ran off the
// end of the list with room left in the window (a file appended to the list
// would have been looked at too).
func lookAhead(files []file, from int, lastStage float64) (pick, seen int) {
	pick = -1
	end := min(from+Window, len(files))
	for i := from; i < end; i++ {
		s := files[i].name.Stage
		if s <= lastStage {
			return pick, i
		}
		if pick < 0 || s < files[pick].name.Stage {
			pick = i
		}
	}
	if end-from < Window {
		return pick, len(files)
	}
	return pick, end - 1
}

// nextStage returns the smallest stage greater than s.
func nextStage(s float64) float64 {
	for _, t := range screend.Stages {
		if t > s {
			return t
		}
	}
	return s
}
