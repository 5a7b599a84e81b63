"""The demo's steps: the pipeline on the local stack, its reports, what it leaves serving."""
