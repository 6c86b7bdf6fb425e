// Command etcd is the upstream etcd server, built from the module proxy so tests
// and the lab need no downloaded release binaries.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
