package sql

import (
	"context"
	"fmt"
	"os"

	"screend"

	"github.com/jackc/pgx/v5"
)

// Instance is a registered, running daemon. Its claims on images and groups
// stay valid only while its connection holds the instance lock: when the
// process dies, PostgreSQL drops the connection and the lock, and other
// instances take the work over at once.
type Instance struct {
	ID   int32
	conn *pgx.Conn
}

// RegisterInstance records a new instance and takes its lock on a
// connection of its own, held until Close.
func RegisterInstance(ctx context.Context, url string) (*Instance, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("register instance: %w", err)
	}
	host, _ := os.Hostname()
	var id int32
	err = conn.QueryRow(ctx, `
		INSERT INTO screend.instances (hostname, pid) VALUES ($1, $2)
		RETURNING instance_id`, host, os.Getpid()).Scan(&id)
	if err == nil {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, int32(screend.LockInstance), id)
	}
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("register instance: %w", err)
	}
	return &Instance{ID: id, conn: conn}, nil
}

// Alive checks that the instance's connection, and so its lock, is still
// there.
func (in *Instance) Alive(ctx context.Context) error {
	if err := in.conn.Ping(ctx); err != nil {
		return fmt.Errorf("instance %d lost its database connection: %w", in.ID, err)
	}
	return nil
}

// Close releases the lock and the connection; the instance's claims become
// free for others.
func (in *Instance) Close(ctx context.Context) error {
	return in.conn.Close(ctx)
}

// SetFilesWaiting records how many files the instance's watcher has seen
// but not yet recorded, for status.
func (db *DB) SetFilesWaiting(ctx context.Context, instance int32, n int) error {
	_, err := db.pool.Exec(ctx, `UPDATE screend.instances SET files_waiting = $2 WHERE instance_id = $1`, instance, n)
	if err != nil {
		return fmt.Errorf("record files waiting: %w", err)
	}
	return nil
}
