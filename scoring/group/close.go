package group

import "time"

// BurstQuiet is how long a project must be quiet before a group that a
// later file ended is closed: files of a live pipeline come seconds to
// minutes apart, files copied in come in a burst.
const BurstQuiet = 5 * time.Second

// Member is an image of a project that is not yet in a closed group.
type Member struct {
	ID int64
	// RelPath is the image's path relative to its project folder.
	RelPath string
	// Processed is true once the image is embedded (or found a duplicate):
	// a group closes only when all its images are.
	Processed bool
}

// Formed is a group of the nearest-up rule: image ids in run order, and
// whether its membership is final.
type Formed struct {
	ImageIDs []int64
	Closed   bool
}

// Regroup applies the nearest-up rule to the members of a project, in
// discovery order, and tells which groups are closed and whether the
// members arrived in order. quiet is how long the project has had no new
// file; settle is SCREEND_SETTLE.
//
// A group closes once all its images are processed and either the project
// has settled (quiet for settle) or the group Ended and Ended can be
// trusted. Ended assumes later files sort after the ones present, as they
// do when a pipeline writes stage after stage, seconds to minutes apart; it
// is trusted only once the project has been quiet for BurstQuiet (a folder
// being copied in is not) and only while its files were discovered in sort
// order. When the project settles, every processed image in no group
// becomes a closed group of one. Of two members at one path, the second
// waits for the first to be grouped.
func Regroup(members []Member, quiet, settle time.Duration) (formed []Formed, inOrder bool) {
	settled := quiet >= settle
	inOrder = arrivedInOrder(members)
	trustEnded := MayClose(quiet, settle, inOrder)
	byPath := make(map[string]Member, len(members))
	paths := make([]string, 0, len(members))
	for _, m := range members {
		if _, dup := byPath[m.RelPath]; dup {
			continue
		}
		byPath[m.RelPath] = m
		paths = append(paths, m.RelPath)
	}
	groups, singles := Form(paths)
	for _, g := range groups {
		ids := make([]int64, len(g.Paths))
		processed := true
		for i, p := range g.Paths {
			m := byPath[p]
			ids[i] = m.ID
			processed = processed && m.Processed
		}
		formed = append(formed, Formed{ImageIDs: ids, Closed: processed && ((g.Ended && trustEnded) || settled)})
	}
	if settled {
		for _, p := range singles {
			if m := byPath[p]; m.Processed {
				formed = append(formed, Formed{ImageIDs: []int64{m.ID}, Closed: true})
			}
		}
	}
	return formed, inOrder
}

// MayClose tells whether Regroup may close any group of a project quiet
// for quiet whose members arrived in order (inOrder) or not. While it is
// false, Regroup of the same members closes nothing, whichever of them
// are processed.
func MayClose(quiet, settle time.Duration, inOrder bool) bool {
	return quiet >= settle || inOrder && quiet >= min(BurstQuiet, settle)
}

// arrivedInOrder tells whether members, in discovery order, were discovered
// in the sort order of the nearest-up rule.
func arrivedInOrder(members []Member) bool {
	for i := 1; i < len(members); i++ {
		if Parse(members[i].RelPath).Compare(Parse(members[i-1].RelPath)) < 0 {
			return false
		}
	}
	return true
}
