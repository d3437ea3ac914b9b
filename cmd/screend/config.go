package main

import (
	"context"
	"fmt"
)

// printConfig is `screend config`: the effective configuration, secrets
// hidden.
func printConfig(ctx context.Context, e env, args []string) error {
	if _, err := flags("config", e, args, func(*flagSet) {}); err != nil {
		return err
	}
	for _, kv := range e.cfg.Settings() {
		fmt.Fprintf(e.stdout, "%s=%s\n", kv[0], kv[1])
	}
	return nil
}
