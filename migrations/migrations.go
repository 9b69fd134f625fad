// Package migrations owns kubelab's SQL schema: numbered files
// NNNNNN_name.up.sql / NNNNNN_name.down.sql, embedded into the binary and
// applied by server/store at start.
package migrations

import "embed"

// FS holds every migration file at its root.
//
//go:embed *.sql
var FS embed.FS
