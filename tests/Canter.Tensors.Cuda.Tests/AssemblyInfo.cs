// Engine settings (thread count) and the allocator's counters are process-wide, and some tests
// read or change them: run the tests one at a time. The suite takes seconds either way.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
