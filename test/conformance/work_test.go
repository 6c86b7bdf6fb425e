package conformance_test

import "testing"

// TestWithOCMsWorkAgent runs a hub and two managed clusters, one with OCM's
// work agent and one with ours, and checks on them that both agents apply
// the example fleet's works as our hub writes them and report them alike,
// what the hub reports of drift with each, that both treat OCM-written works
// alike, and that OCM's example Subscriptions deploy.
func TestWithOCMsWorkAgent(t *testing.T) {
	f := newFleet(t)
	t.Run("both agents run the example fleet", f.testExampleFleet)
	t.Run("drift under ReportOnly on both agents", f.testDrift)
	t.Run("both agents apply OCM-written works alike", f.testAgentsAlike)
	t.Run("OCM's example Subscriptions deploy", f.testOCMExamples)
}
