"""The run loop, scheduler, gates, recovery. Never imports Qt; reaches the browser via ports."""
