// Package sql holds screend's schema and every query it runs.
//
// The schema lives in migrations/ as numbered SQL files embedded in the
// binary and applied in order by Migrate. Queries are plain SQL with explicit
// column lists, one file per table or concept, as methods on DB. The
// connection pool is not exported: the daemon, training and the commands
// reach the database only through these methods. SQL is also written by
// tests (through sqltest.Pool), by screend-bench, which observes a running
// daemon from outside, and by users against the review queue (see the
// README).
package sql

import (
	"context"
	"fmt"

	"screend"
	"screend/sql/internal/poolof"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvector "github.com/pgvector/pgvector-go/pgx"
)

// DB is the connection pool with screend's queries.
type DB struct {
	pool *pgxpool.Pool
}

func init() { poolof.Of = func(db any) *pgxpool.Pool { return db.(*DB).pool } }

// Open connects to the database at url and registers the pgvector types on
// every connection. The vector extension must exist (the setup script or
// the first migration creates it).
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		return registerVector(ctx, conn)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return &DB{pool: pool}, nil
}

// recomputable begins a transaction whose commit does not wait for the
// write-ahead log to reach the disk (synchronous_commit off for it alone).
// It is for rows the daemon can make again from what is on disk and in
// the database: vectors, groups, scores and claims. Should PostgreSQL
// itself crash, the last fraction of a second of such commits may be lost:
// the images are then embedded again, the projects regrouped, the groups
// scored again. Nothing durable can rest on a lost one: the log is written
// in order, so a later commit that waits (recording files, journaling a
// move, a human decision) makes every commit before it durable too.
// Recording files, the journal of moves and take-backs keep waiting.
// Visibility is not affected: other sessions see such a commit at once.
var recomputable = pgx.TxOptions{BeginQuery: "BEGIN; SET LOCAL synchronous_commit = off"}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	return nil
}

// TryLock takes the session advisory lock (class, key) on a connection of
// its own unless another session holds it. It reports whether it got the
// lock; unlock releases the lock and the connection.
func (db *DB) TryLock(ctx context.Context, class screend.LockClass, key int32) (unlock func(), ok bool, err error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lock %d/%d: %w", class, key, err)
	}
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, int32(class), key).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("lock %d/%d: %w", class, key, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() {
		conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, int32(class), key)
		conn.Release()
	}, true, nil
}

// VectorExtension tells whether the pgvector extension is available on the
// server and whether it is created in this database.
func (db *DB) VectorExtension(ctx context.Context) (available, installed bool, err error) {
	err = db.pool.QueryRow(ctx, `
		SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector'),
		       EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector')`).Scan(&available, &installed)
	if err != nil {
		return false, false, fmt.Errorf("look up the vector extension: %w", err)
	}
	return available, installed, nil
}

// registerVector registers pgvector's types when the extension exists; a
// database that is not migrated yet has none, and Migrate creates it.
func registerVector(ctx context.Context, conn *pgx.Conn) error {
	var exists bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'vector')`).Scan(&exists)
	if err != nil {
		return fmt.Errorf("look up vector type: %w", err)
	}
	if !exists {
		return nil
	}
	if err := pgxvector.RegisterTypes(ctx, conn); err != nil {
		return fmt.Errorf("register vector types: %w", err)
	}
	return nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }
