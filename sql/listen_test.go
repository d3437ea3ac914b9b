package sql_test

import (
	"context"
	"testing"
	"time"

	"screend"
	"screend/sql"
)

// TestListen receives the notifications of the channels it listens to,
// and only those.
func TestListen(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ln, err := sql.Listen(f.ctx, f.url, screend.ChannelResolved, screend.ChannelModel)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close(f.ctx)
	for _, ch := range []string{screend.ChannelTakeBack, screend.ChannelModel} {
		f.exec(`SELECT pg_notify($1, '1')`, ch)
	}
	ctx, cancel := context.WithTimeout(f.ctx, 10*time.Second)
	defer cancel()
	if got, err := ln.Wait(ctx); err != nil || got != screend.ChannelModel {
		t.Errorf("first notification: %q (%v), want %q (take-back is not listened to)", got, err, screend.ChannelModel)
	}
}
