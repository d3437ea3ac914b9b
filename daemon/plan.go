package daemon

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"screend/scoring/group"
)

// PlannedGroup is a group `screend plan` reports.
type PlannedGroup struct {
	Project string   `json:"project"`
	Images  []string `json:"images"`
}

// Plan groups the images under dir as the daemon would if dir were a
// watched root: each first-level folder is a project, output folders (__*)
// and temporary files are skipped, and groups (of two or more) come in the
// order of the nearest-up rule with paths relative to dir. It reads only
// folder listings.
func Plan(dir string) ([]PlannedGroup, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !Ignored(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	groups := []PlannedGroup{}
	for _, project := range names {
		paths, err := projectImages(filepath.Join(dir, project))
		if err != nil {
			return nil, err
		}
		formed, _ := group.Form(paths)
		for _, g := range formed {
			images := make([]string, len(g.Paths))
			for i, p := range g.Paths {
				images[i] = filepath.ToSlash(filepath.Join(project, p))
			}
			groups = append(groups, PlannedGroup{Project: project, Images: images})
		}
	}
	return groups, nil
}

// projectImages lists a project's image files, relative to its folder.
func projectImages(root string) ([]string, error) {
	var paths []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != root && Ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && group.IsImage(d.Name()) {
			rel, _ := filepath.Rel(root, path)
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("plan %s: %w", root, err)
	}
	return paths, nil
}
