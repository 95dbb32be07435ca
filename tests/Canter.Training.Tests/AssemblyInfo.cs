// Training runs use every core and the engine's settings are process-wide; the folder tests start ffmpeg.
// One test at a time keeps the 2-core machine responsive and the runs' timings honest.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
