package importlog

import (
	"path"
	"strings"

	"screend"
)

// FileName returns the base name of a logged path, the key by which paths of
// the same project are matched. Only "/" separates folders: every logged path
// is POSIX, and a backslash is a legal file-name character there.
func FileName(p string) string {
	p = strings.TrimRight(strings.TrimSpace(p), "/")
	if p == "" {
		return ""
	}
	return path.Base(p)
}

// containerDirs are folders that hold projects rather than being one:
// "training data/<project>/..." in the logs and "content/<project>" in the
// workflow's project files (1101_hailey.project.json).
var containerDirs = map[string]bool{
	"training data": true,
	"content":       true,
}

// rootMarker is the placeholder the logs write for the workflow's root.
const rootMarker = "PROJECT_ROOT"

// canonicalProject applies the alias rule: a delivery folder "<p>_final"
// belongs to project "<p>". Evidence: historical_crop_log.csv and
// mojo1_crop_log.csv have directory "mojo1" for every path under
// "training data/mojo1_final/", and the selection logs pair chosen files in
// mojo1_final with negatives in mojo1.
func canonicalProject(p string) string {
	if base, ok := strings.CutSuffix(p, "_final"); ok && base != "" {
		return base
	}
	return p
}

// validProject reports whether a folder name can be a project name.
func validProject(p string) bool {
	return p != "" && p != "." && p != ".." && p != rootMarker &&
		!containerDirs[strings.ToLower(p)] && !screend.IsWorkingFolder(p)
}

// ProjectFromPath derives the project of a logged path, or "" when the path
// does not name one. Rules, first match wins:
//
//  1. a "training data" or "content" folder anywhere in the path: the folder
//     after it;
//  2. a path starting with "PROJECT_ROOT/": the first folder under it;
//  3. a relative path with at least one folder: its first folder;
//  4. anything else (a bare file name, an absolute path without a container
//     folder) names no project.
//
// The result must not be a working folder (see screend.IsWorkingFolder); a name ending
// in "_final" is the delivery folder of the project without that suffix.
func ProjectFromPath(p string) string {
	return canonicalProject(rawProjectFromPath(p))
}

func rawProjectFromPath(p string) string {
	p = strings.TrimSpace(p)
	segs := strings.Split(p, "/")
	if len(segs) < 2 {
		return ""
	}
	dirs := segs[:len(segs)-1] // folders only; the last segment is the file
	for i, s := range dirs {
		if containerDirs[strings.ToLower(s)] && i+1 < len(dirs) {
			return checked(dirs[i+1])
		}
	}
	if dirs[0] == rootMarker {
		if len(dirs) > 1 {
			return checked(dirs[1])
		}
		return ""
	}
	if isAbsolute(p) {
		return ""
	}
	return checked(dirs[0])
}

// projectFromDir derives the project from a "directory" column, which is a
// folder relative to the root the tool ran in ("mojo1", "crop/hannah").
func projectFromDir(dir string) string {
	dir = strings.Trim(strings.TrimSpace(dir), "/")
	if dir == "" {
		return ""
	}
	return ProjectFromPath(dir + "/x")
}

func checked(s string) string {
	if !validProject(s) {
		return ""
	}
	return s
}

func isAbsolute(p string) bool {
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~") {
		return true
	}
	// Windows drive letter, C:/...
	return len(p) >= 2 && p[1] == ':'
}

// lookupFolder finds the project for folder dir in m by the longest matching
// folder prefix ("crop/hannah" matches "crop/hannah" before "crop").
func lookupFolder(m map[string]string, dir string) string {
	if len(m) == 0 {
		return ""
	}
	dir = strings.Trim(strings.TrimSpace(dir), "/")
	for dir != "" {
		if p, ok := m[dir]; ok {
			return p
		}
		i := strings.LastIndexByte(dir, '/')
		if i < 0 {
			break
		}
		dir = dir[:i]
	}
	return ""
}

// folderOf returns the folder part of a logged path.
func folderOf(p string) string {
	p = strings.TrimSpace(p)
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ""
	}
	return p[:i]
}
