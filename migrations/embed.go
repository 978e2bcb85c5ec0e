// Package migrations holds the SQL migrations of every component, embedded in
// the binary so that a deployment is one file.
package migrations

import "embed"

// FS holds one directory per component (auth, notify); files apply in name order.
//
//go:embed auth/*.sql notify/*.sql
var FS embed.FS

// SQLite holds the migrations of the embedded SQLite backend, under
// sqlite/<component>/ (see sqlite/README.md).
//
//go:embed sqlite
var SQLite embed.FS
