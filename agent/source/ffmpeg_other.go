//go:build !linux

package source

import "os/exec"

func setProcAttr(*exec.Cmd) {}
