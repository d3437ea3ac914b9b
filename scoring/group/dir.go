package group

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"screend"
)

// DirGroup is a group FormDir found: its project and its images, relative
// to the folder.
type DirGroup struct {
	Project string   `json:"project"`
	Images  []string `json:"images"`
}

// FormDir groups the images under dir as the daemon would if dir were a
// watched root: each first-level folder is a project, files and folders
// screend ignores (screend.Ignored) are skipped, and groups (of two or more)
// come in the order of the nearest-up rule with paths relative to dir. It
// reads only folder listings; `screend plan` prints it.
func FormDir(dir string) ([]DirGroup, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !screend.Ignored(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	groups := []DirGroup{}
	for _, project := range names {
		paths, err := projectImages(filepath.Join(dir, project))
		if err != nil {
			return nil, err
		}
		formed, _ := Form(paths)
		for _, g := range formed {
			images := make([]string, len(g.Paths))
			for i, p := range g.Paths {
				images[i] = filepath.ToSlash(filepath.Join(project, p))
			}
			groups = append(groups, DirGroup{Project: project, Images: images})
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
		if path != root && screend.Ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && IsImage(d.Name()) {
			rel, _ := filepath.Rel(root, path)
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("group %s: %w", root, err)
	}
	return paths, nil
}
