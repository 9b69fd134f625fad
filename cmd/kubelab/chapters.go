package main

import (
	"sync/atomic"

	"github.com/kubelab/kubelab/labs"
	"github.com/kubelab/kubelab/server"
)

// serverChapters finds the chapter of a session's setup: the catalog's, or,
// once the server exists, an exam attempt's draw. The sandbox manager is
// made before the server (the server subscribes to it) and runs no setup
// before it is started, after the server.
type serverChapters struct {
	cat *labs.Catalog
	srv atomic.Pointer[server.Server]
}

func (c *serverChapters) Chapter(id string) (*labs.Chapter, error) {
	if s := c.srv.Load(); s != nil {
		return s.Chapter(id)
	}
	return c.cat.Chapter(id)
}
