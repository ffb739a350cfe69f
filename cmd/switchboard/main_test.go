package main

import (
	"os"
	"testing"
)

// asMainEnv makes the test binary run as the switchboard binary itself
// (main with its arguments), so that tests can start `switchboard serve`
// as a real child process — and kill it with SIGKILL — without a build
// step.
const asMainEnv = "SWITCHBOARD_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}
