//go:build !unix

package main

// squatEnv names the squatter of local_e2e_test.go, which runs on Unix
// only (another uid, SIGSTOP).
const squatEnv = "BROKER_TEST_SQUAT"

func squatMain() int { return 2 }
