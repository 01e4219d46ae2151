package hotpath

// FirstAsk is firstAsk, for reask_linux_test.go (package hotpath_test,
// which imports broker/reask, which imports this package).
var FirstAsk = firstAsk
