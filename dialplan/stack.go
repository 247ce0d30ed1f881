package dialplan

// growStack grows the calling goroutine's stack to 32 KiB in one step.
// A goroutine starts with a small stack that the runtime doubles, by
// copying it, whenever a call needs more; a screened call goes deep
// enough (the engine, libphonenumber, JSON, HTTP) to grow it three or four
// times, each copy deeper than the last. Profiles of serve showed those
// copies (runtime.copystack) as a few percent of its CPU. Growing once at
// the top of the call's goroutine, where the stack is shallow, is cheap.
//
//go:noinline
func growStack() {
	var buf [16 << 10]byte
	sink(buf[:])
}

//go:noinline
func sink([]byte) {}
