// Media tests start many ffmpeg processes; one at a time keeps the 2-core machine responsive.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
