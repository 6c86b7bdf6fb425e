package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	appsv1 "github.com/ocm-gitops/ocm-gitops/pkg/apis/apps/v1"
)

// newSuspendCommand and newResumeCommand set and remove the pause label,
// OCM's subscription-pause: a paused Subscription sends nothing new and
// removes nothing.
func newSuspendCommand() *cobra.Command {
	return newPauseCommand("suspend", true, "Stop a Subscription from sending anything new or removing anything (the subscription-pause label)")
}

func newResumeCommand() *cobra.Command {
	return newPauseCommand("resume", false, "Let a suspended Subscription deploy again (removes the subscription-pause label)")
}

func newPauseCommand(verb string, pause bool, short string) *cobra.Command {
	f := &fleetCommand{}
	sub := &cobra.Command{
		Use:     "subscription NAME",
		Aliases: []string{"sub", "subs", "appsub"},
		Short:   short,
		Example: fmt.Sprintf("  ocm-gitops %s subscription hello -n fleet", verb),
		Args:    exactArgs(1, "NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := f.key(cmd, args[0])
			c, err := f.client(cmd)
			if err != nil {
				return err
			}
			sub, err := getSubscription(cmd.Context(), c, key)
			if err != nil {
				return err
			}
			value := "null"
			if pause {
				value = `"true"`
			}
			patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:%s}}}`, appsv1.LabelSubscriptionPause, value)
			if err := c.Patch(cmd.Context(), sub, client.RawPatch(types.MergePatchType, patch)); err != nil {
				return fmt.Errorf("%s Subscription %s: %w", verb, key, err)
			}
			if pause {
				fmt.Fprintf(cmd.OutOrStdout(), "Subscription %s suspended: nothing new is sent and nothing is removed until 'ocm-gitops resume subscription %s -n %s'\n", key, key.Name, key.Namespace)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Subscription %s resumed: the hub deploys its newest revision again\n", key)
			}
			return nil
		},
	}
	f.register(sub.Flags())
	return newParentCommand(verb, short, sub)
}
