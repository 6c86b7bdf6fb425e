// Package v1 holds the apps.open-cluster-management.io/v1 Channel and Subscription
// types. Their spec fields match OCM's application-lifecycle API so existing YAML
// works unchanged; everything ocm-gitops adds is optional, and the status is ours.
//
// +kubebuilder:object:generate=true
// +groupName=apps.open-cluster-management.io
package v1
