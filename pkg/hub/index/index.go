// Package index defines the cache field indexes that several hub controllers
// list by, so each is defined once and registered once per manager (hub.Run
// registers those the selected controllers need).
package index

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// SubscriptionChannel indexes Subscriptions by the Channel they use,
// "namespace/name" (Subscription.ChannelKey).
const SubscriptionChannel = "spec.channel"

// indexes are the definitions by name.
var indexes = map[string]struct {
	obj     client.Object
	extract client.IndexerFunc
}{
	SubscriptionChannel: {&appsv1.Subscription{}, func(o client.Object) []string {
		key, err := o.(*appsv1.Subscription).ChannelKey()
		if err != nil {
			return nil
		}
		return []string{key.String()}
	}},
}

// Add registers the named indexes, each once however often it is named.
func Add(ctx context.Context, idx client.FieldIndexer, names ...string) error {
	done := map[string]bool{}
	for _, name := range names {
		def, ok := indexes[name]
		if !ok {
			return fmt.Errorf("no index %q", name)
		}
		if done[name] {
			continue
		}
		done[name] = true
		if err := idx.IndexField(ctx, def.obj, name, def.extract); err != nil {
			return fmt.Errorf("index %T by %s: %w", def.obj, name, err)
		}
	}
	return nil
}
