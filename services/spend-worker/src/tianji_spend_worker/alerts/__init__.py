"""Budget alerts: which crossings to report, and the sinks that report them."""
