// Command standalone is kubelab's kubectl alone, for tests that need a
// kubectl without building the whole kubelab binary (kubectltest builds it).
package main

import (
	"os"

	"github.com/kubelab/kubelab/internal/kubectl"
)

func main() { os.Exit(kubectl.Main(os.Args[1:])) }
