package v1

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// ChannelKey is the Channel spec.channel names: "namespace/name", or a bare
// name in the Subscription's namespace.
func (s *Subscription) ChannelKey() (types.NamespacedName, error) {
	ns, name, found := strings.Cut(s.Spec.Channel, "/")
	if !found {
		ns, name = s.Namespace, s.Spec.Channel
	}
	if ns == "" || name == "" || strings.Contains(name, "/") {
		return types.NamespacedName{}, fmt.Errorf("spec.channel %q is not \"namespace/name\" or the name of a Channel in namespace %s", s.Spec.Channel, s.Namespace)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}
