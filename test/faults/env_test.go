// Package faults_test proves that the hub and the klusterlet lose nothing and
// duplicate nothing when parts of the system fail: a hub killed mid-rollout,
// a restarted hub API server, sources that go down or serve garbage, a
// klusterlet cut off from its hub, an agent killed while deleting. Every
// test runs on real control planes (pkg/lab) with bounded waits; see
// docs/security.md for what each covers.
package faults_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
)

func TestMain(m *testing.M) {
	// controller-runtime's caches log through its global logger.
	ctrl.SetLogger(logr.Discard())
	// client-go reports refused watches (an agent before its access is
	// granted, a control plane that is down) through klog.
	klog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
