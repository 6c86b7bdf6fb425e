package main

import (
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/controller-runtime"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "open-cluster-management.io/api/cluster/v1"
	_ "open-cluster-management.io/api/work/v1"
	_ "github.com/fluxcd/pkg/ssa"
	_ "sigs.k8s.io/kustomize/api/krusty"
	_ "helm.sh/helm/v3/pkg/action"
	_ "github.com/go-git/go-git/v5"
	_ "github.com/robfig/cron/v3"
	_ "github.com/stretchr/testify/require"
	_ "github.com/minio/minio-go/v7"
)
func main(){}
