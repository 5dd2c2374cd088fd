package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// scanner is a *sql.Row or *sql.Rows, as the scan functions take them.
type scanner interface{ Scan(...any) error }

// queryOne scans the one row query returns. No row is ErrNotFound; other
// errors are wrapped with what.
func queryOne[T any](ctx context.Context, db *sql.DB, what string, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(db.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("store: %s: %w", what, err)
	}
	return v, nil
}

// queryAll scans every row query returns, in order. Errors are wrapped
// with what.
func queryAll[T any](ctx context.Context, db *sql.DB, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	if err := queryEach(ctx, db, what, scan, func(v T) { out = append(out, v) }, query, args...); err != nil {
		return nil, err
	}
	return out, nil
}

// queryEach scans the rows query returns and hands them to each in
// order, keeping none. Errors are wrapped with what. The rows are closed
// when it returns, so their connection is free for a following query.
func queryEach[T any](ctx context.Context, db *sql.DB, what string, scan func(scanner) (T, error), each func(T), query string, args ...any) error {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
		each(v)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}
