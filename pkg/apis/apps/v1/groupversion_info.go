package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of Channel and Subscription.
var GroupVersion = schema.GroupVersion{Group: "apps.open-cluster-management.io", Version: "v1"}

// AddToScheme registers Channel and Subscription with a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Channel{}, &ChannelList{},
		&Subscription{}, &SubscriptionList{},
		&PlacementRule{}, &PlacementRuleList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
