"""Special actions (专项行动): time-boxed campaigns that focus the network on a few categories."""
