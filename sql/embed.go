// Package schema embeds the numbered MySQL/MariaDB migrations of this folder
// into the binary. Migrations are append-only: never edit one that shipped.
package schema

import "embed"

// Files holds every NNNN_name.sql migration, in goose's format.
//
//go:embed *.sql
var Files embed.FS
