package main

import (
	"context"
	"fmt"
	"strings"

	"screend/scoring/group"
)

// plan is `screend plan [--json] DIR`: the groups the daemon would form
// for DIR (group.FormDir); it reads folder listings only.
func plan(ctx context.Context, e env, args []string) error {
	var asJSON bool
	rest, err := flags("plan", e, args, func(fs *flagSet) { fs.BoolVar(&asJSON, "json", false, "print JSON") })
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usageError{"plan takes one folder"}
	}
	groups, err := group.FormDir(rest[0])
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(e.stdout, map[string]any{"groups": groups})
	}
	for _, g := range groups {
		fmt.Fprintf(e.stdout, "%s\t%s\n", g.Project, strings.Join(g.Images, "  "))
	}
	fmt.Fprintf(e.stdout, "%d groups\n", len(groups))
	return nil
}
