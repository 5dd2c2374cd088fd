package main

import (
	"fmt"

	"github.com/ood-agent/ood-agent/model/kernels"
)

// kernelsLine describes the kernel level the interpreter picks here and
// the ones the machine can run, for `ood-agent version`. A bad
// OOD_AGENT_KERNELS is described, not fatal: version prints whatever the
// environment.
func kernelsLine() string {
	level, err := kernels.ResolveLevel(kernels.LevelAuto)
	if err != nil {
		return fmt.Sprintf("kernels: %v", err)
	}
	return fmt.Sprintf("kernels: %s (available: %v)", level, kernels.Levels())
}
